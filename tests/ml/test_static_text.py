"""The static text model (artifacts/static_text) and the encoder's static block.

* neighbours: with the text the encoder embeds (`identity_text`), valkey is nearer redis than nginx,
  opensearch nearer elasticsearch, mariadb nearer mysql (the claims of issue #17), on the shipped model;
* exactness: `StaticTextModel.encode` equals model2vec's own `StaticModel.encode` bit for bit on thousands
  of strings, alone or in a batch;
* hostile files and texts are refused, naming the file and field;
* the encoder: save/load bit-exact, one-row encode equal to the batch's row, another model refused, and
  cosmetic changes (tag, names, chart labels) leave the static block untouched and move no prediction.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.adapters.files import read_requests
from app.core.errors import PodPowerError
from app.core.schema import InferenceRequest
from app.ml.artifacts import load_encoder, save_encoder
from app.ml.features import WorkloadEncoder, identity_text
from app.ml.static_text import DEFAULT_STATIC_MODEL, MODEL_FILES, StaticTextModel
from app.pipelines.bootstrap import build_default_artifacts
from app.serving.predictor import Predictor
from app.workloads.convert import complete_request
from tests.conftest import EXAMPLES
from tests.trust.test_shipped_model import VARIANTS, corpus


@pytest.fixture(scope="module")
def model() -> StaticTextModel:
    return StaticTextModel(DEFAULT_STATIC_MODEL)


def spec(image: str, **labels: str) -> InferenceRequest:
    return complete_request(InferenceRequest.model_validate({
        "workload_kind": "Deployment", "workload_name": "w", "namespace": "ns", "labels": labels,
        "containers": [{"name": "main", "image": image}]}))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize(("query", "near", "far"), [
    ("docker.io/valkey/valkey:8.0", "docker.io/library/redis:7.2", "docker.io/library/nginx:1.25"),
    ("docker.io/valkey/valkey:8.0", "docker.io/library/redis:7.2", "docker.io/library/mysql:8.0"),
    ("opensearchproject/opensearch:2.11.0", "docker.elastic.co/elasticsearch/elasticsearch:8.12.0",
     "docker.io/library/nginx:1.25"),
    ("opensearchproject/opensearch:2.11.0", "docker.elastic.co/elasticsearch/elasticsearch:8.12.0",
     "docker.io/library/mysql:8.0"),
    ("docker.io/library/mariadb:11.2", "docker.io/library/mysql:8.0", "docker.io/library/nginx:1.25"),
    ("docker.io/library/mariadb:11.2", "docker.io/library/mysql:8.0", "docker.io/library/redis:7.2"),
])
def test_the_shipped_model_puts_relatives_near(model: StaticTextModel, query: str, near: str, far: str) -> None:
    texts = [identity_text(spec(image)) for image in (query, near, far)]
    assert texts[0].split()[0] in query and texts[1].split()[0] in near  # the software's name is what is embedded
    q, n, f = model.encode(texts)
    assert cosine(q, n) > cosine(q, f), (texts, cosine(q, n), cosine(q, f))


def test_identity_text_is_the_software_name() -> None:
    assert identity_text(spec("registry.example.com:5000/team/orders-api:1.2.3-frontend")) == "orders api"
    assert identity_text(spec("bitnami/valkey:8.0.1-debian-12-r0")) == "valkey"
    assert identity_text(spec("ghcr.io/acme/x:1", **{"app.kubernetes.io/name": "Köln-Süd_Shop"})) == "k ln s d shop"


def _strings(model: StaticTextModel, n: int) -> list[str]:
    """Random strings of the alphabet, vocabulary words with noise, and the edge cases of truncation."""
    rng = random.Random(17)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
    words = [t.removeprefix("##") for t in model.vocab if t.removeprefix("##").isalnum() and t.isascii()]
    out = ["", " ", "   ", "valkey", "x" * 101, " ".join(["redis"] * 700), "a" * (600 * model.median_token_length)]
    for _ in range(n):
        if rng.random() < 0.4:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))))
        else:
            picked = [w.lower() for w in rng.sample(words, rng.randint(1, 8))]
            picked.append("".join(rng.choice(alphabet[:36]) for _ in range(rng.randint(1, 14))))
            out.append((" " * rng.randint(1, 3)).join(picked))
    return out


def test_encode_equals_model2vec_bit_for_bit(model: StaticTextModel) -> None:
    m2v = pytest.importorskip("model2vec", reason="pip install -r requirements-sbert.txt")
    ref = m2v.StaticModel.from_pretrained(DEFAULT_STATIC_MODEL, force_download=False)
    texts = _strings(model, 3000)
    want = ref.encode(texts)
    got = model.encode(texts)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    for text, row in zip(texts[:300], want[:300], strict=True):
        np.testing.assert_array_equal(model.encode([text])[0], row)
        assert model.token_ids(text) == ref.tokenize([text])[0]


def test_text_outside_the_alphabet_is_refused(model: StaticTextModel) -> None:
    for text in ("Redis", "redis-server", "köln", "a\tb", "[UNK]"):
        with pytest.raises(ValueError, match="lower-case ASCII"):
            model.encode([text])


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "model"
    out.mkdir()
    for name in MODEL_FILES:
        shutil.copyfile(DEFAULT_STATIC_MODEL / name, out / name)
    return out


def _safetensors(tensors: dict[str, tuple[str, list[int], bytes]]) -> bytes:
    header, body = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + len(data)]}
        body += data
    head = json.dumps(header).encode()
    return len(head).to_bytes(8, "little") + head + body


@pytest.mark.parametrize(("file", "content", "field"), [
    ("config.json", '{"model_type": "bert"}', "model_type"),
    ("config.json", '{"model_type": "model2vec", "pooling": "first"}', "pooling"),
    ("config.json", "not json", "cannot read"),
    ("tokenizer.json", '{"normalizer": {"type": "NFC"}}', "normalizer"),
    ("model.safetensors", b"\xff" * 8 + b"{}", "does not fit"),
    ("model.safetensors", b"\x02\x00\x00\x00\x00\x00\x00\x00[]", "not an object"),
    ("model.safetensors", _safetensors({"embeddings": ("I64", [1, 1], b"\0" * 8)}), "F16 or F32"),
    ("model.safetensors", _safetensors({"embeddings": ("F16", [4, 64], b"\0" * 8)}), "data_offsets"),
    ("model.safetensors", _safetensors({"embeddings": ("F16", [1, 2], b"\0" * 4),
                                        "weights": ("F32", [1], b"\0" * 4)}), "tensors"),
    ("model.safetensors", _safetensors({"embeddings": ("F16", [3, 2], b"\0" * 12)}), "one row per token"),
])
def test_a_bad_model_file_is_refused_naming_it(tmp_path: Path, file: str, content: str | bytes, field: str) -> None:
    path = _copy(tmp_path)
    (path / file).write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(PodPowerError, match=field) as info:
        StaticTextModel(path)
    assert file in str(info.value)


@pytest.fixture(scope="module")
def requests() -> list[InferenceRequest]:
    out = [complete_request(r) for f in sorted(EXAMPLES.glob("*.yaml")) for r in read_requests(f).requests]
    return out + list(corpus())


def test_encoder_round_trip_and_one_row_parity(requests: list[InferenceRequest], tmp_path: Path) -> None:
    enc = WorkloadEncoder(static_text=True).fit(requests)
    assert enc.static_dim_ == 64 and enc.feature_names_[-1] == "static__63"
    X = enc.encode(requests)
    static = X[:, -64:]
    assert np.allclose(np.linalg.norm(static, axis=1), 1.5, atol=2e-3)  # unit rows (float16) × static_weight
    again = load_encoder(save_encoder(enc, tmp_path / "enc.npz"))
    np.testing.assert_array_equal(again.encode(requests), X)
    for i, req in enumerate(requests):
        np.testing.assert_array_equal(again.encode_one(req), X[i])
    # without the block, the first columns are the default encoder's, bit for bit
    np.testing.assert_array_equal(X[:, :-64], WorkloadEncoder().fit(requests).encode(requests))


def test_encoder_refuses_another_static_model(requests: list[InferenceRequest], tmp_path: Path) -> None:
    path = _copy(tmp_path)
    enc = WorkloadEncoder(static_text=True, static_model_path=str(path)).fit(requests[:5])
    saved = save_encoder(enc, tmp_path / "enc.npz")
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "max_length": 256}))
    from app.ml.features import load_static_model

    load_static_model.cache_clear()
    with pytest.raises(PodPowerError, match="not the one this encoder was fitted with"):
        load_encoder(saved)


@pytest.fixture(scope="module")
def static_predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    out = build_default_artifacts(tmp_path_factory.mktemp("static"), static_text=True, n_splits=3)
    return Predictor.load(out["encoder"], out["model"])


@pytest.mark.parametrize("change", list(VARIANTS))
def test_a_cosmetic_change_leaves_the_static_block_and_the_prediction(
        static_predictor: Predictor, requests: list[InferenceRequest], change: str) -> None:
    enc = static_predictor.encoder
    moved = []
    others = [VARIANTS[change](r) for r in requests]
    for req, other in zip(requests, others, strict=True):
        np.testing.assert_array_equal(enc.encode_one(req)[-64:], enc.encode_one(other)[-64:])
    for req, a, b in zip(requests, static_predictor.predict_many(requests), static_predictor.predict_many(others),
                         strict=True):
        if not 1 / 1.1 < b.pred_avg_power_w / a.pred_avg_power_w < 1.1:
            moved.append(f"{req.namespace}/{req.workload_name}: {a.pred_avg_power_w:.4g} → {b.pred_avg_power_w:.4g}")
    assert not moved, f"{len(moved)} of {len(requests)} moved ≥ 10%: {moved[:10]}"


def test_the_readme_records_the_shipped_files() -> None:
    """The provenance README's SHA-256 lines are those of the files beside it (and name every model file)."""
    import hashlib

    text = (DEFAULT_STATIC_MODEL / "README.md").read_text()
    recorded = dict(line.split()[::-1] for line in text.split("```")[1].strip().splitlines())
    assert set(MODEL_FILES) <= set(recorded)
    for name, sha in recorded.items():
        assert hashlib.sha256((DEFAULT_STATIC_MODEL / name).read_bytes()).hexdigest() == sha, name
    assert "Apache-2.0" in text and "MIT" in text and "distill-text-model" in text


@pytest.mark.parametrize(("edit", "why"), [
    (lambda m: m.pop("static_sha256"), "'static_sha256': missing"),
    (lambda m: m.pop("static_dim"), "'static_dim': missing"),
    (lambda m: m.update(static_dim=0), "'static_dim': must be ≥ 1"),
    (lambda m: m["params"].update(static_text=False), "'static_dim': must be ≥ 1, and given only with"),
    (lambda m: m["params"].pop("static_weight"), "'params.static_weight': missing"),
    (lambda m: m.update(static_sha256="0" * 64), "not the one this encoder was fitted with"),
    (lambda m: m.update(static_dim=32), "not the one this encoder was fitted with"),
])
def test_a_tampered_static_encoder_is_refused(requests: list[InferenceRequest], tmp_path: Path, edit: Any,
                                              why: str) -> None:
    from tests.artifact_files import members, rewrite

    path = save_encoder(WorkloadEncoder(static_text=True).fit(requests[:5]), tmp_path / "enc.npz")
    meta, arrays = members(path)
    edit(meta)
    rewrite(path, meta, arrays)
    with pytest.raises(PodPowerError, match=why):
        load_encoder(path)


def test_an_encoder_without_the_block_is_written_as_before(requests: list[InferenceRequest], tmp_path: Path) -> None:
    from tests.artifact_files import members

    meta, _ = members(save_encoder(WorkloadEncoder().fit(requests[:5]), tmp_path / "enc.npz"))
    assert "static_dim" not in meta and not any(k.startswith("static") for k in meta["params"])
