"""Fuzz YAML loading: no input may crash, hang or raise anything but the project's InputError.

    python bench/fuzz_yaml.py --cases 100000            # the documented run (see README figures)
    python bench/fuzz_yaml.py --cases 2000 --seed 3 --jobs 2

Rule checked (app/workloads/yamlload.py): `load_documents` on any text returns documents or raises
`InputError`/`TooLargeError`; it never kills the process (a C-stack overflow is a SIGSEGV that no
`try` catches), never hangs, never raises anything else (that would be an HTTP 500).

How: hypothesis strategies (`cases()`) generate texts, which are sent in batches to child processes
(bench/fuzz_yaml_child.py: each case in a worker thread with a 512 KiB stack, smaller than any server
thread's, so a recursion in C would show there first, under a 2 GiB address-space limit; one JSON line
per case). A child that dies (signal), overruns its time, or reports a non-InputError is re-run case by
case to isolate the input, which is saved under `--save` for replay (`python bench/fuzz_yaml.py
--replay FILE`). Results are compared with libyaml's own `CSafeLoader` wherever it can run without
crashing: a different result, or a refusal of ours it does not share (other than our limits), counts
as a mismatch.

The strategies nest every YAML construct (block and flow sequences and mappings, `? ` complex keys,
anchors and aliases, tags, merge keys, and cyclic mixes of them) 10 to 50,000 levels deep, and add
random bytes, random YAML-ish text, alias bombs and random mutations of the real manifests in example/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent
CHILD = REPO / "bench" / "fuzz_yaml_child.py"
MAX_TEXT = 1 << 20
"""Longest case: the API's MAX_BODY_BYTES default refuses larger bodies before YAML sees them."""

# Openers that nest one level on one line; a pattern of them repeated N times nests N levels or more.
INLINE_OPENERS = ("- ", "? ", "- ? ", "[", "{{", "{{a: ", "{{? ", "[? ", "&a{i} [", "&a{i} {{k: ", "!!seq [",
                  "!!map {{k: ", "!!set {{", "!!omap [", "!custom [", "{{<<: ", "k: ", "[*a{j}, ", "{{*a{j} : ")
CLOSERS = ("]", "}", ", ", "\n", " ", ": x", "*a0", "")
YAML_CHARS = "-?:,[]{}#&*!|>'\"%@` \n\t\r\\abxyz019.~=<+\x00\x01\x85\ufeff\u2028é"
SNIPPETS = ("&x ", "*x", "<<: *x", "!!set ", "!!binary ", "!!timestamp ", "!!int ", "!!float ", "!!str ", "!x ",
            "? ", "- ", "[", "]", "{", "}", "\t", "\x01", "\ufeff", "---\n", "...\n", "%YAML 1.1\n", "%TAG ! x\n",
            "|", ">-", "'", '"', ": ", "#", "\n", "\r\n", "  ", "1:00:00", "0x1F", "2001-02-30", ".nan", "~",
            "=", "<<", "\\", "\"\\x\"", "&x [*x]")
EXAMPLES = [p.read_text() for p in sorted((REPO / "example").glob("*.yaml"))]

depths = st.one_of(st.integers(10, 200), st.integers(200, 5_000), st.integers(5_000, 50_000))


def _fit(text: str) -> str:
    return text[:MAX_TEXT]


@st.composite
def nested_inline(draw: st.DrawFn) -> str:
    """A cyclic pattern of one-line openers repeated to depth N, optionally closed, with a tail."""
    pattern = draw(st.lists(st.sampled_from(INLINE_OPENERS), min_size=1, max_size=6))
    n = draw(depths)
    if any("{i}" in p or "{j}" in p for p in pattern):  # numbered anchors and aliases: one string per level
        text = "".join([pattern[i % len(pattern)].format(i=i, j=max(i - 1, 0)) for i in range(n)])
    else:
        unit = "".join(p.format() for p in pattern)
        text = unit * (n // len(pattern)) + "".join(p.format() for p in pattern[: n % len(pattern)])
    if draw(st.booleans()):
        text += draw(st.sampled_from(("a", "*a0", "", "x: y", "&z q")))
        text += draw(st.sampled_from(CLOSERS)) * draw(st.integers(0, n))
    return _fit(text + "\n")


@st.composite
def nested_block(draw: st.DrawFn) -> str:
    """Indentation-nested block sequences, mappings, complex keys and mixes, one level per line."""
    forms = draw(st.lists(st.sampled_from(("- ", "k: ", "? ", "- k: ", "? - ", "&b{i} k: ", "- !!seq ", "<<: ")),
                          min_size=1, max_size=4))
    n = draw(st.integers(10, 3_000))  # n levels of indentation take ~n*n bytes: 3,000 is about MAX_TEXT
    step = draw(st.sampled_from((1, 2, 4)))
    lines, size = [], 0
    for i in range(n):
        lines.append(" " * (step * i) + forms[i % len(forms)].format(i=i))
        size += len(lines[-1]) + 1
        if size > MAX_TEXT:
            break
    return _fit("\n".join(lines) + draw(st.sampled_from(("x", "*b0", "", "[]"))) + "\n")


@st.composite
def alias_bomb(draw: st.DrawFn) -> str:
    """Billion laughs: level k holds `width` aliases of level k-1, in block or flow style."""
    levels, width = draw(st.integers(1, 30)), draw(st.integers(1, 20))
    flow = draw(st.booleans())
    lines = ["a0: &a0 [lol, lol]"]
    for k in range(1, levels + 1):
        refs = [f"*a{k - 1}"] * width
        lines.append(f"a{k}: &a{k} [" + ", ".join(refs) + "]" if flow else
                     f"a{k}: &a{k}\n" + "".join(f"  - {r}\n" for r in refs).rstrip("\n"))
    return _fit("\n".join(lines) + "\n")


@st.composite
def mutated_manifest(draw: st.DrawFn) -> str:
    """A real manifest from example/ with 1 to 10 random edits: insert, delete, duplicate, splice deep nesting."""
    text = draw(st.sampled_from(EXAMPLES))
    for _ in range(draw(st.integers(1, 10))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(("insert", "delete", "duplicate", "splice", "char")))
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(SNIPPETS)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 64)):]
        elif op == "duplicate":
            end = min(len(text), pos + draw(st.integers(1, 400)))
            text = text[:end] + text[pos:end] * draw(st.integers(1, 50)) + text[end:]
        elif op == "splice":
            text = text[:pos] + draw(nested_inline()) + text[pos:]
        else:
            text = text[:pos] + draw(st.characters(codec="utf-8")) + text[pos:]
    return _fit(text)


def cases() -> st.SearchStrategy[str]:
    """Every kind of case the fuzzer sends, in roughly equal shares."""
    return st.one_of(
        nested_inline(),
        nested_block(),
        alias_bomb(),
        mutated_manifest(),
        st.binary(max_size=4096).map(lambda b: b.decode("utf-8", "replace")),
        st.text(alphabet=YAML_CHARS, max_size=4096),
        st.text(max_size=512),
    )


KILLERS = {
    "block seq of complex keys": "- ? " * 20_000 + "a\n",
    "flow sequences": "[" * 100_000,
    "flow mappings": "{a: " * 50_000,
    "complex keys": "? " * 50_000,
    "block sequences": "- " * 100_000,
    "recursive anchors": "&a [*a, " * 20_000,
    "control character after an alias": "*\x01",
    "indented block sequences": "".join("  " * i + "- \n" for i in range(700)),
}
"""Inputs that killed or broke the server before the event-level guard (see tests/workloads/test_yaml_hostile.py)."""


# -- parent: batches, isolation, figures ---------------------------------------------------------------
@dataclass
class Report:
    cases: int = 0
    crashes: list[str] = field(default_factory=list)
    """Cases whose process died, hung or raised something other than InputError."""
    mismatches: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    slowest_s: float = 0.0
    seconds: float = 0.0


def _spawn(texts: list[str], timeout: float) -> tuple[int | None, list[dict[str, Any]]]:
    """Run one child on `texts`: its exit code (None if it overran `timeout`) and its result lines."""
    try:
        proc = subprocess.run([sys.executable, str(CHILD)], input=json.dumps(texts),
                              capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return None, [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def run_batch(texts: list[str], report: Report, save: Path | None = None, timeout: float = 120.0) -> None:
    """Load `texts` in one child; if it fails in any way, re-run each case alone to name the culprits."""
    code, results = _spawn(texts, timeout)
    bad = code != 0 or len(results) != len(texts) or any(r["outcome"] == "bug" for r in results)
    if bad and len(texts) > 1:
        for text in texts:
            run_batch([text], report, save, timeout=min(timeout, 30.0))
        return
    report.cases += len(texts)
    if bad:
        why = (results[0]["message"] if results else "timed out" if code is None
               else f"exit code {code} (signal {-code})" if code < 0 else f"exit code {code}")
        report.crashes.append(f"{len(texts[0])} chars {texts[0][:60]!r}: {why}")
        report.outcomes["crash"] = report.outcomes.get("crash", 0) + 1
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            (save / f"crash-{len(report.crashes)}.json").write_text(json.dumps(texts[0]))
        return
    for text, r in zip(texts, results, strict=True):
        report.outcomes[r["outcome"]] = report.outcomes.get(r["outcome"], 0) + 1
        report.slowest_s = max(report.slowest_s, r.get("s", 0.0))
        if "mismatch" in r:
            report.mismatches.append(f"{text[:60]!r}: {r['mismatch']}")


def generate(n: int, seed_value: int, on_batch: Any, batch: int) -> None:
    """Draw `n` cases from `cases()` with hypothesis (generation only) and hand them on in batches."""
    pending: list[str] = []

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)
    @seed(seed_value)
    @given(cases())
    def draw(text: str) -> None:
        pending.append(text)
        if len(pending) >= batch:
            on_batch(pending[:])
            pending.clear()

    draw()
    if pending:
        on_batch(pending)


def fuzz(n: int, seed: int = 0, batch: int = 250, jobs: int = 1, save: Path | None = None,
         progress: bool = False) -> Report:
    """Generate and check `n` cases (hypothesis may stop a little short: `Report.cases` is the count)."""
    from concurrent.futures import ThreadPoolExecutor

    report = Report()
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        inflight: list[Any] = []

        def submit(texts: list[str]) -> None:
            inflight.append(pool.submit(run_batch, texts, report, save))
            while len(inflight) > jobs:
                inflight.pop(0).result()
            if progress:
                print(f"\r{report.cases} cases, {len(report.crashes)} crashes, {time.perf_counter() - started:.0f} s",
                      end="", file=sys.stderr, flush=True)

        generate(n, seed, submit, batch)
        for f in inflight:
            f.result()
    report.seconds = time.perf_counter() - started
    if progress:
        print(file=sys.stderr)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=250, help="cases per child process")
    ap.add_argument("--jobs", type=int, default=1, help="child processes at once")
    ap.add_argument("--save", type=Path, default=Path("fuzz-failures"), help="where crashing inputs are written")
    ap.add_argument("--replay", type=Path, help="load one saved case (JSON string) in a child and print the outcome")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # the former spelling of bench/fuzz_yaml_child.py
        sys.path.insert(0, str(REPO))
        from bench.fuzz_yaml_child import main as child_main

        child_main()
        return
    if args.replay:
        print(_spawn([json.loads(args.replay.read_text())], 60.0))
        return
    report = fuzz(args.cases, args.seed, args.batch, args.jobs, args.save, progress=True)
    known = Report()
    run_batch(list(KILLERS.values()), known, args.save)
    print(f"cases: {report.cases} generated + {known.cases} known killers")
    print(f"crashes: {len(report.crashes) + len(known.crashes)} (died, hung or raised a non-InputError)")
    print(f"outcomes: {dict(sorted(report.outcomes.items()))}")
    print(f"mismatches with CSafeLoader (other result, or refused where it loads): {len(report.mismatches)}")
    print(f"slowest case: {report.slowest_s:.3f} s; total {report.seconds:.0f} s, {os.cpu_count()} cores, "
          f"seed {args.seed}")
    for line in (report.crashes + known.crashes)[:20]:
        print("CRASH", line)
    for line in report.mismatches[:20]:
        print("MISMATCH", line)
    sys.exit(1 if report.crashes or known.crashes or report.mismatches else 0)


if __name__ == "__main__":
    main()
