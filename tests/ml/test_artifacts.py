"""Code-free artifacts (`app.ml.artifacts`): exact round trips, and a clear refusal for every broken file.

Expectations come from the objects before saving (predictions and arrays compared bit for bit) and
from files edited with plain numpy (`tests.artifact_files`), not from the saver's own code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.adapters.files import read_requests
from app.cli.main import main
from app.core.errors import ArtifactError
from app.ml.artifacts import load_encoder, load_model, load_pair, save_encoder, save_model
from app.ml.features import WorkloadEncoder
from app.serving.predictor import Predictor
from app.workloads.convert import complete_request
from tests.artifact_files import copy_artifacts, members, rewrite
from tests.conftest import EXAMPLES

EXAMPLE_FILES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".json"))


@dataclass
class Trained:
    """In-memory objects, before any saving: the reference every loaded copy is compared with."""

    requests: list
    encoder: WorkloadEncoder
    models: dict[str, tuple[Any, dict[str, Any], dict[str, Any] | None]]


@pytest.fixture(scope="module")
def trained() -> Trained:
    """A small simulated cluster: the encoder, a plain KNN and the tuned physics KNN with serving extras."""
    from app.ml.dataset import features_frame, join
    from app.pipelines.encoding import fit_encoder
    from app.pipelines.training import train_model, train_tuned_model
    from app.simulate import ground_truth_frame, simulate_cluster
    from app.workloads.convert import requests_from_objects

    cluster = simulate_cluster(seed=5, n_workloads=40, hours=2.0)
    reqs = [complete_request(r) for r in requests_from_objects(cluster.manifests, "sim").requests]
    encoder = fit_encoder(reqs)
    rows, _ = join(features_frame(reqs, encoder.transform(reqs)), ground_truth_frame(cluster))
    plain, plain_card = train_model(rows, n_neighbors=3, n_splits=3)
    tuned, tuned_card, extras = train_tuned_model(rows, feature_names=list(encoder.feature_names_), n_splits=3)
    assert extras["training_workloads"].get("cpu_cores_used"), "the simulator labels usage: extras carry it"
    return Trained(reqs, encoder, {"plain": (plain, plain_card, None), "tuned": (tuned, tuned_card, extras)})


def saved(trained: Trained, which: str, d: Path) -> tuple[Path, Path]:
    model, card, extras = trained.models[which]
    enc = save_encoder(trained.encoder, d / "encoder.npz")
    path, _ = save_model(model, card, d / "knn_energy.npz", extras=extras, encoder_path=enc)
    return enc, path


@pytest.fixture
def tuned_files(trained: Trained, tmp_path: Path) -> tuple[Path, Path]:
    return saved(trained, "tuned", tmp_path)


# -- exact round trips -----------------------------------------------------------------------------
def test_encoder_round_trip_is_bit_exact_on_the_training_matrix(trained: Trained, tmp_path: Path) -> None:
    enc = trained.encoder
    again = load_encoder(save_encoder(enc, tmp_path / "encoder.npz"))
    X = enc.transform(trained.requests)
    Y = again.transform(trained.requests)
    assert X.shape == Y.shape and X.tobytes() == Y.tobytes()
    for req, row in zip(trained.requests, X, strict=True):
        assert again.encode_one(req).tobytes() == row.tobytes()
    assert again.get_params() == enc.get_params()
    assert again.feature_names_ == enc.feature_names_ and again.categories_ == enc.categories_
    assert again.cat_index_ == enc.cat_index_ and again.cat_offsets_ == enc.cat_offsets_
    assert again.num_mean_.tobytes() == enc.num_mean_.tobytes()
    assert again.num_scale_.tobytes() == enc.num_scale_.tobytes()


@pytest.mark.parametrize("which", ["plain", "tuned"])
def test_round_trip_predicts_bit_identically_on_every_example(trained: Trained, which: str, tmp_path: Path) -> None:
    model, _, extras = trained.models[which]
    enc_path, model_path = saved(trained, which, tmp_path)
    loaded = Predictor.load(enc_path, model_path)
    before = Predictor(trained.encoder, model, json.loads(model_path.with_name("knn_energy.card.json").read_text()),
                       extras=extras)
    assert type(loaded.model) is type(model)
    for attr in ("X_", "y_", "y_fit_", "sq_norms_", "half_sq_norms_", *(("offset_",) if which == "tuned" else ())):
        assert getattr(loaded.model, attr).tobytes() == getattr(model, attr).tobytes(), attr
    assert loaded.model.get_params().keys() == model.get_params().keys()
    opts = {"explain": True, "hours": 24.0, "grid_gco2_per_kwh": 400.0}
    n = 0
    for path in EXAMPLE_FILES:
        reqs = read_requests(path).requests
        want = [p.model_dump() for p in before.predict_many(reqs, path.name, **opts)]
        assert [p.model_dump() for p in loaded.predict_many(reqs, path.name, **opts)] == want, path.name
        # the API's one-request path (its own arithmetic), on fresh predictors: no cache shared with the batch
        single, single_before = Predictor.load(enc_path, model_path), Predictor(before.encoder, model, before.card,
                                                                                extras=extras)
        assert ([single.predict(r, path.name, **opts).model_dump() for r in reqs]
                == [single_before.predict(r, path.name, **opts).model_dump() for r in reqs]), path.name
        n += len(reqs)
    assert n >= len(EXAMPLE_FILES)
    if which == "tuned":
        assert want[0]["pred_avg_power_w_low"] is not None and want[0]["neighbors"], "extras were exercised"


def test_same_objects_save_to_the_same_bytes(trained: Trained, tmp_path: Path) -> None:
    a = saved(trained, "tuned", tmp_path / "a")
    b = saved(trained, "tuned", tmp_path / "b")
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name


def test_card_records_the_files_sha256(tuned_files: tuple[Path, Path]) -> None:
    enc, model = tuned_files
    card = json.loads(model.with_name("knn_energy.card.json").read_text())
    for which, path in (("encoder", enc), ("model", model)):
        data = path.read_bytes()
        assert card["artifacts"][which] == {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(),
                                            "bytes": len(data)}


def test_files_hold_only_known_plain_members(tuned_files: tuple[Path, Path]) -> None:
    meta, arrays = members(tuned_files[1])
    assert meta["kind"] == "k8spodpcp-model" and meta["estimator"] == "PhysicsKNNRegressor"
    assert all(a.dtype == np.float64 for a in arrays.values())
    optional = {"feature_weights"}  # absent when the tuned block weights are all 1
    assert set(arrays) - optional == {"rows", "y", "y_fit", "offset", "gpus", "base_w", "ood_distance",
                                      "training_workloads.measured_avg_power_w", "training_workloads.duration_s",
                                      "training_workloads.cpu_cores_used", "training_workloads.mem_bytes_used"}


# -- refusals: fields --------------------------------------------------------------------------------
def _set(*keys: str, value: Any) -> Callable[[dict, dict], None]:
    def edit(meta: dict, arrays: dict) -> None:
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit


def _drop(*keys: str) -> Callable[[dict, dict], None]:
    def edit(meta: dict, arrays: dict) -> None:
        d = meta
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]
    return edit


def _array(name: str, change: Callable[[np.ndarray], Any] | None) -> Callable[[dict, dict], None]:
    def edit(meta: dict, arrays: dict) -> None:
        if change is None:
            del arrays[name]
        else:
            arrays[name] = change(arrays.get(name, np.zeros(1)))
    return edit


def _nan_first(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flat[0] = np.nan
    return a


ENCODER_EDITS = [
    (_set("params", "text_dim", value="128"), "field 'params.text_dim': must be int"),
    (_set("params", "text_dim", value=True), "field 'params.text_dim': must be int"),
    (_drop("params", "sbert"), "field 'params.sbert': missing"),
    (_set("params", "eval", value="__import__('os')"), "field 'params.eval': unknown field"),
    (_set("surprise", value=1), "field 'surprise': unknown field"),
    (_drop("feature_names"), "field 'feature_names': missing"),
    (_set("schema_version", value="v0"), "rebuild it with `python -m app encode fit`"),
    (_set("format", value=2), "artifact format 2, this version reads 1"),
    (_set("categories", "qos_class", value=["Burstable", "Burstable"]),
     "field 'categories.qos_class': holds a value twice"),
    (_set("categories", "qos_class", value="Burstable"), "field 'categories.qos_class': must be a list of strings"),
    (_set("feature_names", value=["x"]), "field 'feature_names': do not match"),
    (_set("sbert_dim", value=384), "field 'sbert_dim'"),
    (_array("num_mean", lambda a: a.astype(np.float32)), "field 'num_mean': must be float64, got float32"),
    (_array("num_scale", lambda a: a[:-1]), "field 'num_scale': must have shape (16,), got (15,)"),
    (_array("num_scale", lambda a: a * 0), "field 'num_scale': must be positive"),
    (_array("num_mean", _nan_first), "field 'num_mean': holds NaN"),
    (_array("num_mean", None), "field 'num_mean': missing"),
    (_array("extra", lambda a: a), "field 'extra': unknown array"),
]


@pytest.mark.parametrize(("edit", "why"), ENCODER_EDITS, ids=[w for _, w in ENCODER_EDITS])
def test_encoder_field_errors_name_the_file_and_field(edit: Callable, why: str, tuned_files: tuple[Path, Path]) -> None:
    enc = tuned_files[0]
    meta, arrays = members(enc)
    edit(meta, arrays)
    rewrite(enc, meta, arrays)
    with pytest.raises(ArtifactError) as err:
        load_encoder(enc)
    assert str(err.value).startswith(f"{enc}: ") and why in str(err.value)


MODEL_EDITS = [
    (_set("estimator", value="os.system"), "field 'estimator': must be one of KNNEnergyRegressor, PhysicsKNNRegressor"),
    (_set("params", "n_neighbors", value=0),
     "field 'params': The 'n_neighbors' parameter of PhysicsKNNRegressor must be an int in the range"),
    (_set("params", "metric", value="manhattan"),
     "field 'params': The 'metric' parameter of PhysicsKNNRegressor must be a str among"),
    (_set("params", "offset_scale", value="1"), "field 'params.offset_scale': must be float"),
    (_drop("params", "weights"), "field 'params.weights': missing"),
    (_drop("extras", "interval"), "field 'extras.interval': missing"),
    (_set("extras", "interval", "level", value=2.0), "field 'extras.interval': level must be in (0, 1)"),
    (_set("extras", "training_workloads", "namespace", value=["a"]),
     "field 'extras.training_workloads.namespace': must have"),
    (_set("extras", "training_workloads", "pickle", value=[]), "field 'extras.training_workloads.pickle': unknown"),
    (_array("rows", _nan_first), "field 'rows': holds NaN"),
    (_array("rows", lambda a: a.ravel()), "field 'rows': must have shape (n, n), got"),
    (_array("y", lambda a: a[:-1]), "field 'y': must have shape"),
    (_array("y_fit", lambda a: a.astype(">f8")), "field 'y_fit': must be float64"),
    (_array("ood_distance", None), "field 'ood_distance': missing"),
    (_array("ood_distance", lambda a: -a), "field 'ood_distance': must be ≥ 0"),
    (_array("training_workloads.duration_s", None), "field 'training_workloads.duration_s': missing"),
    (_array("sq_norms", lambda a: a), "field 'sq_norms': unknown array"),
    (_array("base_w", None), "field 'base_w': missing (gpus and base_w go together)"),
    (_array("gpus", lambda a: a - 1.0), "field 'gpus': must be >= 0, with base_w > 0"),
    (_array("base_w", lambda a: a * 0.0), "field 'gpus': must be >= 0, with base_w > 0"),
    (_array("gpus", _nan_first), "field 'gpus': holds NaN"),
]


@pytest.mark.parametrize(("edit", "why"), MODEL_EDITS, ids=[w for _, w in MODEL_EDITS])
def test_model_field_errors_name_the_file_and_field(edit: Callable, why: str, tuned_files: tuple[Path, Path]) -> None:
    model = tuned_files[1]
    meta, arrays = members(model)
    edit(meta, arrays)
    rewrite(model, meta, arrays)  # the card resealed: the field check, not the checksum, must catch it
    with pytest.raises(ArtifactError) as err:
        load_model(model)
    assert str(err.value).startswith(f"{model}: ") and why in str(err.value)


# -- refusals: whole files -------------------------------------------------------------------------
def _flip_last_data_byte(data: bytes) -> bytes:
    i = data.index(b"PK\x01\x02") - 20  # inside the last member's compressed data, before the central directory
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


FILE_EDITS = [
    (lambda d: d[:200], "cannot read artifact"),
    (lambda d: d[: len(d) // 2], "cannot read artifact"),
    (_flip_last_data_byte, "cannot read"),
    (lambda d: b"", "not an .npz file: no zip header"),
    (lambda d: b"kind: not-a-model\n", "not an .npz file: no zip header"),
]


@pytest.mark.parametrize(("corrupt", "why"), FILE_EDITS, ids=["truncated-200", "truncated-half", "flipped", "empty",
                                                               "text"])
def test_corrupt_encoder_gives_a_clear_reason(corrupt: Callable[[bytes], bytes], why: str,
                                              tuned_files: tuple[Path, Path]) -> None:
    enc = tuned_files[0]
    enc.write_bytes(corrupt(enc.read_bytes()))
    with pytest.raises(ArtifactError) as err:
        load_encoder(enc)
    assert str(err.value).startswith(f"{enc}: ") and why in str(err.value)


@pytest.mark.parametrize(("meta", "why"), [
    (b"[" * 100_000 + b"]" * 100_000, "field 'meta': not UTF-8 JSON (RecursionError"),
    (b'{"kind": NaN}', "field 'meta': not UTF-8 JSON (ValueError: NaN is not JSON"),
    (b"\xff\xfe", "field 'meta': not UTF-8 JSON"),
    (b'["k8spodpcp-encoder"]', "not a k8spodpcp-encoder artifact"),
], ids=["deep", "nan", "not-utf8", "not-an-object"])
def test_meta_that_is_not_a_json_object(meta: bytes, why: str, tuned_files: tuple[Path, Path]) -> None:
    enc = tuned_files[0]
    _, arrays = members(enc)
    rewrite(enc, np.frombuffer(meta, np.uint8), arrays)
    with pytest.raises(ArtifactError) as err:
        load_encoder(enc)
    assert str(err.value).startswith(f"{enc}: ") and why in str(err.value)


def test_corrupt_model_is_caught_by_its_card_first(tuned_files: tuple[Path, Path]) -> None:
    model = tuned_files[1]
    card = model.with_name("knn_energy.card.json")
    data = model.read_bytes()
    model.write_bytes(data[:200])
    with pytest.raises(ArtifactError, match=rf"does not match the model card {card} \(200 bytes where the card "
                                            rf"records {len(data)}: truncated or replaced\)"):
        load_model(model)
    flipped = _flip_last_data_byte(data)
    model.write_bytes(flipped)
    with pytest.raises(ArtifactError, match=f"SHA-256 {hashlib.sha256(flipped).hexdigest()} where the card records "
                                            f"{hashlib.sha256(data).hexdigest()}"):
        load_model(model)


def test_encoder_of_another_run_is_refused(trained: Trained, tuned_files: tuple[Path, Path], tmp_path: Path) -> None:
    enc, model = tuned_files
    other = save_encoder(WorkloadEncoder(text_weight=1.0).fit(trained.requests), tmp_path / "other" / "encoder.npz")
    load_encoder(other)  # a sound encoder on its own
    with pytest.raises(ArtifactError, match=rf"^{other}: does not match the model card "
                                            rf"{model.with_name('knn_energy.card.json')} \((SHA-256 |\d+ bytes where)"):
        load_pair(other, model)
    assert load_pair(enc, model)[0].text_weight == trained.encoder.text_weight


def test_swapped_paths_say_what_each_file_is(tuned_files: tuple[Path, Path]) -> None:
    enc, model = tuned_files
    with pytest.raises(ArtifactError, match=rf"^{model}: not a k8spodpcp-encoder artifact \(it is a k8spodpcp-model\)"):
        load_pair(model, enc)


def test_card_missing_or_without_checksum(tuned_files: tuple[Path, Path]) -> None:
    model = tuned_files[1]
    card = model.with_name("knn_energy.card.json")
    body = json.loads(card.read_text())
    del body["artifacts"]
    card.write_text(json.dumps(body))
    with pytest.raises(ArtifactError, match="field 'artifacts.model.sha256' missing"):
        load_model(model)
    card.write_text("{not json")
    with pytest.raises(ArtifactError, match=f"{card}: cannot read the model card"):
        load_model(model)
    card.unlink()
    with pytest.raises(ArtifactError, match=f"{card}: file not found"):
        load_model(model)
    with pytest.raises(ArtifactError, match=f"{model.with_name('gone.npz')}: file not found"):
        load_model(model.with_name("gone.npz"))


def test_saving_refuses_what_the_format_would_drop(trained: Trained, tmp_path: Path) -> None:
    model, card, extras = trained.models["tuned"]
    with pytest.raises(ArtifactError, match="artifact files end in .npz"):
        save_encoder(trained.encoder, tmp_path / "encoder.joblib")
    model.surprise_ = 1
    try:
        with pytest.raises(ArtifactError, match="attribute 'surprise_' has no place"):
            save_model(model, card, tmp_path / "m.npz", extras=extras)
    finally:
        del model.surprise_
    with pytest.raises(ArtifactError, match="extras field 'callback'"):
        save_model(model, card, tmp_path / "m.npz", extras={**extras, "callback": print})
    assert not (tmp_path / "m.npz").exists()


# -- the offline converter -------------------------------------------------------------------------
def test_convert_old_joblib_pair_predicts_the_same(trained: Trained, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Old artifacts, written as the joblib saver did, converted by the CLI: same answers, bit for bit."""
    import joblib

    model, card, extras = trained.models["tuned"]
    old = tmp_path / "old"
    old.mkdir()
    old_card = {**card, "versions": {"numpy": "x", "scikit-learn": "y"}, "created_at": "2026-01-01T00:00:00+00:00"}
    joblib.dump({"kind": "k8spodpcp-encoder", "schema_version": "v1", "feature_names": trained.encoder.feature_names_,
                 "versions": old_card["versions"], "encoder": trained.encoder}, old / "encoder.joblib")
    joblib.dump({"kind": "k8spodpcp-model", "model": model, "card": old_card, "versions": old_card["versions"],
                 "extras": extras}, old / "knn_energy.joblib")
    code = main(["artifacts", "convert", str(old / "encoder.joblib"), str(old / "knn_energy.joblib"),
                 "--out", str(tmp_path / "new")])
    assert code == 0, capsys.readouterr().err
    new = tmp_path / "new"
    assert sorted(p.name for p in new.iterdir()) == ["encoder.npz", "knn_energy.card.json", "knn_energy.npz"]
    loaded = Predictor.load(new / "encoder.npz", new / "knn_energy.npz")
    assert loaded.card["created_at"] == old_card["created_at"] and loaded.card["converted_from"] == "knn_energy.joblib"
    assert loaded.card["model_version"] == card["model_version"]
    before = Predictor(trained.encoder, model, loaded.card, extras=extras)
    for path in EXAMPLE_FILES:
        reqs = read_requests(path).requests
        assert ([p.model_dump() for p in loaded.predict_many(reqs, explain=True, hours=24)]
                == [p.model_dump() for p in before.predict_many(reqs, explain=True, hours=24)]), path.name
    # the server-side loaders never read the joblib files, and say how to convert them
    with pytest.raises(ArtifactError, match=rf"python -m app artifacts convert {old / 'knn_energy.joblib'} --out DIR"):
        Predictor.load(new / "encoder.npz", old / "knn_energy.joblib")


def test_convert_refuses_what_is_not_an_old_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import joblib

    joblib.dump({"kind": "something-else"}, tmp_path / "x.joblib")
    assert main(["artifacts", "convert", str(tmp_path / "x.joblib"), "--out", str(tmp_path / "o")]) == 2
    assert "not a k8spodpcp-encoder or k8spodpcp-model joblib artifact" in capsys.readouterr().err
    assert main(["artifacts", "convert", str(tmp_path / "nope.joblib"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.joblib: file not found" in capsys.readouterr().err


def test_copied_artifacts_stay_loadable(tuned_files: tuple[Path, Path], tmp_path: Path) -> None:
    """Publishing copies bytes (k8s publish step): the card's checksums still hold in the new place."""
    enc, model = copy_artifacts(*tuned_files, tmp_path / "published")
    assert load_pair(enc, model)[1].n_features_in_ == load_encoder(enc).n_features_out_


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member that unpacks past the limit (100 MiB of zeros, ~100 KB on disk, against a 64 MiB limit here)
    is refused from its declared size, before anything is decompressed."""
    import zipfile

    from app.ml import artifacts

    monkeypatch.setattr(artifacts, "MAX_UNPACKED_BYTES", 64 * 2**20)
    bomb = tmp_path / "encoder.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("num_mean.npy", "w") as member:
        for _ in range(100):
            member.write(bytes(2**20))
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ArtifactError, match=r"unpacks to 104,857,600 bytes, more than 67,108,864"):
        load_encoder(bomb)


def test_a_model_saved_before_the_gpu_arrays_still_loads(tuned_files: tuple[Path, Path]) -> None:
    """Without `gpus`/`base_w` (files written before 2026-12-01) the model loads and scales no neighbour
    by GPUs alone; with them, a round trip keeps both arrays bit for bit."""
    model_path = tuned_files[1]
    meta, arrays = members(model_path)
    saved = load_model(model_path)[0]
    np.testing.assert_array_equal(saved.gpus_, arrays["gpus"])
    np.testing.assert_array_equal(saved.base_w_, arrays["base_w"])
    del arrays["gpus"], arrays["base_w"]
    rewrite(model_path, meta, arrays)
    old = load_model(model_path)[0]
    assert old.gpus_ is None and old.base_w_ is None
