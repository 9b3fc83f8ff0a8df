"""Jittered exponential backoff, shared by the watch reconnects, the POST sink and the kubelet poller."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays base·2ⁿ capped at `cap`, with "equal jitter": half fixed, half random.

    The jitter spreads reconnects of many collectors after an API server restart (no thundering
    herd); the fixed half keeps a lower bound, so a flapping server is not hammered.
    """

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: Callable[[], float] = random.random) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={base} cap={cap}")
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng

    def next(self) -> float:
        """The next delay in seconds (and count the attempt)."""
        ceiling = min(self.cap, self.base * 2 ** min(self.attempt, 62))
        self.attempt += 1
        return ceiling / 2 + self._rng() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0
