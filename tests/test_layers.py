"""Layers point one way: schema ← domain ← adapters ← entry points (checked on the import graph)."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
DOMAIN = ("app.workloads", "app.features", "app.model", "app.dataset", "app.training", "app.predictor",
          "app.labels", "app.evaluation", "app.simulate")
ENTRY = ("app.api", "app.cli", "app.commands")
IO_LIBS = ("kubernetes.client", "kubernetes.watch", "kubernetes.config", "httpx", "requests", "fastapi", "uvicorn")


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def module_name(path: Path) -> str:
    rel = path.relative_to(APP.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_schema_imports_nothing_of_the_project() -> None:
    assert not {m for m in imports(APP / "schema.py") if m.startswith("app")}


def test_domain_never_imports_entry_points_or_io_clients() -> None:
    bad = []
    for path in APP.rglob("*.py"):
        mod = module_name(path)
        if not mod.startswith(DOMAIN):
            continue
        for imp in imports(path):
            if imp.startswith(ENTRY) or imp.startswith(IO_LIBS):
                bad.append(f"{mod} imports {imp}")
    assert not bad, bad


def test_nothing_below_entry_points_imports_them() -> None:
    bad = []
    for path in APP.rglob("*.py"):
        mod = module_name(path)
        if mod.startswith(ENTRY) or mod == "app.__main__":
            continue
        bad += [f"{mod} imports {imp}" for imp in imports(path) if imp.startswith(ENTRY)]
    assert not bad, bad
