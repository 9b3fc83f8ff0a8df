"""The one place that unpickles: converting old joblib artifacts into code-free ones, offline, on request.

Rule: a pickle runs code while it is read, so only `python -m app artifacts convert` calls this, on
files the operator names and trusts; the server and `predict` never do (`app.ml.artifacts` refuses
pickles with a pointer here). Output: `<out>/<input stem>.npz`, and for a model its card
`<stem>.card.json` (the old card's fields kept, `artifacts` with the new files' SHA-256 added).
Guarantee: the converted objects predict bit for bit as the unpickled ones (the arrays are copied as
they are; a test checks on example/).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.core.errors import ArtifactError
from app.ml.artifacts import ENCODER_KIND, MODEL_KIND, SUFFIX, save_encoder, save_model


def _unpickle(path: Path) -> dict[str, Any]:
    """joblib-load an old artifact (this executes whatever the file says: trusted files only)."""
    import joblib

    if not path.is_file():
        raise ArtifactError(f"{path}: file not found")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # corrupt, truncated, or pickled by an incompatible version
        raise ArtifactError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("kind") not in (ENCODER_KIND, MODEL_KIND):
        raise ArtifactError(f"{path}: not a {ENCODER_KIND} or {MODEL_KIND} joblib artifact")
    return payload


def convert_joblib(paths: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """Convert old encoder/model joblib files; returns the files written.

    Encoders are written first, so that when exactly one encoder is converted with a model, the
    model's card records that encoder's SHA-256 (serving then refuses any other encoder).
    """
    out = Path(out_dir)
    payloads = [(Path(p), _unpickle(Path(p))) for p in paths]
    stems = [p.stem for p, _ in payloads]
    if len(set(stems)) != len(stems):
        raise ArtifactError(f"two inputs share a name ({', '.join(stems)}): their outputs would overwrite each other")
    written: list[Path] = []
    encoders = []
    for path, payload in payloads:
        if payload["kind"] == ENCODER_KIND:
            encoders.append(save_encoder(payload["encoder"], out / f"{path.stem}{SUFFIX}"))
            written.append(encoders[-1])
    for path, payload in payloads:
        if payload["kind"] == MODEL_KIND:
            card = {**payload["card"], "converted_from": path.name}
            model_path, card_path = save_model(payload["model"], card, out / f"{path.stem}{SUFFIX}",
                                               extras=payload.get("extras"),
                                               encoder_path=encoders[0] if len(encoders) == 1 else None)
            written += [model_path, card_path]
    return written
