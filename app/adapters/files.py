"""File adapter: read specs and tables from disk, write NDJSON and tables. All errors name the file."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from app.core.errors import InputError
from app.core.schema import ConversionResult, InferenceRequest, check_numbers
from app.workloads.convert import requests_from_yaml


def read_text(path: str | Path) -> tuple[str, str]:
    """Read a file (or `-` for stdin); returns (text, display name)."""
    if str(path) == "-":
        return sys.stdin.read(), "<stdin>"
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise InputError("file not found", source=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=str(path)) from None


def _looks_like_ndjson(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.lstrip().startswith("{") and first.rstrip().endswith("}") and '"workload_kind"' in first


def requests_from_ndjson(text: str, source: str) -> ConversionResult:
    out = [_validated(line, source, lineno) for lineno, line in enumerate(text.splitlines(), start=1)
           if line.strip()]
    return ConversionResult(source=source, requests=out)


def _validated(item: str | dict[str, Any], source: str, document: int) -> InferenceRequest:
    """One InferenceRequest from a JSON line or a parsed object; a schema error names the field."""
    try:
        if isinstance(item, str):
            req = InferenceRequest.model_validate_json(item)
        else:
            req = InferenceRequest.model_validate(item)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "<object>"
        raise InputError(err["msg"], source=source, document=document, field=field) from None
    check_numbers(req, source, document)  # `1e400` is infinity, which NDJSON would write back as null
    return req


def _json_requests(text: str, source: str) -> ConversionResult | None:
    """A JSON InferenceRequest (object) or a JSON array of them; None when the text is something else."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deep for it: the YAML reader's limits say so
        return None
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) and "workload_kind" in i for i in items):
        return None
    out = [_validated(item, source, index) for index, item in enumerate(items, start=1)]
    return ConversionResult(source=source, requests=out)


def read_requests(path: str | Path) -> ConversionResult:
    """Workloads from manifests (YAML, multi-doc, List), InferenceRequest NDJSON, or a JSON request/array."""
    text, name = read_text(path)
    if _looks_like_ndjson(text):
        return requests_from_ndjson(text, name)
    if text.lstrip().startswith(("{", "[")):
        found = _json_requests(text, name)
        if found is not None:
            return found
    return requests_from_yaml(text, name)


def write_ndjson(items: Iterable[BaseModel], out: IO[str] | None = None) -> int:
    """One compact JSON object per line; returns the count."""
    stream = out or sys.stdout
    n = 0
    for item in items:
        stream.write(item.model_dump_json(exclude_none=True) + "\n")
        n += 1
    stream.flush()
    return n


def read_table(path: str | Path) -> Any:
    """A Parquet or CSV file as a pandas DataFrame."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=str(path))
    try:
        if p.suffix.lower() == ".csv":
            return pd.read_csv(p)
        return pd.read_parquet(p)
    except Exception as exc:  # pyarrow/pandas raise many types for a bad file
        raise InputError(f"cannot read table ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                         source=str(path)) from None


def write_table(df: Any, path: str | Path) -> Path:
    """Write Parquet (default) or CSV by extension, atomically (temp file + rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    if p.suffix.lower() == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    tmp.replace(p)
    return p
