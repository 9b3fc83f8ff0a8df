"""Hostile YAML: every input loads like `yaml.safe_load` or is refused with an InputError naming where.

The killers and a few hundred fuzz cases run in a child process (bench/fuzz_yaml.py's harness: a worker
thread with a 512 KiB stack, 2 GiB address-space limit), so a C-stack overflow shows as a dead child
rather than a dead test run. The harness is shown to catch such a crash: plain `CSafeLoader` dies in it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from app.core.errors import InputError, TooLargeError
from app.workloads.yamlload import MAX_DEPTH_CEILING, YamlLimits, load_documents
from bench.fuzz_yaml import KILLERS, Report, _spawn, generate, run_batch
from bench.fuzz_yaml_child import CHILD_STACK

EXPECTED = {  # killer -> what the refusal says (each also names line and column)
    "block seq of complex keys": "found unhashable key (a sequence or mapping) at line 1, column 5",
    "flow sequences": "YAML nested deeper than 64 levels at line 1, column 65",
    "flow mappings": "YAML nested deeper than 64 levels at line 1, column 257",
    "complex keys": "found unhashable key (a sequence or mapping) at line 1, column 3",
    "block sequences": "YAML nested deeper than 64 levels at line 1, column 129",
    "recursive anchors": "alias *a refers to a node that contains it at line 1, column 5",
    "control character after an alias": "control characters are not allowed (character #x0001) at line 1, column 2",
    "indented block sequences": "YAML nested deeper than 64 levels at line 65, column 129",
}


@pytest.fixture(scope="module")
def killer_results() -> dict[str, dict[str, Any]]:
    code, results = _spawn(list(KILLERS.values()), timeout=120)
    assert code == 0, f"the child died (exit code {code}) after {len(results)} cases"
    return dict(zip(KILLERS, results, strict=True))


@pytest.mark.parametrize("name", sorted(KILLERS))
def test_known_killer_is_refused_cleanly(killer_results: dict[str, dict[str, Any]], name: str) -> None:
    result = killer_results[name]
    assert result["outcome"] == "refused", result
    assert result["message"].startswith("case: document 1: ")
    assert result["message"].endswith(EXPECTED[name])
    assert result["s"] < 1.0


def test_the_harness_catches_a_stack_overflow() -> None:
    """Plain libyaml composing `- ? ` * 20000 in the harness's worker thread kills the process (SIGSEGV)."""
    script = (f"import threading, yaml; threading.stack_size({CHILD_STACK}); "
              f"t = threading.Thread(target=yaml.load, args=({KILLERS['block seq of complex keys']!r},), "
              "kwargs={'Loader': yaml.CSafeLoader}); t.start(); t.join()")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode < 0, "CSafeLoader no longer overflows: the killers may no longer prove anything"


def test_fuzz_cases_in_a_child() -> None:
    """A few hundred cases of every strategy (deep nesting of each construct, bombs, bytes, mutated manifests)."""
    report = Report()
    generate(300, 20261130, lambda texts: run_batch(texts, report), batch=300)
    assert report.cases == 300
    assert report.crashes == [] and report.mismatches == []
    assert report.outcomes.get("loaded", 0) > 20 and report.outcomes.get("refused", 0) > 100


def load(text: str, **limits: int) -> list[Any]:
    return list(load_documents(text, "x.yaml", YamlLimits(**limits) if limits else None))


@pytest.mark.parametrize("text", [
    "a: 1\n---\n- b\n",
    "a: &x [1, {b: c}]\nb: *x\nc: &s hello\nd: *s\n",
    "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd: {<<: [*b, {z: 0}], x: 9}\n",
    "a: !!set {x, y}\nb: !!omap [{x: 1}]\nc: !!pairs [{x: 1}, {x: 2}]\n",
    "t: 2001-12-14t21:59:43.10-05:00\nd: 2002-12-14\nb: !!binary Zm9v\nf: !!float '1.5'\n",
    "on: off\nnull: ~\n1.5: .inf\n0x1F: 0o17\nsex: 1:00:00\n? complex\n: key\n",
    "---\n---\n", "", "# only a comment\n", "'quoted': \"yes\"\nplain: yes\nempty:\n",
    "!!map {a: !!seq [!!str 1, !!int '2']}\n",
])
def test_loads_as_safe_load(text: str) -> None:
    assert load(text) == list(yaml.safe_load_all(text))


REFUSALS = [  # (text, error, what the message says)
    ("*\x01", InputError, "document 1: invalid YAML: control characters are not allowed (character #x0001) "
                          "at line 1, column 2"),
    ("a: é\nb: \x01\n", InputError, "at line 2, column 4"),
    ("a: 1\n---\nb: [\n", InputError, "x.yaml: document 2: invalid YAML: "),
    ("a: *nope\n", InputError, "alias *nope is not defined at line 1, column 4"),
    ("a: &x 1\nb: &x 2\n", InputError, "anchor &x defined twice at line 2, column 4"),
    ("a: &x 1\n---\nb: *x\n", InputError, "document 2: invalid YAML: alias *x is not defined"),
    ("a: {b: &x [*x]}\n", InputError, "alias *x refers to a node that contains it at line 1, column 12"),
    ("a: 2001-02-30\n", InputError, "cannot read '2001-02-30' as timestamp (ValueError: day is out of range"),
    ("a: !!timestamp abc\n", InputError, "cannot read 'abc' as timestamp"),
    ("a: !!int ''\n", InputError, "cannot read '' as int"),
    ("a: 1" + ":00" * 2000 + "\n", InputError, "number longer than 4300 characters at line 1, column 4"),
    ("a: !!set [x]\n", InputError, "expected a mapping node, but found sequence at line 1, column 4"),
    ("a: !custom x\n", InputError, "could not determine a constructor for the tag '!custom'"),
    ("a: =\n", InputError, "tag:yaml.org,2002:value"),
    ("? [a]\n: b\n", InputError, "found unhashable key (a sequence or mapping) at line 1, column 3"),
    # a key written twice: Kubernetes refuses it, safe_load keeps the last one (audit 2026-12-01)
    ("a: 1\nb: 2\na: 3\n", InputError, "invalid YAML: duplicate key 'a' at line 3, column 1"),
    ("c: [{image: x, image: y}]\n", InputError, "duplicate key 'image' at line 1, column 16"),
    ("s: !!set {a: null}\ny: 1\ny: 2\n", InputError, "duplicate key 'y' at line 3, column 1"),  # PyYAML's path
    ("a\udc80: 1\n", InputError, "not valid Unicode text"),
    ("- !!set {}\n- " + "[" * 80, TooLargeError, "nested deeper than 64 levels at line 2, column 66"),
    ("a: " + "[" * 10 + "]" * 10, TooLargeError, "nested deeper than 5 levels at line 1, column 8"),
    ("a: &a [x, x]\nb: &b [" + ", ".join(["*a"] * 9) + "]\n", TooLargeError, "more than 5 YAML aliases"),
    ("a: &a [" + ", ".join(["x"] * 50) + "]\nb: [*a, *a]\n", TooLargeError, "YAML expands to more than 100 nodes"),
]


@pytest.mark.parametrize(("text", "error", "message"), REFUSALS, ids=[m[:40] for _, _, m in REFUSALS])
def test_refused_with_where(text: str, error: type[InputError], message: str) -> None:
    limits = {"max_depth": 5} if "5 levels" in message else {"max_aliases": 5} if "5 YAML" in message else \
        {"max_nodes": 100} if "100 nodes" in message else {}
    with pytest.raises(error) as info:
        load(text, **limits)
    assert type(info.value) is error
    assert message in str(info.value), str(info.value)
    assert str(info.value).startswith("x.yaml: document ")


def test_documents_before_an_error_are_yielded() -> None:
    docs = load_documents("a: 1\n---\nb: !!set {x}\n---\n[", "x.yaml")
    assert next(docs) == {"a": 1}
    assert next(docs) == {"b": {"x"}}
    with pytest.raises(InputError, match="document 3: invalid YAML"):
        next(docs)


def test_depth_limit_has_a_ceiling() -> None:
    YamlLimits(max_depth=MAX_DEPTH_CEILING)
    with pytest.raises(ValueError, match="max_depth must be between 1 and"):
        YamlLimits(max_depth=MAX_DEPTH_CEILING + 1)


def test_deepest_allowed_document_loads_in_every_style() -> None:
    """At the ceiling, the rare-feature path (PyYAML's recursive composer) still has room to spare."""
    n = MAX_DEPTH_CEILING
    deep: Any = []
    for _ in range(n - 2):
        deep = [deep]
    for text, expected in (("[" * n + "]" * n, [[deep]]), ("- !!set {}\n- " + "[" * (n - 1) + "]" * (n - 1),
                                                            [[set(), deep]])):
        assert load(text, max_depth=n) == expected
        with pytest.raises(TooLargeError, match=f"deeper than {n - 1} levels"):
            load(text, max_depth=n - 1)
