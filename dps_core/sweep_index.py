"""A sweep's index: one row per run (parameters, seed, status, error, final metrics, wall time,
host) as HDF5 (`index.h5`, with an external link to every run's archive) and Parquet
(`index.parquet`, when pandas and pyarrow are installed). Only the coordinator writes it, always
to a temporary file in the same directory that then replaces the old one, so a reader sees the
previous index or the new one, never half of one. It can be rebuilt from the archives.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

__all__ = ["INDEX_H5", "INDEX_PARQUET", "write_index", "read_index", "atomic_write_text"]

INDEX_H5 = "index.h5"
INDEX_PARQUET = "index.parquet"
INDEX_SCHEMA = "1.0.0"
_STR = h5py.string_dtype("utf-8")


def _tmp_next_to(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # created exclusively
    os.close(fd)
    return Path(name)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file so that readers see the old or the new content, never a mix."""
    tmp = _tmp_next_to(path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _column(values: list) -> tuple[np.ndarray, str]:
    """A column as an array and its kind: 'int', 'float', 'bool' or 'str' (None: NaN / '')."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return np.array([bool(v) for v in values]), "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) and len(present) == len(values):
        return np.array(values, dtype=np.int64), "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64), "float"
    return np.array(["" if v is None else str(v) for v in values], dtype=object), "str"


def write_index(
    directory: Path, rows: list[dict], columns: list[str], meta: dict[str, Any], *, parquet: bool = True
) -> None:
    """Write index.h5 (and, if `parquet`, index.parquet when pandas and pyarrow are importable),
    each atomically."""
    path = directory / INDEX_H5
    tmp = _tmp_next_to(path)
    try:
        with h5py.File(tmp, "w", libver=("v110", "v110")) as f:
            f.attrs["dps_sweep_index"] = INDEX_SCHEMA
            f.attrs["meta"] = json.dumps(meta, sort_keys=True)
            f.attrs["columns"] = json.dumps(columns)
            t = f.create_group("table")
            for name in columns:
                arr, kind = _column([r.get(name) for r in rows])
                ds = t.create_dataset(name.replace("/", "|"), data=arr, dtype=_STR if kind == "str" else arr.dtype)
                ds.attrs["kind"] = kind
            g = f.create_group("runs")
            for r in rows:  # resolved relative to this file's directory, so DIR can move as a whole
                g[r["run"]] = h5py.ExternalLink(r["archive"], "/")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if parquet:
        _write_parquet(directory, rows, columns)


def _write_parquet(directory: Path, rows: list[dict], columns: list[str]) -> None:
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        return
    path = directory / INDEX_PARQUET
    tmp = _tmp_next_to(path)
    try:
        frame_from(rows, columns, pd).to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def frame_from(rows: list[dict], columns: list[str], pd):
    """A pandas DataFrame of the rows with the same column kinds as the HDF5 index."""
    data = {}
    for name in columns:
        arr, kind = _column([r.get(name) for r in rows])
        data[name] = arr.astype(str) if kind == "str" else arr
    return pd.DataFrame(data, columns=columns)


def read_index(directory: Path) -> tuple[list[dict], list[str], dict]:
    """(rows, columns, meta) from index.h5; ([], [], {}) when there is none."""
    path = directory / INDEX_H5
    if not path.exists():
        return [], [], {}
    with h5py.File(path, "r") as f:
        columns = json.loads(f.attrs["columns"])
        meta = json.loads(f.attrs["meta"])
        t = f["table"]
        cols = {}
        for name in columns:
            ds = t[name.replace("/", "|")]
            kind = ds.attrs["kind"]
            vals = ds.asstr()[()] if kind == "str" else ds[()]
            cols[name] = [v if kind == "str" else v.item() for v in vals]
        n = len(cols[columns[0]]) if columns else 0
        rows = [{c: cols[c][i] for c in columns} for i in range(n)]
    return rows, columns, meta
