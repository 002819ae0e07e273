"""Archives into the tools people use: an xarray Dataset, a pandas DataFrame, and netCDF, Parquet
or CSV files (`dps export`). Works on finished, running and killed archives alike, because it
reads through dps's own reader (a plain netCDF reader cannot open a file whose writer died).

xarray, h5netcdf, pandas and pyarrow come with the optional extra `dps-core[xarray]`; they are
imported here, inside the functions, so `import dps_core` never needs them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .archive import Archive, snapshot_dims
from .errors import ArchiveError, DPSError

__all__ = ["to_xarray", "to_pandas", "export", "FORMATS"]

FORMATS = {"netcdf": ".nc", "parquet": ".parquet", "csv": ".csv"}


def _need(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DPSError(
            f"{what} needs the Python package '{module}', which is not installed; "
            "install the extra: pip install 'dps-core[xarray]'"
        ) from None


def _attrs(ar: Archive) -> dict[str, Any]:
    """Root attributes as netCDF-safe attributes (text and numbers; lists and dicts as JSON)."""
    out: dict[str, Any] = {}
    for k, v in ar.provenance.items():
        if isinstance(v, (dict, list, tuple)):
            v = json.dumps(v, sort_keys=True)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    out["config"] = json.dumps(ar.config_dict, sort_keys=True)
    out["status"] = ar.status
    out["last_step"] = ar.last_step
    out["source_archive"] = str(ar.path)
    return out


def to_xarray(ar: Archive):
    """One Dataset: time series along `step` (with `time` as a coordinate), snapshots along
    `snapshot_step` with `agent`/`task` axes, config and provenance as attributes."""
    xr = _need("xarray", "Archive.to_xarray")
    ts = ar.timeseries()
    step = ts.pop("step")
    time = ts.pop("time")
    data_vars: dict[str, Any] = {name: ("step", values) for name, values in ts.items()}
    coords: dict[str, Any] = {"step": ("step", step), "time": ("step", time)}
    names = ar.snapshot_names()
    if names:
        n, k = int(ar.f.attrs["n_agents"]), int(ar.f.attrs["n_tasks"])
        coords["snapshot_step"] = ("snapshot_step", ar.snapshot_steps())
        coords["snapshot_time"] = ("snapshot_step", ar.snapshot_times())
        for name in names:
            arr = ar.snapshots(name)
            dims = ["snapshot_step", *snapshot_dims(name, arr.shape[1:], n, k)]
            data_vars[f"snapshot_{name}" if name in ts else name] = (dims, arr)
            for dim, length in zip(dims[1:], arr.shape[1:], strict=True):
                coords.setdefault(dim, (dim, np.arange(length)))
    return xr.Dataset(data_vars, coords=coords, attrs=_attrs(ar))


def to_pandas(ar: Archive):
    """The time series as a DataFrame indexed by `step` (columns: `time` and every series)."""
    pd = _need("pandas", "Archive.to_pandas")
    ts = ar.timeseries()
    step = ts.pop("step")
    frame = pd.DataFrame(ts, index=pd.Index(step, name="step"))
    frame.attrs.update(_attrs(ar))
    return frame


def export(archive: str | Path, fmt: str, output: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Write `archive` as netCDF (time series and snapshots), Parquet or CSV (time series, one row
    per record). The output is written next to its final name and renamed into place."""
    if fmt not in FORMATS:
        raise DPSError(f"export format '{fmt}' is not one of {', '.join(FORMATS)}")
    src = Path(archive)
    out = Path(output) if output else src.with_suffix(FORMATS[fmt])
    if out.resolve() == src.resolve():
        raise ArchiveError(f"export output {out} is the archive itself; choose another path with -o")
    if out.exists() and not overwrite:
        raise ArchiveError(f"{out} already exists; choose another path (-o) or allow replacing it (--overwrite)")
    if not out.parent.is_dir() and str(out.parent):
        raise ArchiveError(f"cannot write {out}: directory {out.parent} does not exist")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with Archive(src) as ar:
            if fmt == "netcdf":
                _need("h5netcdf", "dps export --to netcdf")
                to_xarray(ar).to_netcdf(tmp, engine="h5netcdf")
            elif fmt == "parquet":
                _need("pyarrow", "dps export --to parquet")
                to_pandas(ar).to_parquet(tmp)  # pandas keeps `attrs` (config, provenance) in the metadata
            else:
                to_pandas(ar).to_csv(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise ArchiveError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
