"""Minimal progress reporting to stderr for long steps (no dependency; quiet when not wanted)."""

from __future__ import annotations

import sys
import time


class Progress:
    """`Progress("training", total)`, then `.update(n)`; prints at most ~4 lines a second."""

    def __init__(self, label: str, total: int | None = None, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = enabled
        self._start = time.monotonic()
        self._last = 0.0

    def update(self, n: int = 1, *, force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.25 and self.done != self.total):
            return
        self._last = now
        elapsed = now - self._start
        if self.total:
            pct = 100.0 * self.done / self.total
            msg = f"{self.label}: {self.done}/{self.total} ({pct:.0f}%) {elapsed:.1f}s"
        else:
            msg = f"{self.label}: {self.done} {elapsed:.1f}s"
        end = "\n" if self.done == self.total or not sys.stderr.isatty() else "\r"
        print(msg, end=end, file=sys.stderr, flush=True)

    def set(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        self.update(done - self.done)
