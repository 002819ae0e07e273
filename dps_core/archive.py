"""The run archive: one self-describing HDF5 file per run (layout in docs/archive.md).

The whole layout (every group, dataset and attribute, plugins' groups included) is declared
before SWMR starts, because objects created later are lost on a crash; files use libver v110;
nothing is pickled (configs are JSON, the RNG state is integers). After a kill -9 only a
`swmr=True` reader opens the file, so readers fall back to it, and resume writes a new file that
atomically replaces the old one. Writes are transactions: see `ArchiveWriter`. Readers check
a file before and after HDF5 opens it (`archive_check`), so damage gives one clear line.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import socket
import sys
import time as _time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import archive_check as check
from .archive_check import slot_digest
from .archive_io import (
    HEARTBEAT_SECONDS,
    exclusive_temp,
    live_writer,
    process_start,
    publish,
    remove_quietly,
    same_file,
)
from .archive_rows import read_rows
from .backend import arithmetic, instruction_set
from .errors import ArchiveError, ArchiveWriteError
from .state import State

__all__ = ["SCHEMA", "ArchiveWriter", "Archive", "open_archive", "recorded_arithmetic"]

SCHEMA = "1.3.0"
LIBVER = ("v110", "v110")
_STATUS_LEN = 32
_MESSAGE_LEN = 2048
_STR = h5py.string_dtype("utf-8")
# fixed-size values a failed writer overwrites in place (contiguous, uncompressed)
_PATCHABLE = ("run/status", "run/message", "run/records", "run/snapshots", "run/last_step", "checkpoint/latest")
_MAX_BUFFER = 64 * 2**20  # buffered snapshot bytes that force a flush
_LIVE_READ_ATTEMPTS = 5  # reads of a chunk a live writer may be rewriting (about 0.1 s in all)
_MIN_COMPRESSED_ROW = 4096  # bytes: rows at least this large are compressed one per chunk
_MAX_PLAIN_CHUNK = 1 << 16  # bytes: an uncompressed chunk is allocated whole, so keep it small


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def rng_words(state: Mapping[str, Any]) -> np.ndarray:
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


def _kernel_label(backend: str, isa: str, revision: int) -> str:
    """'compiled (avx512f, arithmetic 2)' or 'reference': the kernel and, for the compiled one, its
    instruction set and arithmetic revision."""
    details = [d for d in (isa, f"arithmetic {revision}" if revision else "") if d]
    return f"{backend} ({', '.join(details)})" if details else backend


def recorded_arithmetic(attrs: Mapping) -> int:
    """The compiled kernel's arithmetic revision an archive's root attributes record (0 for the
    reference kernel); files of schema < 1.3 do not record it and were all stepped by revision 1."""
    if str(attrs.get("backend", "")) != "compiled":
        return 0
    return int(attrs.get("kernel_arithmetic", 1))


class ArchiveWriter:
    """Writes one run as a sequence of transactions (see docs/archive.md, "What survives a fault").

    The layout is declared in an exclusive temporary file beside the target, which gets its final
    name only once it is openable (`publish`). Rows are buffered and made durable by `flush` (the
    `archive.flush_every` policy, and at every checkpoint); a row counts as written only once the
    flush that carried it succeeded. Any write error stops the run with `ArchiveWriteError`, after
    marking the archive `failed` in place where the file system still allows it."""

    def __init__(
        self,
        path: str | Path,
        sim,
        *,
        overwrite: bool = False,
        replace: bool = False,
        source: Archive | None = None,
        inputs: list | None = None,
    ):
        self.target = Path(path)
        self.sim = sim
        self.replace = replace or overwrite
        self.published = False
        self.failed = False
        self.records = self.snapshots = 0  # durable rows (on disk, counted in run/records)
        self.step = self._durable_step = int(sim.state.step)
        self._latest = -1  # durable checkpoint slot
        self._rows: list[tuple[int, float, dict]] = []
        self._snaps: list[tuple[int, float, dict]] = []
        self._buffered = 0
        self._offsets: dict[str, int] = {}
        self._ds: dict[str, h5py.Dataset] = {}
        self._fd = -1
        self.f: Any = None  # the open h5py.File (None once closed)
        self.plugin_groups: list = []
        cfg = sim.config.archive
        self._policy = parse_flush_every(cfg.flush_every)
        self._last_flush = _time.monotonic()
        self._compress = (
            {}
            if cfg.compression == "none"
            else (
                {"compression": "gzip", "compression_opts": cfg.level, "shuffle": True}
                if cfg.compression == "gzip"
                else {"compression": "lzf", "shuffle": True}
            )
        )
        target = self.target
        if os.path.lexists(target) and not self.replace:
            raise ArchiveError(
                f"archive {target} already exists; choose another path or allow overwriting "
                "(dps run --overwrite); an existing run is never replaced silently"
            )
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            raise ArchiveError(f"cannot write archive {target}: directory {parent} does not exist")
        if target.is_dir():
            raise ArchiveError(f"cannot write archive {target}: it is a directory")
        self._refuse_live()
        self.tmp, self._fd = exclusive_temp(target)
        try:
            image = self._layout_image(source, inputs or [])
            view = memoryview(image)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
            self.f = h5py.File(self.tmp, "r+", libver=LIBVER)
            if not same_file(self._fd, self.f.id.get_vfd_handle()):
                raise ArchiveError(f"cannot write archive {target}: its temporary file {self.tmp} was replaced")
            self.plugin_groups = [(self.f[path], spec, owner) for path, spec, owner in self._plugin_paths]
            for name in _PATCHABLE:
                ds = self._d(name)
                offset = ds.id.get_offset()
                if offset is not None and ds.chunks is None and ds.compression is None:
                    self._offsets[name] = int(offset)
        except BaseException as exc:
            self._discard()
            if isinstance(exc, (OSError, RuntimeError)):
                raise ArchiveWriteError(
                    f"cannot write archive {target} (declaring its layout): {_os_error(exc)}; no file was created"
                ) from None
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

    def _layout_image(self, source: Archive | None, inputs: list) -> bytes:
        """The complete layout, built in memory (HDF5 'core' driver) and returned as the bytes of
        the file: writing it is then one plain write, whose failure is an ordinary OSError."""
        f = h5py.File(f"dps-layout-{id(self)}", "w", driver="core", backing_store=False, libver=LIBVER)
        try:
            self._declare(f, source, inputs)
            f.flush()
            return f.id.get_file_image()
        finally:
            f.close()

    def _declare(self, f, source: Archive | None, inputs: list) -> None:
        sim = self.sim
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
        a["created"] = _now() if source is None else source.f.attrs["created"]
        a["run_id"] = sim.run_id
        a["backend"] = sim.backend
        a["kernel_isa"] = instruction_set(sim.backend)
        a["kernel_arithmetic"] = np.int64(arithmetic(sim.backend))
        a["n_agents"] = model.n_agents
        a["n_tasks"] = model.n_tasks
        a["demand_rows"] = model.demand_rows
        a["profile_family"] = model.family.name

        g = f.create_group("scenario")
        g.attrs["name"] = sim.config.scenario.name
        g.attrs["plugin"] = sim.scenario_plugin
        g.attrs["info"] = _json(sim.setup_info) if source is None else source.f["scenario"].attrs["info"]
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
        g.attrs["params"] = _json(t.params) if source is None else source.f["topology"].attrs["params"]
        g.attrs["n_nodes"] = t.n
        g.attrs["n_edges"] = t.n_edges
        g.attrs["mixing"] = sim.config.mixing.name
        if t.kind == "csr":
            for name in ("indptr", "indices", "data"):
                g.create_dataset(name, data=getattr(t, name), fletcher32=True, **self._compress)

        g = f.create_group("inputs")
        g.attrs["doc"] = (
            "file inputs named in the config (bytes, or only the SHA-256 when over 256 MiB); resume reads them here"
        )
        for inp in inputs:
            data = np.frombuffer(inp.data, dtype=np.uint8) if inp.data is not None else np.zeros(0, np.uint8)
            ds = g.create_dataset(inp.key, data=data, **({"fletcher32": True, **self._compress} if len(data) else {}))
            ds.attrs["key"], ds.attrs["value"], ds.attrs["sha256"] = inp.key, inp.value, inp.sha256
            ds.attrs["size"], ds.attrs["stored"] = inp.size, inp.data is not None

        g = f.create_group("timeseries")
        g.attrs["doc"] = (
            "metrics recorded every run.record_every steps; row r is at step[r]; rows beyond run/records are not durable"
        )
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
            # with data, so their storage is allocated in the layout: space a SWMR writer allocated
            # later lies beyond the end of file a reader saw when it opened, and HDF5 then refuses
            # the dataset ("invalid dataset size") once the reader follows `latest` to it
            s.create_dataset("rng", data=np.zeros(6, dtype=np.uint64))
            s.create_dataset("sha256", data=np.bytes_(b"".ljust(64)), dtype="S64")
            for name, arr in state.arrays().items():
                s.create_dataset(f"arrays/{name}", data=np.zeros(arr.shape, dtype=arr.dtype))

        g = f.create_group("run")
        g.create_dataset("status", data=np.bytes_(b"created".ljust(_STATUS_LEN)), dtype=f"S{_STATUS_LEN}")
        g.create_dataset("message", data=np.bytes_(b"".ljust(_MESSAGE_LEN)), dtype=f"S{_MESSAGE_LEN}")
        g.create_dataset("last_step", data=np.int64(state.step))
        g.create_dataset("records", data=np.int64(0))
        g.create_dataset("snapshots", data=np.int64(0))
        g.create_dataset("pid", data=np.int64(os.getpid()))
        g.create_dataset("pid_start", data=np.int64(process_start(os.getpid())))
        g.create_dataset("heartbeat", data=np.float64(_time.time()))
        g.attrs["host"] = socket.gethostname()
        changes = [] if source is None else json.loads(source.f["run"].attrs.get("backend_changes", "[]"))
        now = _kernel_label(sim.backend, instruction_set(sim.backend), arithmetic(sim.backend))
        if source is not None:
            before = str(source.f.attrs.get("backend"))
            # files of schema < 1.2 do not say which instruction set ran: it is taken as this one
            isa = str(source.f.attrs.get("kernel_isa", instruction_set(sim.backend) if before == sim.backend else ""))
            was = _kernel_label(before, isa, recorded_arithmetic(source.f.attrs))
            if was != now:
                changes.append({"step": int(state.step), "from": was, "to": now, "time": _now()})
        g.attrs["backend_changes"] = _json(changes)

        g = f.create_group("plugins")
        groups = sim.registry.records("archive_group")
        for info in sim.registry.info:
            p = g.create_group(info.name)
            p.attrs["version"] = info.version
            p.attrs["distribution"] = info.distribution
        self._plugin_paths = []
        for name, spec in groups.items():
            owner = sim.registry.owner("archive_group", name)
            sub = g[owner].create_group(spec.name.removeprefix(owner + "."))
            sub.attrs["version"] = spec.version
            sub.attrs["doc"] = spec.doc
            sim.call_plugin(owner, "dps_register_archive_groups (declare)", spec.declare, sub, sim)
            self._plugin_paths.append((sub.name, spec, owner))

    # --- publishing ---------------------------------------------------------------------------------

    def _d(self, name: str) -> h5py.Dataset:
        """A dataset handle kept open for the writer's life: HDF5 writes cached chunks when a
        handle closes, and an error there is only printed, never raised; with handles kept open
        every write reaches the disk in `flush`, which raises."""
        ds = self._ds.get(name)
        if ds is None:
            ds = self._ds[name] = self.f[name]
        return ds

    def _refuse_live(self) -> None:
        if self.replace and os.path.lexists(self.target):
            who = live_writer(self.target)
            if who is not None:
                raise ArchiveError(
                    f"archive {self.target} is being written by {who}; it is not replaced while its writer "
                    "runs (stop that run first, or write elsewhere)"
                )

    def publish(self) -> None:
        """Flush, switch to SWMR appends (nothing may be created after this), then give the file
        its final name: from here on the target always holds an openable archive."""
        self.flush(force=True)
        self._guard(self._start_swmr, "starting SWMR")
        self._refuse_live()
        try:
            publish(self.tmp, self.target, replace=self.replace)
        except ArchiveError:
            self._discard()
            raise
        except OSError as exc:
            self._discard()
            raise ArchiveWriteError(f"cannot write archive {self.target}: {_os_error(exc)}") from None
        self.published = True

    def _start_swmr(self) -> None:
        if self.sim.config.archive.swmr:
            self.f.swmr_mode = True

    def discard(self) -> None:
        """Give up an archive that was never published: close it and remove its temporary file."""
        if not self.published:
            self._discard()

    def _discard(self) -> None:
        self._close_quietly()
        remove_quietly(getattr(self, "tmp", None))

    # --- appends -----------------------------------------------------------------------------------

    def record(self, step: int, time: float, metrics: dict[str, float]) -> None:
        """Buffer one row of metrics (durable at the next flush)."""
        self.step = step
        self._rows.append((step, time, dict(metrics)))
        for group, spec, owner in self.plugin_groups:
            if spec.write is not None:
                self.sim.call_plugin(owner, "dps_register_archive_groups (write)", spec.write, group, self.sim)
        if self._policy[0] == "records" and len(self._rows) >= self._policy[1] and self.published:
            self.flush()

    def snapshot(self, step: int, time: float) -> None:
        """Buffer one snapshot of the configured state arrays (durable at the next flush)."""
        self.step = step
        arrays = {name: np.array(self.sim.snapshot_array(name)) for name in self.sim.config.archive.snapshots}
        self._snaps.append((step, time, arrays))
        self._buffered += sum(a.nbytes for a in arrays.values())

    def due(self) -> bool:
        """Whether the flush policy asks for a flush now (also: heartbeat due, buffer large)."""
        waited = _time.monotonic() - self._last_flush
        kind, value = self._policy
        if kind == "records" and len(self._rows) >= value:
            return True
        if kind == "seconds" and waited >= value and (self._rows or self._snaps):
            return True
        return waited >= HEARTBEAT_SECONDS or self._buffered >= _MAX_BUFFER

    def maybe_flush(self) -> None:
        """Flush if the policy (or the heartbeat) asks for it; called after every step."""
        if self.due():
            self.flush(force=True)

    def flush(self, *, force: bool = False) -> None:
        """Write buffered rows, make them durable, then count them (two flushes: a row is counted
        only after the flush that carried it succeeded)."""
        if not (force or self._rows or self._snaps):
            return
        self._guard(self._flush, "flushing records")

    def _flush(self) -> None:
        f = self.f
        records, snapshots = self.records, self.snapshots
        if self._rows:
            n = len(self._rows)
            columns = {"step": [r[0] for r in self._rows], "time": [r[1] for r in self._rows]}
            for name in self._rows[0][2]:
                columns[name] = [r[2][name] for r in self._rows]
            for name, values in columns.items():
                ds = self._d(f"timeseries/{name}")
                ds.resize(records + n, axis=0)
                ds[records:] = np.asarray(values, dtype=ds.dtype)
            records += n
        if self._snaps:
            n = len(self._snaps)
            columns = {"step": [s[0] for s in self._snaps], "time": [s[1] for s in self._snaps]}
            for name in self._snaps[0][2]:
                columns[name] = [s[2][name] for s in self._snaps]
            for name, values in columns.items():
                ds = self._d(f"snapshots/{name}")
                ds.resize(snapshots + n, axis=0)
                ds[snapshots:] = np.asarray(values, dtype=ds.dtype)
            snapshots += n
        last = self._rows[-1][0] if self._rows else self._durable_step  # the last recorded step
        self._d("run/last_step")[()] = last
        self._d("run/heartbeat")[()] = _time.time()
        f.flush()
        self._d("run/records")[()] = records
        self._d("run/snapshots")[()] = snapshots
        f.flush()
        self.records, self.snapshots, self._durable_step = records, snapshots, last
        self._rows, self._snaps, self._buffered = [], [], 0
        self._last_flush = _time.monotonic()

    def checkpoint(self, state: State, rng: Mapping[str, Any]) -> None:
        """Flush buffered rows, write the full state to the free slot, flush, then mark it latest
        (a kill or error in between leaves the previous checkpoint valid)."""
        self.step = state.step
        self.flush()
        self._guard(lambda: self._checkpoint(state, rng), "writing a checkpoint")

    def _checkpoint(self, state: State, rng: Mapping[str, Any]) -> None:
        slot = 0 if self._latest != 0 else 1
        s = f"checkpoint/slot{slot}"
        for name, arr in state.arrays().items():
            self._d(f"{s}/arrays/{name}")[...] = arr
        self._d(f"{s}/rng")[...] = rng_words(rng)
        self._d(f"{s}/step")[()] = state.step
        self._d(f"{s}/time")[()] = state.time
        self._d(f"{s}/records")[()] = self.records
        self._d(f"{s}/snapshots")[()] = self.snapshots
        self._d(f"{s}/sha256")[()] = np.bytes_(
            slot_digest(state.arrays(), rng_words(rng), state.step, state.time, self.records, self.snapshots).encode()
        )
        self.f.flush()
        self._d("checkpoint/latest")[()] = slot
        self.f.flush()
        self._latest = slot

    def copy_rows(self, src: Archive, records: int, snapshots: int) -> None:
        """Copy the first rows of every time series and snapshot of `src` (resume), durably."""

        def copy() -> None:
            for group, n in (("timeseries", records), ("snapshots", snapshots)):
                for name in src.f[group]:
                    # appended datasets only (the fixed index coordinates `agent`, `task` are declared)
                    if name in self.f[group] and n > 0 and self.f[group][name].maxshape[0] is None:
                        with check.damaged(src.path, f"/{group}/{name}"):
                            rows = src._read(group, name, 0, n)
                        out = self._d(f"{group}/{name}")
                        out.resize(n, axis=0)
                        out[:n] = rows
            self.f.flush()
            self._d("run/records")[()] = records
            self._d("run/snapshots")[()] = snapshots
            self.f.flush()
            self.records, self.snapshots = records, snapshots

        self._guard(copy, "copying the records to keep")

    def status(self, status: str, message: str = "") -> None:
        """Set the run status ('running', 'finished', 'converged', 'failed', 'interrupted')."""

        def write() -> None:
            self._d("run/status")[()] = np.bytes_(status.encode()[:_STATUS_LEN].ljust(_STATUS_LEN))
            self._d("run/message")[()] = np.bytes_(message.encode()[:_MESSAGE_LEN].ljust(_MESSAGE_LEN))
            self.f.flush()

        self._guard(write, "setting the status")

    def close(self) -> None:
        """Close the file (buffered rows must have been flushed; `finish` does both)."""
        if self.f is None or not self.f.id.valid:
            return
        self._guard(self.f.flush, "closing")
        f, self.f, self._ds = self.f, None, {}
        try:
            f.close()
        except (OSError, RuntimeError) as exc:
            err = ArchiveWriteError(
                f"cannot write archive {self.target} at step {self.step} (closing): {_os_error(exc)}"
            )
            self._abandon(str(err))  # the HDF5 file cannot be retried safely; mark it failed in place
            raise err from None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def finish(self, status: str, message: str = "") -> None:
        """Flush what is buffered, set the final status and close."""
        self.flush()
        self.status(status, message)
        self.close()

    # --- failures ----------------------------------------------------------------------------------

    def _guard(self, fn, what: str) -> None:
        if self.failed:
            raise ArchiveWriteError(f"archive {self.target} already failed; nothing more is written")
        try:
            fn()
        except (OSError, RuntimeError) as exc:
            reason = _os_error(exc)
            err = ArchiveWriteError(
                f"cannot write archive {self.target} at step {self.step} ({what}): {reason}; "
                f"{self.records} records and the checkpoint before are kept"
                + ("" if self.published else "; nothing was published")
            )
            self._abandon(str(err))
            raise err from None

    def _abandon(self, message: str) -> None:
        """After a write error: stop HDF5 from writing more, then mark the run failed in place by
        overwriting fixed-size values at their file offsets (never grows the file)."""
        self.failed = True
        if not self.published:
            self._discard()
            return
        self._close_quietly()
        if self._fd < 0:
            return
        values = {
            "run/status": b"failed".ljust(_STATUS_LEN),
            "run/message": message.encode()[:_MESSAGE_LEN].ljust(_MESSAGE_LEN),
            "run/records": np.int64(self.records).tobytes(),
            "run/snapshots": np.int64(self.snapshots).tobytes(),
            "run/last_step": np.int64(self._durable_step).tobytes(),
            "checkpoint/latest": np.int64(self._latest).tobytes(),
        }
        try:
            for name, data in values.items():
                if name in self._offsets:
                    os.pwrite(self._fd, data, self._offsets[name])
            os.fsync(self._fd)
        except OSError:
            pass  # the status cannot be written; readers see a dead writer
        finally:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def _close_quietly(self) -> None:
        """Close the HDF5 file without letting it write more: its descriptor is pointed at
        /dev/null first (a close that fails would otherwise crash the interpreter at exit)."""
        f, self.f = self.f, None
        if f is None or not f.id.valid:
            return
        with contextlib.suppress(Exception):
            null = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(null, f.id.get_vfd_handle())
            finally:
                os.close(null)
        with contextlib.suppress(Exception):
            f.close()
        self._ds = {}


def parse_flush_every(value) -> tuple[str, float]:
    """`archive.flush_every` as ('records', n) or ('seconds', s)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return "records", value
    text = str(value).strip()
    if text.endswith("s"):
        return "seconds", float(text[:-1])
    return "records", int(text)


def _os_error(exc: BaseException) -> str:
    """The OS error inside an h5py exception ('[Errno 28] No space left on device'), or its text."""
    if isinstance(exc, OSError) and exc.errno and exc.strerror and "Unable to" not in str(exc.strerror):
        return f"[Errno {exc.errno}] {exc.strerror}"
    text = str(exc)
    m = re.search(r"errno = (\d+)", text)
    if m:
        code = int(m.group(1))
        return f"[Errno {code}] {os.strerror(code)}"
    return text.splitlines()[0] if text else type(exc).__name__


# --- reading -----------------------------------------------------------------------------------------


class Archive:
    """Read access to a run archive (also one whose writer is running or was killed).

    Opening checks the file before HDF5 reads it and the dps layout after (see archive_check), so
    a damaged file gives one ArchiveError line within moments instead of a hang or a traceback."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.f: Any = None  # the open h5py.File
        short = None
        try:
            check.preflight(self.path)
        except check.TruncatedArchive as exc:
            short = exc
        if check._set_attempts is None:  # HDF5's retry count cannot be capped: look in a child first
            check.probe_in_child(self.path)
        self.swmr = False
        unclosed = True  # HDF5 records no clean close: the writer runs, was killed or failed on a write
        try:
            if short is not None:  # only a run marked failed after a write error may be short
                failed = check.failed_in_place(self.path)
                if failed is None:
                    raise short
                self.f = failed
                self.swmr = True
            else:
                self.f = check.open_h5(self.path, swmr=False)
                unclosed = False
        except OSError as plain:
            # a running or killed SWMR writer: only a SWMR reader may open it
            try:
                self.f = check.open_h5(self.path, swmr=True)
                self.swmr = True
            except OSError as exc:
                from .archive_io import open_unclean  # a writer killed outside SWMR mode

                self.f = open_unclean(self.path)
                if self.f is None:
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
            # the durable counts as of this open: one consistent view of a file a writer still grows
            self._counts = check.check_layout(self.f, self.path)
            # a writer that stopped without closing the file may have left a chunk half rewritten
            self._unclosed = unclosed and self._counts is not None
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
        """Number of durable time-series rows: `/run/records` (schema 1.1); in a schema 1.0 file the
        shortest series (a writer killed mid-record may leave one series a row longer). A reader
        keeps the counts it found when it opened the file; reopen to follow a live writer."""
        n = self._durable("timeseries")
        if n is not None:
            return n
        g = self.f["timeseries"]
        with check.damaged(self.path, "the time series"):
            return min((int(g[k].shape[0]) for k in _series(g)), default=0)

    @property
    def snapshot_count(self) -> int:
        """Number of durable snapshots: `/run/snapshots` (schema 1.1), else the length of `step`."""
        n = self._durable("snapshots")
        if n is not None:
            return n
        g = self.f["snapshots"]
        with check.damaged(self.path, "/snapshots/step"):
            return int(g["step"].shape[0]) if "step" in g else 0

    def _durable(self, group: str) -> int | None:
        """Rows of `group` known durable when the archive was opened (schema 1.1: run/records,
        run/snapshots), else None."""
        return None if self._counts is None else self._counts[group]

    def _rows(self, what: str, read):
        """Read appended rows; one ArchiveError line if they are damaged. A live writer rewrites
        its last uncompressed chunk in place, so a SWMR reader may catch it half written (its
        fletcher32 checksum then fails): such a read is tried again a few times before the data
        counts as damaged."""
        for attempt in range(_LIVE_READ_ATTEMPTS if self.swmr else 1):
            try:
                with check.damaged(self.path, what):
                    return read()
            except ArchiveError:
                if attempt == _LIVE_READ_ATTEMPTS - 1 or not self.swmr:
                    raise
                _time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _read(self, group: str, name: str, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) of an appended dataset, those in a chunk the writer left half
        rewritten included when they are proven (see `read_rows`)."""
        counted = self._counts[group] if self._unclosed and self._counts else None
        return read_rows(self.f[group][name], start, stop, counted)

    def timeseries(self) -> dict[str, np.ndarray]:
        """Every recorded series (with 'step' and 'time'), durable rows only (a running writer may
        have grown some series further already)."""
        g = self.f["timeseries"]
        n = self.records
        return self._rows(
            "the time series", lambda: {name: self._read("timeseries", name, 0, n) for name in _series(g)}
        )

    def snapshot_names(self) -> list[str]:
        """Names of the snapshot arrays (empty when the run took none)."""
        g = self.f["snapshots"]
        return [k for k in g if k not in ("step", "time") and not g[k].is_scale]

    def snapshot_steps(self) -> np.ndarray:
        """The step of every durable snapshot."""
        return self._snapshot_column("step", np.int64)

    def snapshot_times(self) -> np.ndarray:
        """The model time of every durable snapshot."""
        return self._snapshot_column("time", np.float64)

    def _snapshot_column(self, name: str, dtype) -> np.ndarray:
        n = self.snapshot_count
        if name not in self.f["snapshots"]:
            return np.zeros(0, dtype=dtype)
        return self._rows(f"/snapshots/{name}", lambda: self._read("snapshots", name, 0, n))

    def _require_snapshots(self, name: str) -> None:
        if name not in self.snapshot_names():
            raise ArchiveError(f"archive {self.path} has no snapshots of '{name}'; it has {self.snapshot_names()}")

    def snapshots(self, name: str) -> np.ndarray:
        """All durable snapshots of one array, first axis the snapshot index."""
        self._require_snapshots(name)
        n = self.snapshot_count
        return self._rows(f"/snapshots/{name}", lambda: self._read("snapshots", name, 0, n))

    def snapshot(self, name: str, index: int) -> tuple[int, np.ndarray]:
        """(step, array) of one durable snapshot (`index` counts from 0, or from the end if negative),
        without reading the others."""
        self._require_snapshots(name)
        n = self.snapshot_count
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise ArchiveError(f"archive {self.path} has {n} snapshots of '{name}'; there is no snapshot {index}")
        return self._rows(
            f"/snapshots/{name}",
            lambda: (int(self._read("snapshots", "step", i, i + 1)[0]), self._read("snapshots", name, i, i + 1)[0]),
        )

    def final_metrics(self) -> dict[str, float | None]:
        """The last recorded value of every series (reads one element per series)."""
        g = self.f["timeseries"]
        n = self.records
        return self._rows(
            "the last record",
            lambda: {k: (self._read("timeseries", k, n - 1, n)[0].item() if n else None) for k in _series(g)},
        )

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
        out: dict[str, tuple] = {}
        with check.damaged(self.path, "the object tree"):
            self.f.visititems(lambda n, o: out.__setitem__(n, o.shape) if isinstance(o, h5py.Dataset) else None)
        return out

    def verify(self) -> dict[str, Any]:
        """Read every dataset (checking HDF5's fletcher32 checksums) and every checkpoint digest;
        ArchiveError names the first damaged object."""
        return check.verify(self.f, self.path, self._counts, unclosed=self._unclosed)

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
