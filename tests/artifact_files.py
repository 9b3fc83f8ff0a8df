"""Take `.npz` artifacts apart and put them back together, to build corrupt and hostile files in tests.

Written independently of `app.ml.artifacts` (plain numpy and zipfile), so a test that edits one
field checks the loader against the format, not against the saver's own code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np


class Boom:
    """Unpickling this runs `touch <marker>`: the payload a hostile artifact would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch '{self.marker}'",)


def boom_pickle(marker: Path) -> bytes:
    return pickle.dumps({"kind": "k8spodpcp-model", "model": Boom(marker)}, protocol=4)


def members(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of an artifact."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return json.loads(arrays.pop("meta").tobytes()), arrays


def pack(meta: Any, arrays: dict[str, Any]) -> bytes:
    """An `.npz` with `meta` as JSON bytes; `np.savez` pickles object arrays, which hostile tests rely on."""
    buf = io.BytesIO()
    meta_member = meta if isinstance(meta, np.ndarray) else np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(buf, meta=meta_member, **arrays)
    return buf.getvalue()


def reseal(model_path: Path) -> None:
    """Make the card beside `model_path` record the file as it is now (what a forger with write access does)."""
    card_path = model_path.with_name(model_path.stem + ".card.json")
    card = json.loads(card_path.read_text())
    data = model_path.read_bytes()
    card["artifacts"]["model"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    card_path.write_text(json.dumps(card))


def rewrite(path: Path, meta: Any, arrays: dict[str, Any], *, seal: bool = True) -> Path:
    """Replace an artifact's content; for a model (a card beside it) the card is resealed unless `seal=False`."""
    path.write_bytes(pack(meta, arrays))
    if seal and path.with_name(path.stem + ".card.json").exists():
        reseal(path)
    return path


def copy_artifacts(encoder: Path, model: Path, dest: Path) -> tuple[Path, Path]:
    """A private copy of an encoder, a model and its card (tests edit them in place)."""
    dest.mkdir(parents=True, exist_ok=True)
    card = model.with_name(model.stem + ".card.json")
    for src in (encoder, model, card):
        (dest / src.name).write_bytes(src.read_bytes())
    return dest / encoder.name, dest / model.name
