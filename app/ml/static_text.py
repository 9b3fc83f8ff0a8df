"""Static text embeddings (a model2vec model) read with numpy and plain Python: no torch, no tokenizers library.

Rule: `StaticTextModel.encode(texts)` equals model2vec's `StaticModel.encode(texts)` bit for bit (float16) for
every text of `TEXT_ALPHABET` (lower-case ASCII letters, digits, spaces), the only texts the encoder gives it
(`app.ml.features.static_text`); other texts are refused rather than tokenised approximately. A parity test
compares the two on thousands of strings (tests/ml/test_static_text.py).

Source: model2vec 0.10.0 (`StaticModel.encode`, `tokenize`; MIT) and the Hugging Face tokenizers' BERT
pipeline its tokenizer.json names (BertNormalizer, BertPreTokenizer, WordPiece), which on that alphabet is:
split at spaces, then per word the greedy longest-match-first WordPiece (`##` continuations, a word that
cannot be covered, or longer than `max_input_chars_per_word`, is one `[UNK]`); truncate to `max_length`
tokens, drop `[UNK]`; the text's vector is the float16 mean of its tokens' rows (accumulated in float32 by
numpy), divided by its float32 L2 norm (+1e-32). A text with no known token is the zero vector.

Guarantees: reading runs no code and unpickles nothing: `config.json` and `tokenizer.json` are JSON, and
`model.safetensors` is parsed here (an 8-byte little-endian header length, a JSON header, raw float16/32
little-endian data), every offset and shape checked against the file. Anything this module does not
implement exactly (another normaliser, pooling, vocabulary quantisation, per-token weights, a
case-sensitive vocabulary) is refused with a `PodPowerError` naming the file and field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import PodPowerError

DEFAULT_STATIC_MODEL = Path(__file__).resolve().parents[2] / "artifacts" / "static_text"
"""The model shipped with the project (its README gives the provenance)."""
TEXT_ALPHABET = re.compile(r"[a-z0-9 ]*")
MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")
_MAX_HEADER = 1 << 20
_DTYPES = {"F16": np.dtype("<f2"), "F32": np.dtype("<f4")}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file (float16/float32 only), without the safetensors library."""
    data = path.read_bytes()
    if len(data) < 8:
        raise PodPowerError(f"{path}: not a safetensors file (shorter than its header length)")
    n = int.from_bytes(data[:8], "little")
    if n > min(_MAX_HEADER, len(data) - 8):
        raise PodPowerError(f"{path}: safetensors header of {n} bytes does not fit the file")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as exc:
        raise PodPowerError(f"{path}: safetensors header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise PodPowerError(f"{path}: safetensors header is not an object")
    body = memoryview(data)[8 + n:]
    out: dict[str, np.ndarray] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES[spec["dtype"]]
            shape = tuple(int(s) for s in spec["shape"])
            start, end = (int(o) for o in spec["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise PodPowerError(f"{path}: tensor {name!r}: needs dtype F16 or F32, shape and data_offsets") from None
        if not 0 <= start <= end <= len(body) or end - start != dtype.itemsize * int(np.prod(shape)):
            raise PodPowerError(f"{path}: tensor {name!r}: data_offsets {start}..{end} do not hold shape {shape}")
        out[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(shape)
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PodPowerError(f"static text model: {path} not found") from None
    except (OSError, ValueError) as exc:
        raise PodPowerError(f"{path}: cannot read ({exc})") from None


def _expect(ok: bool, path: Path, field: str, message: str) -> None:
    if not ok:
        raise PodPowerError(f"{path}: field {field!r}: {message} (not a model this reader implements exactly)")


class StaticTextModel:
    """A model2vec model directory (`config.json`, `tokenizer.json`, `model.safetensors`), read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        config_path, tok_path, st_path = (self.path / f for f in MODEL_FILES)
        config = _read_json(config_path)
        _expect(isinstance(config, dict) and config.get("model_type") == "model2vec", config_path, "model_type",
                "must be model2vec")
        _expect(config.get("pooling", "mean") == "mean", config_path, "pooling", "must be mean")
        _expect("vocabulary_quantization" not in config, config_path, "vocabulary_quantization", "not supported")
        self.normalize = config.get("normalize", False)
        self.max_length = config.get("max_length", 512)
        _expect(isinstance(self.normalize, bool), config_path, "normalize", "must be true or false")
        _expect(self.max_length is None or (isinstance(self.max_length, int) and self.max_length > 0), config_path,
                "max_length", "must be a positive integer or null")
        tok = _read_json(tok_path)
        _expect(isinstance(tok, dict), tok_path, "", "must be an object")
        norm = tok.get("normalizer") or {}
        _expect(norm.get("type") == "BertNormalizer" and norm.get("lowercase") is True, tok_path, "normalizer",
                "must be a lower-casing BertNormalizer")
        _expect((tok.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer", tok_path, "pre_tokenizer",
                "must be BertPreTokenizer")
        model = tok.get("model") or {}
        _expect(model.get("type") == "WordPiece", tok_path, "model.type", "must be WordPiece")
        vocab = model.get("vocab")
        _expect(isinstance(vocab, dict) and all(isinstance(i, int) for i in vocab.values())
                and sorted(vocab.values()) == list(range(len(vocab))), tok_path, "model.vocab",
                "must map tokens to the ids 0..n-1")
        self.vocab: dict[str, int] = vocab
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_word = int(model.get("max_input_chars_per_word", 100))
        unk = model.get("unk_token")
        self.unk_id = vocab.get(unk) if unk is not None else None
        _expect(self.unk_id is not None, tok_path, "model.unk_token", "must be in the vocabulary")
        tensors = read_safetensors(st_path)
        _expect(set(tensors) == {"embeddings"}, st_path, "tensors",
                f"must be exactly 'embeddings' (got {sorted(tensors)}; per-token weights or a mapping are not read)")
        emb = tensors["embeddings"]
        _expect(emb.ndim == 2 and emb.shape[0] == len(vocab) and emb.shape[1] > 0, st_path, "embeddings",
                f"must have one row per token ({len(vocab)}), got shape {emb.shape}")
        _expect(bool(np.isfinite(emb).all()), st_path, "embeddings", "holds NaN or infinite values")
        self.embedding = emb.astype(emb.dtype.newbyteorder("="))
        self.dim = int(emb.shape[1])
        tokens = sorted(vocab, key=vocab.__getitem__)
        self.median_token_length = int(np.median([len(t) for t in tokens]))
        self.sha256 = model_sha256(self.path)

    def _word_ids(self, word: str, out: list[int]) -> None:
        """WordPiece: greedy longest-match-first pieces of one word, or one `[UNK]`."""
        if len(word) > self.max_word:
            out.append(self.unk_id)  # type: ignore[arg-type]
            return
        vocab, pieces, start, n = self.vocab, [], 0, len(word)
        while start < n:
            end = n
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if (i := vocab.get(piece)) is not None:
                    pieces.append(i)
                    break
                end -= 1
            else:
                out.append(self.unk_id)  # type: ignore[arg-type]
                return
            start = end
        out.extend(pieces)

    def token_ids(self, text: str) -> list[int]:
        """The token ids model2vec's `tokenize` gives `text` (truncated to `max_length`, `[UNK]` dropped)."""
        if TEXT_ALPHABET.fullmatch(text) is None:
            raise ValueError(f"static text model: only lower-case ASCII letters, digits and spaces, got {text[:60]!r}")
        if self.max_length is not None:
            text = text[: self.max_length * self.median_token_length]
        ids: list[int] = []
        for word in text.split():
            self._word_ids(word, ids)
        if self.max_length is not None:
            ids = ids[: self.max_length]
        return [i for i in ids if i != self.unk_id]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One float16 row per text (model2vec's `encode`), each computed alone: a row never depends on the batch."""
        out = np.zeros((len(texts), self.dim), dtype=self.embedding.dtype)
        for row, text in enumerate(texts):
            ids = self.token_ids(text)
            if ids:
                out[row] = self.embedding[ids].mean(axis=0)
        if not self.normalize:
            return out
        out32 = out.astype(np.float32)
        norm = np.linalg.norm(out32, axis=1, keepdims=True) + 1e-32
        return (out32 / norm).astype(out.dtype)


def model_sha256(path: Path) -> str:
    """One SHA-256 over the model's files (name, length, bytes), so an encoder can refuse another model."""
    h = hashlib.sha256()
    for name in MODEL_FILES:
        data = (path / name).read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()
