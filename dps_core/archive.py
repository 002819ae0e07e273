"""The run archive: one self-describing HDF5 file per run (layout in docs/archive.md).

Rules: the whole layout (every group, dataset and attribute, plugins' groups
included) is declared before SWMR starts, because objects created later are lost on a crash;
files use libver v110; nothing is pickled (configs are JSON, the RNG state is integers). After a
kill -9 only a `swmr=True` reader opens the file, so readers fall back to it, and resume writes a
new file that atomically replaces the old one.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import archive_check as check
from .archive_check import slot_digest
from .errors import ArchiveError
from .state import State

__all__ = ["SCHEMA", "ArchiveWriter", "Archive", "open_archive"]

SCHEMA = "1.1.0"
LIBVER = ("v110", "v110")
_STATUS_LEN = 32
_MESSAGE_LEN = 2048
_STR = h5py.string_dtype("utf-8")
_MIN_COMPRESSED_ROW = 4096  # bytes: rows at least this large are compressed one per chunk
_MAX_PLAIN_CHUNK = 1 << 16  # bytes: an uncompressed chunk is allocated whole, so keep it small


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def rng_words(state: dict) -> np.ndarray:
    """PCG64 state as six uint64 words (no pickling): state hi/lo, inc hi/lo, has_uint32, uinteger."""
    if state.get("bit_generator") != "PCG64":
        raise ArchiveError(f"only PCG64 generators can be checkpointed, got {state.get('bit_generator')}")
    s, inc = state["state"]["state"], state["state"]["inc"]
    mask = (1 << 64) - 1
    return np.array([s >> 64, s & mask, inc >> 64, inc & mask, state["has_uint32"], state["uinteger"]], dtype=np.uint64)


def rng_state(words: np.ndarray) -> dict:
    """Inverse of `rng_words`."""
    w = [int(x) for x in words]
    return {
        "bit_generator": "PCG64",
        "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
        "has_uint32": w[4],
        "uinteger": w[5],
    }


def snapshot_dims(name: str, shape: tuple, n_agents: int, n_tasks: int) -> list[str]:
    """Dimension names of a snapshot array's axes after the first: state arrays are agent-major,
    so axis 1 of length N is `agent` and axis 2 of length K is `task`; other axes get their own."""
    out = []
    for i, length in enumerate(shape, start=1):
        if (i, length) in ((1, n_agents), (2, n_tasks)):
            out.append("agent" if i == 1 else "task")
        else:
            out.append(f"{name.replace('/', '_')}_dim{i}")
    return out


class ArchiveWriter:
    """Writes one run: declares the full layout, then appends records under SWMR."""

    def __init__(self, path: str | Path, sim, *, overwrite: bool = False, _target: Path | None = None):
        self.path = Path(path)
        self.sim = sim
        cfg = sim.config.archive
        self._compress = (
            {}
            if cfg.compression == "none"
            else (
                {"compression": "gzip", "compression_opts": cfg.level, "shuffle": True}
                if cfg.compression == "gzip"
                else {"compression": "lzf", "shuffle": True}
            )
        )
        if self.path.exists() and not overwrite:
            raise ArchiveError(
                f"archive {self.path} already exists; choose another path or allow overwriting "
                "(dps run --overwrite); an existing run is never replaced silently"
            )
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise ArchiveError(f"cannot write archive {self.path}: directory {parent} does not exist")
        try:
            self.f = h5py.File(self.path, "w", libver=LIBVER)
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"cannot write archive {self.path}: {exc}") from None
        self.records = 0
        self.snapshots = 0
        try:
            self._declare()
        except Exception:
            self.f.close()
            raise

    # --- layout --------------------------------------------------------------------------------------

    def _series(self, group, name, dtype, shape=()):
        """A dataset appended along its first axis, with HDF5's fletcher32 checksum on every chunk.

        Appending under SWMR never reuses freed file space, so a compressed chunk rewritten on each
        append leaves a dead copy behind every time (files grew quadratically). Hence: a dataset
        with several rows per chunk is stored uncompressed (its chunks keep their size and are
        rewritten in place); a compressed dataset gets one row per chunk, each written once."""
        row = max(1, int(np.prod(shape, dtype=np.int64))) * np.dtype(dtype).itemsize
        if self._compress and row >= _MIN_COMPRESSED_ROW:
            rows, filters = 1, self._compress
        else:
            rows, filters = max(1, min(1024, _MAX_PLAIN_CHUNK // row)), {}
        return group.create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=(rows, *shape),
            fletcher32=True,
            **filters,
        )

    def _scales(self, group, axis_name: str, names, dims) -> None:
        """Label every axis with an HDF5 dimension scale (netCDF readers such as xarray with
        h5netcdf then see named dimensions): the append axis by `group/step`, the others by
        index coordinates `agent`, `task` or `<array>_dim<i>` created in the same group."""
        step = group["step"]
        step.make_scale(axis_name)
        made: dict[str, Any] = {}
        for name in names:
            ds = group[name]
            ds.dims[0].attach_scale(step)
            for i, dim in enumerate(dims(name, ds.shape[1:]), start=1):
                if dim not in made:
                    if dim in group:
                        made[dim] = group[dim]
                    else:
                        made[dim] = group.create_dataset(dim, data=np.arange(ds.shape[i], dtype=np.int64))
                        made[dim].make_scale(dim)
                ds.dims[i].attach_scale(made[dim])

    def _snapshot_dims(self, name: str, shape: tuple) -> list[str]:
        return snapshot_dims(name, shape, self.sim.model.n_agents, self.sim.model.n_tasks)

    def _declare(self) -> None:
        sim, f = self.sim, self.f
        model, state = sim.model, sim.state
        a = f.attrs
        a["dps_schema"] = SCHEMA
        from . import __version__

        a["dps_version"] = __version__
        a["plugins"] = _json(sim.registry.versions())
        a["numpy_version"] = np.__version__
        a["h5py_version"] = h5py.version.version
        a["hdf5_version"] = h5py.version.hdf5_version
        a["python_version"] = platform.python_version()
        a["platform"] = f"{sys.platform}-{platform.machine()}"
        a["config"] = sim.config.to_json()
        a["seed_entropy"] = str(sim.seed_sequence.entropy)
        a["seed_spawn_key"] = np.asarray(sim.seed_sequence.spawn_key, dtype=np.int64)
        a["created"] = _now()
        a["run_id"] = sim.run_id
        a["backend"] = sim.backend
        a["n_agents"] = model.n_agents
        a["n_tasks"] = model.n_tasks
        a["demand_rows"] = model.demand_rows
        a["profile_family"] = model.family.name

        g = f.create_group("scenario")
        g.attrs["name"] = sim.config.scenario.name
        g.attrs["plugin"] = sim.scenario_plugin
        g.attrs["info"] = _json(sim.setup_info)
        for kind in ("signal", "mode", "demand"):
            b = getattr(model, kind)
            g.attrs[kind] = b.name

        g = f.create_group("tasks")
        g.create_dataset("positions", data=model.task_positions)
        if model.task_similarity is not None:
            g.create_dataset("similarity", data=model.task_similarity)
        g.attrs["labels"] = _json(list(sim.task_labels or []))
        g = f.create_group("agents")
        g.attrs["labels"] = _json(list(sim.agent_labels or []))
        if model.costs is not None:
            g.create_dataset("costs", data=model.costs)

        t = model.topology
        g = f.create_group("topology")
        g.attrs["kind"] = t.kind
        g.attrs["name"] = t.name
        g.attrs["params"] = _json(t.params)
        g.attrs["n_nodes"] = t.n
        g.attrs["n_edges"] = t.n_edges
        g.attrs["mixing"] = sim.config.mixing.name
        if t.kind == "csr":
            for name in ("indptr", "indices", "data"):
                g.create_dataset(name, data=getattr(t, name), fletcher32=True, **self._compress)

        g = f.create_group("timeseries")
        g.attrs["doc"] = "metrics recorded every run.record_every steps; row r is at step[r]"
        self._series(g, "step", np.int64)
        self._series(g, "time", np.float64)
        for name in sim.series_names:
            self._series(g, name, np.float64)
        self._scales(g, "step", ["time", *sim.series_names], lambda name, shape: [])

        g = f.create_group("snapshots")
        g.attrs["doc"] = "state arrays every run.snapshot_every steps; first axis is the snapshot index"
        if sim.config.run.snapshot_every:  # a run that never snapshots declares no snapshot datasets
            self._series(g, "step", np.int64)
            self._series(g, "time", np.float64)
            for name in sim.config.archive.snapshots:
                arr = sim.snapshot_array(name)
                self._series(g, name, arr.dtype, arr.shape)
            self._scales(g, "step", ["time", *sim.config.archive.snapshots], self._snapshot_dims)

        g = f.create_group("checkpoint")
        g.attrs["doc"] = "two slots written alternately; 'latest' (written last) names the valid one (-1: none)"
        g.create_dataset("latest", data=np.int64(-1))
        for slot in (0, 1):
            s = g.create_group(f"slot{slot}")
            for name in ("step", "records", "snapshots"):
                s.create_dataset(name, data=np.int64(-1))
            s.create_dataset("time", data=np.float64(0.0))
            s.create_dataset("rng", shape=(6,), dtype=np.uint64)
            s.create_dataset("sha256", data=np.bytes_(b"".ljust(64)), dtype="S64")
            for name, arr in state.arrays().items():
                s.create_dataset(f"arrays/{name}", shape=arr.shape, dtype=arr.dtype)

        g = f.create_group("run")
        g.create_dataset("status", data=np.bytes_(b"created".ljust(_STATUS_LEN)), dtype=f"S{_STATUS_LEN}")
        g.create_dataset("message", data=np.bytes_(b"".ljust(_MESSAGE_LEN)), dtype=f"S{_MESSAGE_LEN}")
        g.create_dataset("last_step", data=np.int64(state.step))
        g.create_dataset("pid", data=np.int64(os.getpid()))
        g.attrs["host"] = socket.gethostname()

        g = f.create_group("plugins")
        groups = sim.registry.records("archive_group")
        for info in sim.registry.info:
            p = g.create_group(info.name)
            p.attrs["version"] = info.version
            p.attrs["distribution"] = info.distribution
        self.plugin_groups = []
        for name, spec in groups.items():
            owner = sim.registry.owner("archive_group", name)
            sub = g[owner].create_group(spec.name.removeprefix(owner + "."))
            sub.attrs["version"] = spec.version
            sub.attrs["doc"] = spec.doc
            sim.call_plugin(owner, "dps_register_archive_groups (declare)", spec.declare, sub, sim)
            self.plugin_groups.append((sub, spec, owner))

    @classmethod
    def reopen(cls, path: str | Path, sim) -> ArchiveWriter:
        """Append to an archive this process rewrote (resume): counts come from its datasets."""
        self = object.__new__(cls)
        self.path, self.sim = Path(path), sim
        try:
            self.f = h5py.File(self.path, "r+", libver=LIBVER)
        except OSError as exc:
            raise ArchiveError(f"cannot reopen archive {self.path} for appending: {exc}") from None
        self.records = int(self.f["timeseries/step"].shape[0])
        self.snapshots = int(self.f["snapshots/step"].shape[0]) if "snapshots/step" in self.f else 0
        self.f["run/pid"][()] = os.getpid()
        self.plugin_groups = []
        for name, spec in sim.registry.records("archive_group").items():
            owner = sim.registry.owner("archive_group", name)
            self.plugin_groups.append((self.f["plugins"][owner][spec.name.removeprefix(owner + ".")], spec, owner))
        return self

    def start(self) -> None:
        """Switch to SWMR appends (nothing may be created after this)."""
        self.f.flush()
        if self.sim.config.archive.swmr:
            self.f.swmr_mode = True

    # --- appends -----------------------------------------------------------------------------------

    @staticmethod
    def _append(ds, index, value) -> None:
        if ds.shape[0] <= index:
            ds.resize(index + 1, axis=0)
        ds[index] = value

    def record(self, step: int, time: float, metrics: dict[str, float]) -> None:
        """Append one row of metrics."""
        g = self.f["timeseries"]
        i = self.records
        self._append(g["step"], i, step)
        self._append(g["time"], i, time)
        for name, value in metrics.items():
            self._append(g[name], i, value)
        self.records += 1
        for group, spec, owner in self.plugin_groups:
            if spec.write is not None:
                self.sim.call_plugin(owner, "dps_register_archive_groups (write)", spec.write, group, self.sim)
        self.f["run/last_step"][()] = step
        self.f.flush()

    def snapshot(self, step: int, time: float) -> None:
        """Append one snapshot of the configured state arrays."""
        g = self.f["snapshots"]
        i = self.snapshots
        self._append(g["step"], i, step)
        self._append(g["time"], i, time)
        for name in self.sim.config.archive.snapshots:
            self._append(g[name], i, self.sim.snapshot_array(name))
        self.snapshots += 1
        self.f.flush()

    def checkpoint(self, state: State, rng: dict) -> None:
        """Write the full state to the free slot, flush, then mark it latest (a kill in between
        leaves the previous checkpoint valid)."""
        c = self.f["checkpoint"]
        latest = int(c["latest"][()])
        slot = 0 if latest != 0 else 1
        s = c[f"slot{slot}"]
        for name, arr in state.arrays().items():
            s[f"arrays/{name}"][...] = arr
        s["rng"][...] = rng_words(rng)
        s["step"][()] = state.step
        s["time"][()] = state.time
        s["records"][()] = self.records
        s["snapshots"][()] = self.snapshots
        if "sha256" in s:
            words = rng_words(rng)
            digest = slot_digest(state.arrays(), words, state.step, state.time, self.records, self.snapshots)
            s["sha256"][()] = np.bytes_(digest.encode())
        self.f.flush()
        c["latest"][()] = slot
        self.f.flush()

    def status(self, status: str, message: str = "") -> None:
        """Set the run status ('running', 'finished', 'converged', 'failed', 'interrupted')."""
        self.f["run/status"][()] = np.bytes_(status.encode()[:_STATUS_LEN].ljust(_STATUS_LEN))
        self.f["run/message"][()] = np.bytes_(message.encode()[:_MESSAGE_LEN].ljust(_MESSAGE_LEN))
        self.f.flush()

    def close(self) -> None:
        if self.f.id.valid:
            self.f.close()


# --- reading -----------------------------------------------------------------------------------------


class Archive:
    """Read access to a run archive (also one whose writer is running or was killed).

    Opening checks the file before HDF5 reads it and the dps layout after (see archive_check), so
    a damaged file gives one ArchiveError line within moments instead of a hang or a traceback."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        check.preflight(self.path)
        if check._set_attempts is None:  # HDF5's retry count cannot be capped: look in a child first
            check.probe_in_child(self.path)
        self.swmr = False
        try:
            self.f = check.open_h5(self.path, swmr=False)
        except OSError as plain:
            # a running or killed SWMR writer: only a SWMR reader may open it
            try:
                self.f = check.open_h5(self.path, swmr=True)
                self.swmr = True
            except OSError as exc:
                reason = exc if "already open" in str(plain) or "lock" in str(plain) else plain
                raise ArchiveError(
                    f"cannot open archive {self.path}: damaged or not readable by HDF5 ({check._reason(reason)})"
                ) from None
        try:
            with check.damaged(self.path, "the root attributes"):
                schema = self.f.attrs.get("dps_schema")
            if schema is None:
                raise ArchiveError(f"{self.path} is an HDF5 file but not a dps archive (no 'dps_schema' attribute)")
            major, _, _ = check.parse_schema(self.path, schema)
            if major != int(SCHEMA.split(".")[0]):
                raise ArchiveError(
                    f"{self.path} has archive schema {schema}; this dps reads schema {SCHEMA.split('.')[0]}.x"
                )
            self.schema = str(schema)
            check.check_layout(self.f, self.path)
        except BaseException:
            self.f.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.f.id.valid:
            self.f.close()

    @property
    def provenance(self) -> dict[str, Any]:
        """Root attributes (versions, seed, creation time, ...), config excluded."""
        out = {}
        with check.damaged(self.path, "the root attributes"):
            for k, v in self.f.attrs.items():
                if k == "config":
                    continue
                out[k] = v.tolist() if hasattr(v, "tolist") else v
        if "plugins" in out:
            try:
                out["plugins"] = json.loads(out["plugins"])
            except (TypeError, ValueError):
                raise ArchiveError(f"archive {self.path} is damaged: root attribute 'plugins' is not JSON") from None
        return out

    @property
    def config_dict(self) -> dict[str, Any]:
        """The full resolved config as stored."""
        return json.loads(self.f.attrs["config"])

    def config(self):
        """The stored config as a `Config`."""
        from .config import Config
        from .errors import ConfigError

        try:
            return Config.from_dict(self.config_dict)
        except ConfigError as exc:
            raise ArchiveError(f"archive {self.path} stores a config this dps cannot use: {exc}") from None

    @property
    def status(self) -> str:
        with check.damaged(self.path, "/run/status"):
            return self.f["run/status"][()].decode().strip()

    @property
    def message(self) -> str:
        with check.damaged(self.path, "/run/message"):
            return self.f["run/message"][()].decode(errors="replace").strip()

    @property
    def last_step(self) -> int:
        with check.damaged(self.path, "/run/last_step"):
            return int(self.f["run/last_step"][()])

    @property
    def records(self) -> int:
        """Number of complete time-series rows (a writer killed mid-record may leave one partial)."""
        g = self.f["timeseries"]
        with check.damaged(self.path, "the time series"):
            return min((int(g[k].shape[0]) for k in _series(g)), default=0)

    def timeseries(self) -> dict[str, np.ndarray]:
        """Every recorded series (with 'step' and 'time')."""
        g = self.f["timeseries"]
        with check.damaged(self.path, "the time series"):
            n = self.records  # a running writer may have grown some series further already
            return {name: g[name][:n] for name in g if g[name].shape[:1] != () and name in _series(g)}

    def snapshot_names(self) -> list[str]:
        """Names of the snapshot arrays (empty when the run took none)."""
        g = self.f["snapshots"]
        return [k for k in g if k not in ("step", "time") and not g[k].is_scale]

    def snapshot_steps(self) -> np.ndarray:
        with check.damaged(self.path, "/snapshots/step"):
            g = self.f["snapshots"]
            return g["step"][()] if "step" in g else np.zeros(0, dtype=np.int64)

    def snapshots(self, name: str) -> np.ndarray:
        """All snapshots of one array, first axis the snapshot index."""
        g = self.f["snapshots"]
        if name not in self.snapshot_names():
            raise ArchiveError(f"archive {self.path} has no snapshots of '{name}'; it has {self.snapshot_names()}")
        with check.damaged(self.path, f"/snapshots/{name}"):
            n = g["step"].shape[0]
            return g[name][:n]

    def final_metrics(self) -> dict[str, float]:
        """The last recorded value of every series (reads one element per series)."""
        g = self.f["timeseries"]
        n = self.records
        with check.damaged(self.path, "the last record"):
            return {k: (g[k][n - 1].item() if n else None) for k in g if k in _series(g)}

    def checkpoint(self, *, arrays: bool = True) -> dict[str, Any] | None:
        """The latest valid checkpoint: state, rng state, records and snapshots counts; or None.
        Its SHA-256 digest is checked (ArchiveError if it does not match). `arrays=False` gives
        only the counters (no state, no check), cheaply."""
        c = self.f["checkpoint"]
        with check.damaged(self.path, "the checkpoint"):
            latest = int(c["latest"][()])
            if latest < 0:
                return None
            s = c[f"slot{latest}"]
            step, time = int(s["step"][()]), float(s["time"][()])
            out: dict[str, Any] = {
                "step": step,
                "records": int(s["records"][()]),
                "snapshots": int(s["snapshots"][()]),
                "slot": latest,
            }
            if not arrays:
                return out
            data = check.read_slot(s)
            check.check_slot(s, self.path, latest, arrays=data)
            out["rng"] = rng_state(s["rng"][()])
            out["state"] = State.from_arrays(data, step, time)
        return out

    def datasets(self) -> dict[str, tuple]:
        """Path -> shape of every dataset."""
        out = {}
        with check.damaged(self.path, "the object tree"):
            self.f.visititems(lambda n, o: out.__setitem__(n, o.shape) if isinstance(o, h5py.Dataset) else None)
        return out

    def verify(self) -> dict[str, Any]:
        """Read every dataset (checking HDF5's fletcher32 checksums) and every checkpoint digest;
        ArchiveError names the first damaged object."""
        return check.verify(self.f, self.path)

    def to_xarray(self):
        """Time series and snapshots as one `xarray.Dataset` (needs the `xarray` extra)."""
        from .export import to_xarray

        return to_xarray(self)

    def to_pandas(self):
        """The time series as a `pandas.DataFrame` indexed by step (needs pandas)."""
        from .export import to_pandas

        return to_pandas(self)


def _series(g) -> set[str]:
    """Time-series datasets of a /timeseries group (not the index coordinates)."""
    return {k for k, v in g.items() if isinstance(v, h5py.Dataset) and v.ndim == 1}


def open_archive(path: str | Path) -> Archive:
    """Open a dps archive for reading (falls back to a SWMR reader for a running or killed writer)."""
    return Archive(path)


def copy_prefix(src: Archive, dst: ArchiveWriter, records: int, snapshots: int) -> None:
    """Copy the first rows of every time series and snapshot (used by resume)."""
    for group, n in (("timeseries", records), ("snapshots", snapshots)):
        for name, ds in src.f[group].items():
            if name in dst.f[group] and n > 0 and dst.f[group][name].maxshape[0] is None:
                out = dst.f[group][name]
                out.resize(n, axis=0)
                with check.damaged(src.path, f"/{group}/{name}"):
                    out[:n] = ds[:n]
    dst.records, dst.snapshots = records, snapshots


def replace_atomically(tmp: Path, path: Path) -> None:
    """Move a finished rewrite over the original (same directory, so rename is atomic)."""
    os.replace(tmp, path)
