"""Artifacts that hold no code: the encoder and the model as numpy arrays plus JSON, never pickles.

Rule: reading an artifact must not be able to run code. A pickle (joblib) runs whatever its
`__reduce__` says while it is being read, before any check, as the reading process's user; the
artifacts live on a volume a Job writes, so the API would trust every writer of that volume with a
shell. Here an artifact is plain data, and the objects are rebuilt from it by this module's code.

Format 1 (`FORMAT`):
  * `<name>.npz`: a zip of `.npy` members, read with `numpy.load(allow_pickle=False)` (an object
    array is refused by numpy, not unpickled). Member `meta` is UTF-8 JSON bytes (uint8): `kind`
    (`k8spodpcp-encoder` or `k8spodpcp-model`), `format`, informational library `versions`, and the
    object's parameters; the other members are float64 arrays.
  * `encoder.npz`: meta `schema_version`, `params` (the `WorkloadEncoder` constructor's),
    `categories` (the vocabulary per categorical field), `sbert_model_path`, `sbert_dim`,
    `feature_names`; arrays `num_mean`, `num_scale` (one entry per `NUMERIC` feature). An encoder with
    the static text block (`static_text` true) also has the params `static_text`, `static_model_path`,
    `static_weight` and the meta `static_dim`, `static_sha256` (the model's, `app.ml.static_text.model_sha256`:
    loading refuses another model); one without them is written exactly as before the block existed.
  * `knn_energy.npz`: meta `estimator` (`KNNEnergyRegressor` or `PhysicsKNNRegressor`), `params`,
    `extras` (serving extras: `interval`, training workload identities; or null); arrays `rows`
    (training rows as the search reads them), `y`, `y_fit`, `offset` and `feature_weights`
    (physics model), `ood_distance` and `training_workloads.<column>` (with extras).
  * `knn_energy.card.json` (`<model stem>.card.json`): the human-readable model card, whose
    `artifacts` entry records the SHA-256 of the model file and, when it was saved with one, of the
    encoder the model was trained with.

Guarantees: the model file's SHA-256 is checked against its card, and the encoder's against the
card's record, before the bytes are parsed; every member and metadata key is known and has its
dtype, shape and type checked; a missing, unknown or malformed field is an `ArtifactError` naming
the file and the field. Saving refuses an object with state this format would drop. A path ending in
`.joblib`/`.pkl`/`.pickle`, or a file starting like a pickle, is refused with the offline conversion
command (`app.pipelines.convert_joblib`), which alone unpickles, and only when asked to.
Bytes are deterministic: the same object saves to the same file (zip entries carry a fixed date).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ArtifactError
from app.core.schema import SCHEMA_VERSION
from app.ml.features import CATEGORICAL, NUMERIC, WorkloadEncoder
from app.ml.model import KNNEnergyRegressor
from app.ml.tuning import PhysicsKNNRegressor

FORMAT = 1
ENCODER_KIND = "k8spodpcp-encoder"
MODEL_KIND = "k8spodpcp-model"
SUFFIX = ".npz"
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
CONVERT_COMMAND = "python -m app artifacts convert"
META = "meta"
_ZIP_MAGIC = b"PK\x03\x04"
MAX_UNPACKED_BYTES = 4 * 2**30
"""The most an artifact may unpack to (its members' declared sizes, summed): a zip bomb is refused before
anything is decompressed. 4 GiB holds a model of ~2 million training workloads of 256 features."""
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

_ENCODER_PARAMS = {"text_dim": int, "numeric_weight": float, "categorical_weight": float, "text_weight": float,
                   "sbert": bool, "sbert_model_path": str | None, "sbert_weight": float, "software_dim": int,
                   "software_weight": float}
_STATIC_PARAMS = {"static_text": bool, "static_model_path": str | None, "static_weight": float}
_STATIC_META = ("static_dim", "static_sha256")
_ENCODER_STATE = {"num_mean_", "num_scale_", "num_standard_", "categories_", "cat_index_", "cat_offsets_",
                  "n_categorical_", "sbert_model_path_", "sbert_dim_", "n_features_out_", "feature_names_",
                  "_embedder", "_embedding_cache", "static_dim_", "static_sha256_", "_static_model", "_static_cache"}
"""Every attribute a fitted encoder may hold beyond its parameters (`_embedder`, `_static_model` are reloaded and
the caches rebuilt, never saved; `num_standard_` and the other derived ones are rebuilt by `set_fitted_state`)."""

_KNN_PARAMS = {"n_neighbors": int, "weights": str, "metric": str, "log_target": bool}
_ESTIMATORS: dict[str, tuple[type[KNNEnergyRegressor], dict[str, Any]]] = {
    "KNNEnergyRegressor": (KNNEnergyRegressor, _KNN_PARAMS),
    "PhysicsKNNRegressor": (PhysicsKNNRegressor, {**{k: v for k, v in _KNN_PARAMS.items() if k != "log_target"},
                                                  "offset_scale": float}),
}
"""Estimators an artifact may hold, with their JSON parameters (`feature_weights` is an array member)."""
_MODEL_STATE = {"X_", "sq_norms_", "half_sq_norms_", "max_half_sq_norm_", "columns_", "y_", "y_fit_",
                "n_neighbors_", "n_features_in_"}
_PHYSICS_STATE = {"offset_", "feature_weights_", "gpus_", "base_w_"}

_WORKLOAD_TEXT = ("namespace", "workload_kind", "workload_name")
_WORKLOAD_NUMBERS = ("measured_avg_power_w", "duration_s")
_WORKLOAD_USAGE = ("cpu_cores_used", "mem_bytes_used")
_INTERVAL = {"level": float, "q_low": float, "q_high": float, "n_calibration": int, "n_workloads": int | None}


def library_versions() -> dict[str, str]:
    """Library versions at save time: recorded for people, not checked (plain data does not depend on them)."""
    import sklearn

    return {"numpy": np.__version__, "scikit-learn": sklearn.__version__}


def card_path_for(model_path: str | Path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".card.json")


def pickle_refusal(path: Path, why: str) -> ArtifactError:
    return ArtifactError(
        f"{path}: {why}; pickle artifacts can run code when loaded and are no longer read. Convert a file you "
        f"trust once, offline: `{CONVERT_COMMAND} {path} --out DIR`, then point at DIR/<name>{SUFFIX}"
    )


# -- reading ---------------------------------------------------------------------------------------
class _Artifact:
    """One artifact's metadata and arrays; every accessor names the file and field when it refuses them."""

    def __init__(self, path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray], sha256: str,
                 size: int) -> None:
        self.path, self.meta, self.arrays, self.sha256, self.size = path, meta, arrays, sha256, size

    def error(self, field: str, message: str) -> ArtifactError:
        return ArtifactError(f"{self.path}: field {field!r}: {message}")

    def section(self, d: Any, field: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict[str, Any]:
        """`d` as a JSON object with exactly the `required` keys, and any of the `optional` ones."""
        if not isinstance(d, dict):
            raise self.error(field, f"must be an object, got {type(d).__name__}")
        required = set(required)
        missing = sorted(required - d.keys())
        unknown = sorted(d.keys() - required - set(optional))
        prefix = f"{field}." if field else ""
        if missing:
            raise self.error(prefix + missing[0], "missing")
        if unknown:
            raise self.error(prefix + unknown[0], "unknown field (written by a newer version?)")
        return d

    def value(self, value: Any, field: str, kind: Any) -> Any:
        """A JSON value of the given type (`int`, `float`, `bool`, `str`, optionally `| None`)."""
        if value is None and kind in (str | None, int | None):
            return None
        base = {str | None: str, int | None: int}.get(kind, kind)
        if base is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, base) and (base is bool or not isinstance(value, bool)):
            return value
        raise self.error(field, f"must be {getattr(kind, '__name__', str(kind))}, got {json.dumps(value)[:60]}")

    def strings(self, value: Any, field: str, length: int | None = None) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(field, "must be a list of strings")
        if length is not None and len(value) != length:
            raise self.error(field, f"must have {length} entries (one per training row), got {len(value)}")
        return value

    def array(self, name: str, shape: tuple[int | None, ...], *, finite: bool = True,
              optional: bool = False) -> np.ndarray | None:
        """A native-endian float64 member of the given shape (None: any length), copied out of the file."""
        arr = self.arrays.get(name)
        if arr is None:
            if optional:
                return None
            raise self.error(name, "missing")
        if arr.dtype != np.dtype(np.float64):
            raise self.error(name, f"must be float64, got {arr.dtype}")
        if arr.ndim != len(shape) or any(want is not None and got != want
                                         for got, want in zip(arr.shape, shape, strict=True)):
            want_shape = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "")
            raise self.error(name, f"must have shape {want_shape}), got {arr.shape}")
        if finite and not np.isfinite(arr).all():
            raise self.error(name, "holds NaN or infinite values")
        return np.array(arr, dtype=np.float64, order="C")  # writable and aligned, as a fitted array is

    def check_all_read(self, arrays: Iterable[str]) -> None:
        unknown = sorted(set(self.arrays) - set(arrays))
        if unknown:
            raise self.error(unknown[0], "unknown array (written by a newer version?)")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; a missing file, and a pickle (by its name or its first byte), are refused first."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise pickle_refusal(path, f"a {path.suffix} file is a pickle")
    if data[:1] == b"\x80":  # the PROTO opcode every pickle since protocol 2 (and joblib's files) starts with
        raise pickle_refusal(path, "this file is a pickle (e.g. a joblib artifact)")
    return data


def _read(path: Path, kind: str, meta_keys: Iterable[str], expected: dict[str, Any] | None = None,
          recorded_in: Path | None = None, data: bytes | None = None, optional_keys: Iterable[str] = ()) -> _Artifact:
    """Read, checksum and unzip an artifact of the given kind; nothing in it is executed or unpickled.

    `expected` is the card's record of this file (`sha256`, `bytes`), checked before any parsing.
    """
    data = _read_bytes(path) if data is None else data
    sha = hashlib.sha256(data).hexdigest()
    if expected is not None:
        check_recorded(path, len(data), sha, expected, recorded_in)
    if not data.startswith(_ZIP_MAGIC):
        raise ArtifactError(f"{path}: not a {kind} artifact (not an .npz file: no zip header)")
    arrays: dict[str, np.ndarray] = {}
    try:
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ArtifactError(f"{path}: cannot read artifact ({type(exc).__name__}: {exc})") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise ArtifactError(f"{path}: unpacks to {unpacked:,} bytes, more than {MAX_UNPACKED_BYTES:,} "
                            "(a zip bomb, or not a model of this project)")
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # truncated or corrupt zips raise several error types
        raise ArtifactError(f"{path}: cannot read artifact ({type(exc).__name__}: {exc})") from None
    with npz:
        for name in npz.files:
            try:
                arrays[name] = npz[name]
            except Exception as exc:  # object arrays (allow_pickle=False), CRC errors, truncated members
                raise ArtifactError(f"{path}: field {name!r}: cannot read ({type(exc).__name__}: {exc})") from None
    raw = arrays.pop(META, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ArtifactError(f"{path}: not a {kind} artifact (no {META!r} member of JSON bytes)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        raise ArtifactError(f"{path}: field {META!r}: not UTF-8 JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind") if isinstance(meta, dict) else None
        it_is = f" (it is a {found})" if isinstance(found, str) else ""
        raise ArtifactError(f"{path}: not a {kind} artifact{it_is}")
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{path}: artifact format {meta.get('format')!r}, this version reads {FORMAT}; rebuild it "
                            "(python -m app bootstrap, or encode fit / train)")
    art = _Artifact(path, meta, arrays, sha, len(data))
    art.section(meta, "", {"kind", "format", "versions", *meta_keys}, optional_keys)
    return art


def _write(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write the `.npz` atomically (a reader never sees half a file)."""
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ArtifactError(f"{path}: artifact files end in {SUFFIX}")
    text = json.dumps({"format": FORMAT, "versions": library_versions(), **meta}, sort_keys=True, allow_nan=False)
    members = {META: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **arrays}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in members.items():
            if arr.dtype not in (np.dtype(np.float64), np.dtype(np.uint8)):
                raise ArtifactError(f"{path}: field {name!r}: cannot save dtype {arr.dtype}")
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.require(arr, requirements="C"), allow_pickle=False)
    _write_atomic(path, buf.getvalue())
    return path


def _record(path: Path) -> dict[str, Any]:
    """What the model card records of an artifact file, for `check_recorded`."""
    data = path.read_bytes()
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _check_state(obj: Any, allowed: set[str], what: str) -> None:
    """Refuse to save an object holding state this format does not know (it would be silently dropped)."""
    extra = sorted(set(vars(obj)) - set(obj.get_params()) - allowed)
    if extra:
        raise ArtifactError(f"cannot save {what}: attribute {extra[0]!r} has no place in artifact format {FORMAT}")


# -- encoder ---------------------------------------------------------------------------------------
def save_encoder(encoder: WorkloadEncoder, path: str | Path) -> Path:
    """Save a fitted encoder's state (no code); the loader rebuilds it with `set_fitted_state`."""
    encoder._check_fitted()
    _check_state(encoder, _ENCODER_STATE, "the encoder")
    params = encoder.get_params()
    static = bool(encoder.static_dim_)
    if set(params) != set(_ENCODER_PARAMS) | set(_STATIC_PARAMS):
        raise ArtifactError(f"cannot save the encoder: parameters {sorted(params)} differ from format {FORMAT}'s")
    if not static:
        params = {k: v for k, v in params.items() if k not in _STATIC_PARAMS}
    meta = {
        "kind": ENCODER_KIND, "schema_version": SCHEMA_VERSION, "params": params,
        "categories": {f: list(encoder.categories_[f]) for f in CATEGORICAL},
        "sbert_model_path": getattr(encoder, "sbert_model_path_", None), "sbert_dim": int(encoder.sbert_dim_),
        "feature_names": list(encoder.feature_names_),
    }
    if static:
        meta |= {"static_dim": int(encoder.static_dim_), "static_sha256": encoder.static_sha256_}
    return _write(path, meta, {"num_mean": encoder.num_mean_, "num_scale": encoder.num_scale_})


def read_encoder(path: str | Path) -> tuple[WorkloadEncoder, str, int]:
    """Load and check an encoder; returns it with its file's SHA-256 and size (for the model card's check)."""
    art = _read(Path(path), ENCODER_KIND, {"schema_version", "params", "categories", "sbert_model_path", "sbert_dim",
                                           "feature_names"}, optional_keys=_STATIC_META)
    meta = art.meta
    if meta["schema_version"] != SCHEMA_VERSION:
        raise ArtifactError(f"{art.path}: encoder built for schema {meta['schema_version']!r}, this version reads "
                            f"{SCHEMA_VERSION!r}; rebuild it with `python -m app encode fit`")
    static = any(k in meta for k in _STATIC_META)
    param_types = {**_ENCODER_PARAMS, **(_STATIC_PARAMS if static else {})}
    given = art.section(meta["params"], "params", param_types)
    params = {k: art.value(given[k], f"params.{k}", kind) for k, kind in param_types.items()}
    static_state = None
    if static:
        if set(_STATIC_META) - meta.keys():
            raise art.error(sorted(set(_STATIC_META) - meta.keys())[0], "missing (the other static field is given)")
        dim = art.value(meta["static_dim"], "static_dim", int)
        sha = art.value(meta["static_sha256"], "static_sha256", str)
        if dim < 1 or not params["static_text"]:
            raise art.error("static_dim", f"must be ≥ 1, and given only with params.static_text true; got {dim}")
        static_state = (dim, sha)
    if params["text_dim"] < 1:
        raise art.error("params.text_dim", f"must be ≥ 1, got {params['text_dim']}")
    if params["software_dim"] < 0:
        raise art.error("params.software_dim", f"must be ≥ 0, got {params['software_dim']}")
    cats = art.section(meta["categories"], "categories", CATEGORICAL)
    for field in CATEGORICAL:
        if len(set(art.strings(cats[field], f"categories.{field}"))) != len(cats[field]):
            raise art.error(f"categories.{field}", "holds a value twice")
    sbert_path = art.value(meta["sbert_model_path"], "sbert_model_path", str | None)
    sbert_dim = art.value(meta["sbert_dim"], "sbert_dim", int)
    if sbert_dim < 0 or (sbert_dim and sbert_path is None):
        raise art.error("sbert_dim", f"must be ≥ 0, and > 0 only with an sbert_model_path; got {sbert_dim}")
    num_mean = art.array("num_mean", (len(NUMERIC),))
    num_scale = art.array("num_scale", (len(NUMERIC),))
    assert num_mean is not None and num_scale is not None
    if not (num_scale > 0).all():
        raise art.error("num_scale", "must be positive")
    art.check_all_read(("num_mean", "num_scale"))
    encoder = WorkloadEncoder(**params).set_fitted_state(num_mean, num_scale, cats, sbert_path, sbert_dim,
                                                         static_state)
    if encoder.feature_names_ != art.strings(meta["feature_names"], "feature_names"):
        raise art.error("feature_names", "do not match the stored vocabularies; rebuild the encoder")
    return encoder, art.sha256, art.size


def load_encoder(path: str | Path) -> WorkloadEncoder:
    return read_encoder(path)[0]


# -- model -----------------------------------------------------------------------------------------
def save_model(model: KNNEnergyRegressor, card: dict[str, Any], path: str | Path,
               extras: dict[str, Any] | None = None, encoder_path: str | Path | None = None) -> tuple[Path, Path]:
    """Save the model (`.npz`) and its card (`<stem>.card.json`, recording the files' SHA-256).

    `extras` (optional) is what serving needs beyond the model (`app.serving.extras`): the conformal
    interval, the training workloads in the model's row order, the typical nearest-neighbour distance.
    `encoder_path`, when given, records that encoder's SHA-256 so serving refuses any other encoder.
    """
    name = type(model).__name__
    if _ESTIMATORS.get(name, (None,))[0] is not type(model):
        raise ArtifactError(f"cannot save a {name}: artifacts hold {' or '.join(_ESTIMATORS)}")
    cls = _ESTIMATORS[name][0]
    physics = cls is PhysicsKNNRegressor
    _check_state(model, _MODEL_STATE | (_PHYSICS_STATE if physics else set()), f"the {name}")
    params = {k: v.item() if isinstance(v, np.generic) else v
              for k, v in model.get_params().items() if k != "feature_weights"}
    arrays: dict[str, np.ndarray] = {"rows": model.X_, "y": np.asarray(model.y_, dtype=np.float64),
                                     "y_fit": np.asarray(model.y_fit_, dtype=np.float64)}
    if physics:
        arrays["offset"] = model.offset_
        if getattr(model, "gpus_", None) is not None:  # the GPU part of the prior ratio (`pair_shift`)
            arrays["gpus"], arrays["base_w"] = model.gpus_, model.base_w_
        if model.feature_weights_ is not None:
            arrays["feature_weights"] = model.feature_weights_
    meta: dict[str, Any] = {"kind": MODEL_KIND, "estimator": name, "params": params, "extras": None}
    if extras:
        meta["extras"] = _extras_to_plain(extras, len(model.X_), arrays)
    path = _write(path, meta, arrays)
    files: dict[str, Any] = {"format": FORMAT, "model": _record(path)}
    if encoder_path is not None:
        files["encoder"] = _record(Path(encoder_path))
    now = dt.datetime.now(dt.UTC).isoformat()
    card = {"versions": library_versions(), "created_at": now, **card, "artifacts": files}
    card_path = card_path_for(path)
    _write_atomic(card_path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    return path, card_path


def _extras_to_plain(extras: dict[str, Any], n_rows: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    unknown = sorted(extras.keys() - {"interval", "ood_distance", "training_workloads"})
    if unknown:
        raise ArtifactError(f"cannot save extras field {unknown[0]!r}: no place in artifact format {FORMAT}")
    table = dict(extras["training_workloads"])
    extra_cols = sorted(table.keys() - {*_WORKLOAD_TEXT, *_WORKLOAD_NUMBERS, *_WORKLOAD_USAGE})
    if extra_cols:
        raise ArtifactError(f"cannot save training_workloads column {extra_cols[0]!r}: no place in format {FORMAT}")
    arrays["ood_distance"] = np.asarray(float(extras["ood_distance"]), dtype=np.float64)
    for col in (*_WORKLOAD_NUMBERS, *_WORKLOAD_USAGE):
        if col in table:
            arrays[f"training_workloads.{col}"] = np.asarray(table[col], dtype=np.float64).reshape(n_rows)
    return {"interval": dict(extras["interval"]),
            "training_workloads": {col: [str(v) for v in table[col]] for col in _WORKLOAD_TEXT}}


def read_card(model_path: str | Path) -> tuple[dict[str, Any], Path]:
    """The model card beside `model_path`, which must record the model file's SHA-256."""
    card_path = card_path_for(model_path)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{card_path}: file not found (the model card, beside the model, records its "
                            "SHA-256; publish the files of one run together)") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{card_path}: cannot read the model card ({exc})") from None
    recorded = card.get("artifacts") if isinstance(card, dict) else None
    sha = recorded.get("model", {}).get("sha256") if isinstance(recorded, dict) and isinstance(
        recorded.get("model"), dict) else None
    if not isinstance(sha, str):
        raise ArtifactError(f"{card_path}: field 'artifacts.model.sha256' missing: the card does not record the "
                            "model file's SHA-256; retrain (or convert) the model")
    return card, card_path


def recorded(card: dict[str, Any], which: str) -> dict[str, Any] | None:
    """The card's record (`file`, `sha256`, `bytes`) of the model or the encoder, if it holds one."""
    entry = card.get("artifacts", {}).get(which)
    return entry if isinstance(entry, dict) and isinstance(entry.get("sha256"), str) else None


def check_recorded(path: Path, size: int, sha: str, expected: dict[str, Any], card_path: Path | None) -> None:
    """Refuse a file whose SHA-256 differs from the card's record, saying whether its size differs too."""
    if sha == expected["sha256"]:
        return
    want = expected.get("bytes")
    if isinstance(want, int) and want != size:
        how = f"{size} bytes where the card records {want}: truncated or replaced"
    else:
        how = f"SHA-256 {sha} where the card records {expected['sha256']}"
    raise ArtifactError(f"{path}: does not match the model card {card_path} ({how}); publish the files of one run "
                        "together, or retrain")


def load_model(path: str | Path) -> tuple[KNNEnergyRegressor, dict[str, Any], dict[str, Any]]:
    """Load a model with its card and serving extras (empty when saved without), after the SHA-256 check."""
    path = Path(path)
    data = _read_bytes(path)
    card, card_path = read_card(path)
    art = _read(path, MODEL_KIND, {"estimator", "params", "extras"}, recorded(card, "model"), card_path, data)
    name = art.meta["estimator"]
    if name not in _ESTIMATORS:
        raise art.error("estimator", f"must be one of {', '.join(_ESTIMATORS)}, got {json.dumps(name)[:60]}")
    cls, param_types = _ESTIMATORS[name]
    given = art.section(art.meta["params"], "params", param_types)
    params = {k: art.value(given[k], f"params.{k}", kind) for k, kind in param_types.items()}
    rows = art.array("rows", (None, None))
    assert rows is not None
    n, d = rows.shape
    if n < 1 or d < 1:
        raise art.error("rows", f"must hold at least one row and column, got shape {rows.shape}")
    model = cls(**params)
    names = ["rows", "y", "y_fit"]
    if cls is PhysicsKNNRegressor:
        fw = art.array("feature_weights", (d,), optional=True)
        model.set_params(feature_weights=fw)
        model.feature_weights_ = fw
        model.offset_ = art.array("offset", (n,), finite=False)  # NaN: no informative prior for that row
        gpus, base_w = art.array("gpus", (n,), optional=True), art.array("base_w", (n,), optional=True)
        if (gpus is None) != (base_w is None):
            raise art.error("gpus" if gpus is None else "base_w", "missing (gpus and base_w go together)")
        if gpus is not None and base_w is not None and (np.any(gpus < 0) or np.any(base_w <= 0)):
            raise art.error("gpus", "must be >= 0, with base_w > 0")
        model.gpus_, model.base_w_ = gpus, base_w  # None in a model saved before 2026-12-01: no GPU scaling
        names += ["feature_weights", "offset", "gpus", "base_w"]
    try:
        model._validate_params()
    except ValueError as exc:
        raise art.error("params", str(exc)) from None
    model.set_search_rows(rows)
    model.y_ = art.array("y", (n,))
    model.y_fit_ = art.array("y_fit", (n,))
    model.n_neighbors_ = min(int(model.n_neighbors), n)
    model.n_features_in_ = d
    extras = {} if art.meta["extras"] is None else _extras_from_plain(art, n, names)
    art.check_all_read(names)
    return model, card, extras


def _extras_from_plain(art: _Artifact, n_rows: int, names: list[str]) -> dict[str, Any]:
    plain = art.section(art.meta["extras"], "extras", {"interval", "training_workloads"})
    given = art.section(plain["interval"], "extras.interval", _INTERVAL)
    interval = {k: art.value(given[k], f"extras.interval.{k}", kind) for k, kind in _INTERVAL.items()}
    if not 0 < interval["level"] < 1 or not (math.isfinite(interval["q_low"]) and math.isfinite(interval["q_high"])):
        raise art.error("extras.interval", "level must be in (0, 1) and the quantiles finite")
    text = art.section(plain["training_workloads"], "extras.training_workloads", _WORKLOAD_TEXT)
    table: dict[str, list[Any]] = {col: art.strings(text[col], f"extras.training_workloads.{col}", n_rows)
                                   for col in _WORKLOAD_TEXT}
    for col in (*_WORKLOAD_NUMBERS, *_WORKLOAD_USAGE):
        name = f"training_workloads.{col}"
        arr = art.array(name, (n_rows,), finite=False, optional=col in _WORKLOAD_USAGE)
        if arr is not None:
            table[col] = arr.tolist()  # Python floats, as training built them
            names.append(name)
    ood = art.array("ood_distance", (), finite=False)
    assert ood is not None
    if not float(ood) >= 0:
        raise art.error("ood_distance", f"must be ≥ 0, got {float(ood)}")
    names.append("ood_distance")
    return {"interval": interval, "ood_distance": float(ood), "training_workloads": table}


def load_pair(encoder_path: str | Path, model_path: str | Path
              ) -> tuple[WorkloadEncoder, KNNEnergyRegressor, dict[str, Any], dict[str, Any]]:
    """Encoder, model, card and extras, checking the encoder is the one the card records (when it does)."""
    encoder, encoder_sha, size = read_encoder(encoder_path)
    model, card, extras = load_model(model_path)
    expected = recorded(card, "encoder")
    if expected is not None:
        check_recorded(Path(encoder_path), size, encoder_sha, expected, card_path_for(model_path))
    return encoder, model, card, extras
