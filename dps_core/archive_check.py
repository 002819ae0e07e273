"""Checks that keep damaged archives from hanging or crashing a reader: a look at the file's
superblock before HDF5 opens it, a bounded HDF5 metadata retry, a structural check of the dps
layout, checkpoint digests and a full read (`dps inspect --verify`).

Why: a SWMR reader retries a metadata read that fails its checksum up to 100 times with a sleep
that doubles each time, so a truncated or bit-flipped file kept `dps inspect` busy for hours,
deaf to Ctrl-C (the loop runs inside HDF5). Here the retry count is capped (about 50 ms in all)
and a file shorter than the end-of-file address its superblock records is refused before HDF5
sees it.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .archive_rows import read_rows
from .errors import ArchiveError

__all__ = [
    "slot_digest",
    "preflight",
    "failed_in_place",
    "TruncatedArchive",
    "probe_in_child",
    "open_h5",
    "damaged",
    "check_layout",
    "verify",
]

SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5's default for SWMR readers is 100 attempts with a doubling sleep (effectively forever);
# 24 attempts sleep about 2**24 ns = 17 ms in all, ample for a live writer to finish an entry.
READ_ATTEMPTS = 24
_SCHEMA_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# h5py raises these (and KeyError for missing objects) when HDF5 meets damaged bytes
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError, UnicodeDecodeError, AttributeError)


def slot_digest(
    arrays: dict[str, np.ndarray], rng: np.ndarray, step: int, time: float, records: int, snapshots: int
) -> str:
    """SHA-256 (hex) of one checkpoint slot: for every array in name order its name, a NUL, its
    dtype string, its shape, its C-order bytes; then the six RNG words (uint64 little-endian) and
    step, records, snapshots (int64) and time (float64), little-endian. Readable without dps."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(name.encode() + b"\0" + a.dtype.str.encode() + repr(tuple(a.shape)).encode())
        h.update(a.tobytes())
    h.update(np.asarray(rng, dtype="<u8").tobytes())
    h.update(np.array([step, records, snapshots], dtype="<i8").tobytes())
    h.update(np.array([time], dtype="<f8").tobytes())
    return h.hexdigest()


class TruncatedArchive(ArchiveError):
    """The file is shorter than its superblock records (see `preflight`)."""


def preflight(path: Path) -> None:
    """Refuse, before HDF5 sees it, a file that is not HDF5 or is shorter than its superblock says."""
    if not path.exists():
        raise ArchiveError(f"archive {path} does not exist")
    if not path.is_file():
        raise ArchiveError(f"{path} is not a file (an archive is one HDF5 file)")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise ArchiveError(f"cannot read archive {path}: {exc.strerror or exc}") from None
    if not head.startswith(SIGNATURE):
        if not h5py.is_hdf5(path):  # a user block would move the signature to 512, 1024, ...
            raise ArchiveError(f"{path} is not an HDF5 file (a dps archive is one): no HDF5 signature")
        return
    version = head[8] if len(head) > 8 else -1
    if version in (2, 3):  # the superblock versions of libver >= 1.8, which dps writes
        width = head[9] if len(head) > 9 else 0
        if width not in (2, 4, 8, 16, 32) or len(head) < 12 + 4 * width + 4:
            raise ArchiveError(f"archive {path} is damaged: its HDF5 superblock is cut off or unreadable")
        base = int.from_bytes(head[12 : 12 + width], "little")
        eof = int.from_bytes(head[12 + 2 * width : 12 + 3 * width], "little")
        if eof + base > size:
            raise TruncatedArchive(
                f"archive {path} is truncated: {size} bytes on disk, but its HDF5 superblock records "
                f"{eof + base} (a copy cut short, a full disk, or damage); it cannot be read safely"
            )


def failed_in_place(path: Path) -> h5py.File | None:
    """A short file its own writer marked `failed` after a write error (a full disk or a file-size
    limit: HDF5 had already recorded the larger end of file in the superblock), opened as a SWMR
    reader, which tolerates the shortfall (or, for a writer outside SWMR mode, as an in-memory copy
    padded to that length); or None for any other short file (a copy cut short)."""
    try:
        f = open_h5(path, swmr=True)
    except OSError:
        from .archive_io import open_unclean  # a writer outside SWMR mode leaves its flags set

        f = open_unclean(path, pad=True)
        if f is None:
            return None
    try:
        status = f["run/status"][()]
        if isinstance(status, bytes) and status.decode(errors="replace").strip() == "failed":
            return f
    except READ_ERRORS:
        pass
    f.close()
    return None


def _hdf5_library():
    """The HDF5 library h5py uses, through ctypes (for settings h5py does not expose), or None."""
    candidates = glob.glob(os.path.join(os.path.dirname(h5py.__file__), os.pardir, "h5py.libs", "libhdf5-*.so*"))
    try:
        with open("/proc/self/maps") as maps:
            candidates += sorted(
                {line.split()[-1] for line in maps if re.search(r"/libhdf5(?:_serial)?[-.][^/]*\.(so|dylib)", line)}
            )
    except OSError:
        pass
    for cand in candidates:
        if "_hl" in os.path.basename(cand):
            continue
        try:
            lib = ctypes.CDLL(cand)
            fn = lib.H5Pset_metadata_read_attempts
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return fn
    return None


_set_attempts = _hdf5_library()


def _fapl(attempts: int) -> h5py.h5p.PropFAID:
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    if _set_attempts is not None:
        _set_attempts(fapl.id, attempts)
    return fapl


def open_h5(path: Path, *, swmr: bool, attempts: int = READ_ATTEMPTS) -> h5py.File:
    """Open read-only with a bounded metadata retry (HDF5 errors propagate as OSError)."""
    flags = h5py.h5f.ACC_RDONLY | (h5py.h5f.ACC_SWMR_READ if swmr else 0)
    fid = h5py.h5f.open(os.fsencode(path), flags, fapl=_fapl(attempts))
    return h5py.File(fid)


PROBE_SECONDS = 10.0
_PROBE = """
import sys, h5py
try:
    f = h5py.File(sys.argv[1], "r")
except OSError:
    f = h5py.File(sys.argv[1], "r", swmr=True)
dict(f.attrs)
f.visititems(lambda name, obj: dict(obj.attrs) and None)
"""


def probe_in_child(path: Path, seconds: float = PROBE_SECONDS) -> None:
    """Walk the file's metadata in a child process that is killed after `seconds`: the fallback
    where HDF5's retry count cannot be capped (its library not found through ctypes), so that a
    damaged file costs a timeout rather than a hang. Errors are left to the real open."""
    import subprocess
    import sys

    try:
        subprocess.run(
            [sys.executable, "-c", _PROBE, os.fspath(path)], capture_output=True, timeout=seconds, check=False
        )
    except subprocess.TimeoutExpired:
        raise ArchiveError(
            f"archive {path} is damaged: HDF5 did not finish reading its metadata within {seconds:g} s "
            "(it retries unreadable metadata in SWMR mode)"
        ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "filter returned failure" in text:
        return "its stored bytes fail their fletcher32 checksum or do not decompress"
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return re.sub(r"^(?:Unable to|Can't) synchronously \w+ \w+ \((.*)\)$", r"\1", text)


def _show(v: Any) -> str:
    return repr(v.item() if isinstance(v, np.generic) else v)


@contextmanager
def damaged(path: Path, what: str) -> Iterator[None]:
    """Turn an error HDF5 or h5py raises while reading `what` into one ArchiveError line."""
    try:
        yield
    except ArchiveError:
        raise
    except READ_ERRORS as exc:
        raise ArchiveError(f"archive {path} is damaged: cannot read {what} ({_reason(exc)})") from None


def _require(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise ArchiveError(f"archive {path} is damaged: {what}")


def parse_schema(path: Path, value: Any) -> tuple[int, int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value) if isinstance(value, str) else None
    m = _SCHEMA_RE.match(text or "")
    _require(m is not None, path, f"root attribute 'dps_schema' is {_show(value)}, not a version like '1.1.0'")
    return tuple(int(x) for x in m.groups())  # type: ignore[union-attr,return-value]


def check_layout(f: h5py.File, path: Path) -> dict[str, int] | None:
    """The metadata-only checks every open makes (fast: no dataset is read beyond a few scalars).
    Returns the durable row counts {'timeseries': n, 'snapshots': m} (None for schema 1.0)."""
    with damaged(path, "the root attributes"):
        attrs = {k: f.attrs[k] for k in ("config", "run_id", "seed_entropy", "n_agents", "n_tasks") if k in f.attrs}
    for key in ("config", "run_id", "seed_entropy"):
        _require(isinstance(attrs.get(key), str), path, f"root attribute '{key}' is missing or not a string")
    _require(str(attrs["seed_entropy"]).isdigit(), path, "root attribute 'seed_entropy' is not a decimal integer")
    for key in ("n_agents", "n_tasks"):
        v = attrs.get(key)
        _require(
            isinstance(v, (int, np.integer)) and int(v) > 0,
            path,
            f"root attribute '{key}' is {v!r}, not a positive integer",
        )
    try:
        cfg = json.loads(attrs["config"])
    except ValueError:
        cfg = None
    _require(isinstance(cfg, dict), path, "root attribute 'config' is not a JSON object")
    scenario = cfg.get("scenario") if isinstance(cfg, dict) else None
    _require(
        isinstance(scenario, dict) and isinstance(scenario.get("name"), str),
        path,
        "root attribute 'config' names no scenario (no 'scenario.name')",
    )
    with damaged(path, "the layout"):
        for group in ("timeseries", "snapshots", "checkpoint", "run"):
            _require(isinstance(f.get(group), h5py.Group), path, f"group /{group} is missing")
        # (a SWMR reader caches an object header once read: no appended dataset is opened before
        # the counts are read, or its length would be older than they are)
        for name in ("run/status", "run/message", "run/last_step", "run/pid", "checkpoint/latest"):
            _require(isinstance(f.get(name), h5py.Dataset), path, f"dataset /{name} is missing")
        # read in the reverse of a live writer's order (rows, then counts, then checkpoint), so
        # that each value read is covered by those read after it
        latest = f["checkpoint/latest"][()]
        _require(
            np.ndim(latest) == 0 and int(latest) in (-1, 0, 1),
            path,
            f"/checkpoint/latest is {_show(latest)}, not -1, 0 or 1",
        )
        kept = None
        if int(latest) >= 0:
            slot = f.get(f"checkpoint/slot{int(latest)}")
            _require(isinstance(slot, h5py.Group), path, f"checkpoint slot {int(latest)} is missing")
            for name in ("step", "time", "records", "snapshots", "rng", "arrays"):
                _require(name in slot, path, f"checkpoint slot {int(latest)} has no '{name}'")
            for name in ("w", "C", "demand"):
                _require(name in slot["arrays"], path, f"checkpoint slot {int(latest)} has no array '{name}'")
            kept = tuple(int(slot[k][()]) for k in ("records", "snapshots", "step"))
            _require(kept[2] >= 0, path, f"the checkpoint's step is {kept[2]}")
            _require(slot["rng"].shape == (6,), path, f"the checkpoint's rng has shape {slot['rng'].shape}, not (6,)")
        schema = parse_schema(path, f.attrs.get("dps_schema"))
        counts = None
        if schema >= (1, 1, 0) or "run/records" in f:
            counts = {"timeseries": _count(f, path, "run/records"), "snapshots": _count(f, path, "run/snapshots")}
        _require(isinstance(f.get("timeseries/step"), h5py.Dataset), path, "dataset /timeseries/step is missing")
        ts = f["timeseries"]
        lengths = {name: ds.shape[0] for name, ds in ts.items() if isinstance(ds, h5py.Dataset) and ds.ndim == 1}
        snaps = f["snapshots"]
        n_snap = snaps["step"].shape[0] if "step" in snaps else 0
        if counts is not None:  # rows beyond the durable counts may be partial
            records, n_snap = counts["timeseries"], counts["snapshots"]
            short = {k: n for k, n in lengths.items() if n < records}
            _require(not short, path, f"/run/records is {records}, but time series {sorted(short)} are shorter")
            snap_lengths = {
                k: ds.shape[0] for k, ds in snaps.items() if isinstance(ds, h5py.Dataset) and ds.maxshape[0] is None
            }
            short = {k: n for k, n in snap_lengths.items() if n < n_snap}
            _require(
                not short and (n_snap == 0 or "step" in snaps),
                path,
                f"/run/snapshots is {n_snap}, but snapshot datasets {sorted(short) or ['step']} are shorter",
            )
        else:
            # schema 1.0: a writer killed between two appends may leave one series a row longer
            _require(
                not lengths or max(lengths.values()) - min(lengths.values()) <= 1,
                path,
                f"time series have different lengths {lengths}",
            )
            records = min(lengths.values(), default=0)
        if kept is not None:
            n_rec, n_sn, _ = kept
            _require(
                0 <= n_rec <= records, path, f"the checkpoint keeps {n_rec} records, but the time series hold {records}"
            )
            _require(0 <= n_sn <= n_snap, path, f"the checkpoint keeps {n_sn} snapshots, but there are {n_snap}")
        status = f["run/status"][()]
        _require(isinstance(status, bytes), path, "/run/status is not a string")
        status.decode()
    return counts


def _count(f: h5py.File, path: Path, name: str) -> int:
    """A durable row count (/run/records, /run/snapshots): a non-negative integer scalar."""
    ds = f.get(name)
    _require(isinstance(ds, h5py.Dataset), path, f"dataset /{name} is missing")
    v = ds[()]
    _require(
        np.ndim(v) == 0 and isinstance(v, (int, np.integer)) and int(v) >= 0,
        path,
        f"/{name} is {_show(v)}, not a non-negative integer",
    )
    return int(v)


def _read_all(ds: h5py.Dataset) -> None:
    """Read a dataset chunk by chunk (so a 1 GB snapshot never needs 1 GB of memory)."""
    if ds.shape is None or ds.size == 0:
        return
    if ds.chunks is None or ds.ndim == 0:
        ds[()]
        return
    for sel in ds.iter_chunks():
        ds[sel]


def _read_counted(ds: h5py.Dataset, n: int, unclosed: bool) -> bool:
    """Read the first n rows of an appended dataset a chunk at a time; True if a chunk the writer
    left half rewritten had to prove its rows (see `read_rows`)."""
    torn = False
    for start in range(0, n, ds.chunks[0]):
        stop = min(n, start + ds.chunks[0])
        try:
            ds[start:stop]
        except OSError:
            read_rows(ds, start, stop, n if unclosed else None)  # HDF5's error again unless proven
            torn = True
    return torn


def verify(f: h5py.File, path: Path, counts: dict[str, int] | None = None, *, unclosed: bool = False) -> dict[str, Any]:
    """Read every dataset (HDF5 checks fletcher32 on chunked ones) and recompute the checkpoint
    digests; raise ArchiveError naming the first damaged object. Returns what was checked. With
    the durable row `counts` ({'timeseries': n, 'snapshots': m}), appended datasets are read up to
    those counts: rows past them are not data. `unclosed`: the writer stopped without closing the
    file, so the chunk holding the last counted rows may be half rewritten (see `read_rows`); the
    datasets where it was, and its rows were proven, are listed under 'torn_chunks'."""
    names: list[str] = []
    with damaged(path, "the object tree"):
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    nbytes = 0
    torn: list[str] = []
    for name in names:
        with damaged(path, f"dataset /{name}"):
            ds = f[name]
            group = name.split("/", 1)[0]
            if counts is not None and group in counts and ds.maxshape and ds.maxshape[0] is None:
                if _read_counted(ds, min(counts[group], ds.shape[0]), unclosed):
                    torn.append(f"/{name}")
            else:
                _read_all(ds)
            nbytes += ds.size * ds.dtype.itemsize if ds.shape is not None else 0
    slots = {}
    latest = int(f["checkpoint/latest"][()])
    for slot in (0, 1):
        s = f.get(f"checkpoint/slot{slot}")
        if s is None or "sha256" not in s or int(s["step"][()]) < 0:
            slots[slot] = "empty" if s is not None and int(s["step"][()]) < 0 else "no digest (schema 1.0)"
            continue
        ok = check_slot(s, path, slot, raise_error=slot == latest)
        slots[slot] = "ok" if ok else "damaged (not the latest slot)"
    return {"datasets": len(names), "bytes": int(nbytes), "checkpoint_slots": slots, "torn_chunks": torn}


def read_slot(s: h5py.Group) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    s["arrays"].visititems(lambda n, o: arrays.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return arrays


def check_slot(s: h5py.Group, path: Path, slot: int, *, raise_error: bool = True, arrays=None) -> bool:
    """Compare a slot's stored SHA-256 with its contents (slots of schema 1.0 files carry none)."""
    if "sha256" not in s:
        return True
    with damaged(path, f"checkpoint slot {slot}"):
        stored = s["sha256"][()].decode().strip()
        arrays = read_slot(s) if arrays is None else arrays
        digest = slot_digest(
            arrays,
            s["rng"][()],
            int(s["step"][()]),
            float(s["time"][()]),
            int(s["records"][()]),
            int(s["snapshots"][()]),
        )
    if stored == digest:
        return True
    if raise_error:
        raise ArchiveError(
            f"archive {path} is damaged: checkpoint slot {slot} does not match its SHA-256 digest "
            "(its arrays or counters changed after they were written); it cannot be resumed from"
        )
    return False
