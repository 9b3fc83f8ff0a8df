"""Child process of bench/fuzz_yaml.py: load each case of the JSON list on stdin, print one JSON line per case.

Kept apart from the fuzzer so a child starts without importing hypothesis (seconds on a busy machine).
Each case is loaded by `load_documents` in a worker thread with a `CHILD_STACK` stack (smaller than any
server thread's, so a recursion in C would overflow here first) under a `CHILD_MEMORY` address-space
limit. A line says `loaded` (with the number of documents), `refused` (an InputError: its message) or
`bug` (anything else: the traceback). Where we load, libyaml's own `CSafeLoader` must give the same
`repr`; where we refuse for a reason that is not one of our own limits (`DELIBERATE`) and the text is
shallow enough for `CSafeLoader` to survive, it must refuse too: else the line carries a `mismatch`.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from app.core.errors import InputError
from app.workloads.yamlload import load_documents

CHILD_STACK = 512 * 1024
CHILD_MEMORY = 2 << 30
DELIBERATE = ("nested deeper than", "YAML aliases", "expands to more than", "contains it", "number longer than",
              "duplicate key")
"""Refusals that are ours alone (limits, cycles, a key written twice, which Kubernetes refuses and CSafeLoader
keeps the last of): CSafeLoader would load these, or die trying."""


def shallow(text: str) -> bool:
    """Whether libyaml's own composer can take `text` without overflowing the stack (events only)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
            if depth > 1000:
                return False
    except Exception:  # a parse error: CSafeLoader stops there too
        pass
    return True


def one(text: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        docs = list(load_documents(text, "case"))
    except InputError as exc:
        out: dict[str, Any] = {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:300],
                               "s": time.perf_counter() - started}
        if not any(limit in str(exc) for limit in DELIBERATE) and shallow(text):
            try:
                list(yaml.load_all(text, Loader=yaml.CSafeLoader))
                out["mismatch"] = f"refused ({str(exc)[:200]}) but CSafeLoader loads it"
            except Exception:  # refused by both: as it should be
                pass
        return out
    except BaseException as exc:  # anything else is what the fuzzer looks for
        return {"outcome": "bug", "error": type(exc).__name__, "message": traceback.format_exc()[-2000:]}
    out = {"outcome": "loaded", "docs": len(docs), "s": time.perf_counter() - started}
    try:
        reference = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    except Exception as exc:  # PyYAML's own failures are only compared
        out["mismatch"] = f"CSafeLoader raised {type(exc).__name__}: {str(exc)[:200]}"
    else:
        if repr(reference) != repr(docs):
            out["mismatch"] = "CSafeLoader gives another result"
    return out


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    texts = json.loads(sys.stdin.read())

    def work() -> None:
        for text in texts:
            print(json.dumps(one(text)), flush=True)

    threading.stack_size(CHILD_STACK)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


if __name__ == "__main__":
    main()
