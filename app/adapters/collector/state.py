"""The last emitted template hash per workload, persisted so a restart does not re-emit.

A small JSON file written atomically (temp file + rename), so a kill at any moment leaves either
the old or the new state, never a torn one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from app.core.errors import InputError

STATE_VERSION = 1


class TemplateState:
    """`Kind/namespace/name` → spec hash of the last emitted request."""

    def __init__(self, path: Path | None = None, hashes: dict[str, str] | None = None, *, loaded: bool = False) -> None:
        self.path = path
        self.hashes: dict[str, str] = dict(hashes or {})
        self.loaded = loaded  # True when resuming from a state file that existed
        self.dirty = False

    @classmethod
    def load(cls, path: str | Path | None) -> TemplateState:
        """Read `path` if it exists; a missing file is a fresh start, a corrupt one an error (not a silent reset)."""
        if path is None:
            return cls()
        p = Path(path)
        if not p.exists():
            return cls(p)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"unreadable state file ({exc}); delete it to start fresh", source=str(p)) from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION or not isinstance(
            data.get("workloads"), dict
        ):
            raise InputError(f"not a collector state file (version {STATE_VERSION}); delete it to start fresh",
                             source=str(p))
        return cls(p, {str(k): str(v) for k, v in data["workloads"].items()}, loaded=True)

    def get(self, key: str) -> str | None:
        return self.hashes.get(key)

    def record(self, key: str, spec_hash: str) -> None:
        if self.hashes.get(key) != spec_hash:
            self.hashes[key] = spec_hash
            self.dirty = True

    def forget(self, key: str) -> bool:
        if self.hashes.pop(key, None) is None:
            return False
        self.dirty = True
        return True

    def keys(self, where: Callable[[str], bool] = lambda _k: True) -> Iterator[str]:
        return (k for k in list(self.hashes) if where(k))

    def save(self) -> None:
        """Write atomically if anything changed since the last save (no-op without a path)."""
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        body = json.dumps({"version": STATE_VERSION, "workloads": dict(sorted(self.hashes.items()))}, indent=0)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)
        self.dirty = False
