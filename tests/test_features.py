"""Encoder: round trip through its artifact, unknown categories, text hashing, SBERT (artifact checks: tests/ml)."""

from pathlib import Path

import numpy as np
import pytest

from app.adapters.files import read_requests
from app.core.errors import PodPowerError
from app.ml.artifacts import load_encoder, save_encoder
from app.ml.features import NUMERIC, WorkloadEncoder, image_tokens, numeric_row
from app.workloads.convert import complete_request
from tests.conftest import EXAMPLES, need


@pytest.fixture(scope="module")
def requests() -> list:
    out = []
    for f in sorted(EXAMPLES.glob("*.yaml")):
        out += [complete_request(r) for r in read_requests(f).requests]
    return out


def test_round_trip(requests: list, tmp_path: Path) -> None:
    enc = WorkloadEncoder().fit(requests)
    X = enc.transform(requests)
    assert X.shape == (len(requests), enc.n_features_out_) == (len(requests), len(enc.feature_names_))
    path = save_encoder(enc, tmp_path / "enc.npz")
    again = load_encoder(path)
    np.testing.assert_array_equal(again.transform(requests), X)
    # one request at a time gives the batch's rows bit for bit (the API encodes one at a time)
    for i, req in enumerate(requests):
        np.testing.assert_array_equal(enc.encode_one(req), X[i])


def test_numeric_block_is_standardised(requests: list) -> None:
    enc = WorkloadEncoder(numeric_weight=1.0).fit(requests)
    X = enc.transform(requests)[:, : len(NUMERIC)]
    raw = np.array([numeric_row(r) for r in requests])
    std = raw.std(axis=0)
    expected = np.where(std > 1e-9, (raw - raw.mean(axis=0)) / np.where(std > 1e-9, std, 1), 0) / np.sqrt(len(NUMERIC))
    np.testing.assert_allclose(X, expected, atol=1e-12)


def test_unknown_categories_are_all_zeros(requests: list) -> None:
    enc = WorkloadEncoder().fit(requests)
    odd = requests[0].model_copy(update={"node_type": "never-seen.metal", "runtime_class": "gvisor"})
    x = enc.transform([odd])[0]
    names = enc.feature_names_
    node_cols = [i for i, n in enumerate(names) if n.startswith("cat__node_type=")]
    assert node_cols and all(x[i] == 0 for i in node_cols)
    known = enc.transform([requests[0]])[0]
    assert any(known[i] != 0 for i in node_cols) == (requests[0].node_type is not None)


def test_text_block_distinguishes_images(requests: list) -> None:
    enc = WorkloadEncoder().fit(requests)
    a = requests[0]
    b = a.model_copy(update={"containers": [c.model_copy(update={"image": "redis:7"}) for c in a.containers]})
    xa, xb = enc.transform([a, b])
    start = len(NUMERIC) + enc.n_categorical_
    text_a, text_b = xa[start:start + enc.text_dim], xb[start:start + enc.text_dim]
    assert np.linalg.norm(text_a) == pytest.approx(enc.text_weight)
    assert not np.allclose(text_a, text_b)
    np.testing.assert_array_equal(xa[:start], xb[:start])


@pytest.mark.parametrize("dim", [128, 7])
def test_memoised_buckets_count_every_token(requests: list, dim: int) -> None:
    """Per-container and per-label memoised counts equal a count over the request's own tokens."""
    import zlib

    from app.ml.features import request_buckets, request_tokens

    for req in requests * 2:  # the second pass is served from the memo
        expected: dict[int, float] = {}
        for token in request_tokens(req):
            h = zlib.crc32(token.encode())
            expected[h % dim] = expected.get(h % dim, 0.0) + (1.0 if h < 2**31 else -1.0)
        assert request_buckets(req, dim) == expected


@pytest.mark.parametrize("image", [
    "nginx", "nginx:1.27", "NGINX:1.27-Alpine", "localhost:5000/app", "localhost:5000/app:v2",
    "reg.io:443/org/team/app:2.1.3-cart@sha256:abc", "app@sha256:deadbeef", "a:b:c", "ghcr.io/x/y:v1.2rc1-slim",
    ":", "", "/", "app:", "repo/app:V10-Ubuntu22-beta", "app:sha-7e9cafe", "app:v1.8.2-9-gdeadbe7",
    "app:1.8.2.post1+build.12", "app:cuda12-2024-06-03", "app:deadbeef-frontend", "app:2.1.3-cart_v2",
])
def test_image_split_and_tag_words_match_their_regex_definitions(image: str) -> None:
    import re

    from app.ml.features import split_image, tag_tokens

    # the definitions the hand-written versions replace, written out with regular expressions here
    ref = re.sub(r"@.*$", "", image.lower())
    m = re.fullmatch(r"(.*):([^:/]*)", ref)
    expected = (m.group(1), m.group(2)) if m else (ref, "")
    assert split_image(image) == expected
    # tag words: per part (split at - _ . +), not a commit hash, the leading letters (none when it starts with
    # a digit), 3+ long, not a base image, architecture, build marker or release channel
    noise = {"alpine", "ubuntu", "slim", "beta", "latest", "sha", "build", "post"}
    words = []
    for part in re.split(r"[-_.+]", expected[1]):
        m = re.match(r"[a-z]+", part)
        if m and not re.fullmatch(r"g?[0-9a-f]{7,}", part) and len(m.group()) > 2 and m.group() not in noise:
            words.append(m.group())
    assert tag_tokens(expected[1]) == [f"tag:{w}" for w in words]


def test_image_tokens() -> None:
    toks = image_tokens("ghcr.io/open-telemetry/demo:2.1.3-cart@sha256:abc")
    assert toks.count("img:demo") == 2
    assert not any(t.startswith("reg:") for t in toks)  # where an image is kept says nothing of what it does
    assert "org:open-telemetry" in toks and "tag:cart" in toks
    assert not any(t.startswith("tag:2") for t in toks)


def test_fit_needs_data() -> None:
    with pytest.raises(PodPowerError):
        WorkloadEncoder().fit([])


def test_sbert_missing_model_is_a_clear_error(tmp_path: Path, requests: list) -> None:
    with pytest.raises(PodPowerError, match="SBERT model not found"):
        WorkloadEncoder(sbert=True, sbert_model_path=str(tmp_path)).fit(requests)


@pytest.mark.sbert
def test_sbert_embeddings_from_the_local_model(requests: list, tmp_path: Path, monkeypatch) -> None:
    try:
        import sentence_transformers  # noqa: F401

        from app.ml.features import default_sbert_path
        path = default_sbert_path()
    except (ImportError, PodPowerError) as exc:
        need(False, f"SBERT not installed ({exc}); pip install -r requirements-sbert.txt")
        return
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = WorkloadEncoder(sbert=True, sbert_model_path=str(path)).fit(requests)
    assert enc.sbert_dim_ == 384
    X = enc.transform(requests)
    emb = X[:, -384:] / enc.sbert_weight
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # the same text embeds the same; different workloads embed differently
    assert not np.allclose(emb[0], emb[1])
    saved = load_encoder(save_encoder(enc, tmp_path / "sbert.npz"))
    np.testing.assert_allclose(saved.transform(requests), X, atol=1e-5)


def test_text_block_is_each_releases_own_token_count(requests: list) -> None:
    """The text memo is keyed without versions and boilerplate labels (`text_parts`): each release of an
    image still encodes to the normalised count of its own tokens, computed here from `request_tokens`."""
    import zlib

    from app.ml.features import request_tokens, split_image

    enc = WorkloadEncoder().fit(requests)
    start, dim = len(NUMERIC) + enc.n_categorical_, enc.text_dim
    for req in requests:
        first = req.containers[0]
        for version in ("1.0.0", "1.0.1-cart", "2.0.0-cart", "3.1.4-slim", "deadbeef1", ""):
            image = split_image(first.image)[0] + (f":{version}" if version else "")
            r = req.model_copy(update={"containers": [first.model_copy(update={"image": image}), *req.containers[1:]],
                                       "labels": {**req.labels, "pod-template-hash": version or "x"}})
            expected = np.zeros(dim)
            for token in request_tokens(r):
                h = zlib.crc32(token.encode())
                expected[h % dim] += 1.0 if h < 2**31 else -1.0
            expected *= enc.text_weight / np.linalg.norm(expected)
            np.testing.assert_array_equal(enc.encode_one(r)[start:start + dim], expected)
