"""A writer killed while rewriting a time-series chunk in place leaves the chunk's first pages new
and the rest, its checksum included, old. The rows the archive counted as durable are intact and
proven by that old checksum: they read, verify and resume; any other damage is still refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from dps_core import ArchiveError, Simulation, open_archive
from dps_core.archive_rows import fletcher32_agrees, read_rows
from dps_core.cli import main


def _chunk_bytes(ds: h5py.Dataset) -> tuple[np.ndarray, int]:
    """The first chunk's data bytes and the checksum HDF5 stored after them."""
    mask, raw = ds.id.read_direct_chunk((0,) * ds.ndim)
    assert mask == 0
    return np.frombuffer(raw[:-4], dtype=np.uint8), int.from_bytes(raw[-4:], "little")


@pytest.mark.parametrize(
    "dtype, row, per_chunk, fill",
    [("<f8", (), 1024, None), ("u1", (), 7, None), ("<i2", (3, 5), 4, 9), (">f4", (2,), 5, 1.5)],
)
def test_checksum_agrees_with_the_one_hdf5_stores(tmp_path, dtype, row, per_chunk, fill):
    """The expected checksums are HDF5's own, stored after each append: they must agree with the
    chunk's bytes (the rows so far, then fill), and not with the chunk one row earlier nor with
    one bit changed. Odd byte counts (u1 × 7), a big-endian type and a user fill value included."""
    rng = np.random.default_rng(5)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        ds = f.create_dataset(
            "x",
            shape=(0, *row),
            maxshape=(None, *row),
            chunks=(per_chunk, *row),
            dtype=dtype,
            fletcher32=True,
            fillvalue=fill,
        )
        size = ds.dtype.itemsize * int(np.prod(row, dtype=np.int64))
        filled = np.full((per_chunk, *row), ds.fillvalue, dtype=ds.dtype).tobytes()
        for p in range(1, per_chunk + 1):
            ds.resize(p, axis=0)
            ds[p - 1] = rng.integers(10, 100, row)  # never the fill value
            f.flush()
            data, stored = _chunk_bytes(ds)
            assert fletcher32_agrees(data.tobytes(), stored)
            one_row_less = data.tobytes()[: (p - 1) * size] + filled[(p - 1) * size :]
            assert not fletcher32_agrees(one_row_less, stored)
            flipped = data.copy()
            flipped[rng.integers(len(data))] ^= 1 << rng.integers(8)
            assert not fletcher32_agrees(flipped.tobytes(), stored)


TORN = ("timeseries/step", "timeseries/efficiency", "snapshots/S")  # S: 640-byte rows, 102 a chunk


def _killed_archive(tmp_path, faults):
    """A run killed at step 45: its counted rows per group, and those rows of the TORN datasets."""
    path = tmp_path / "run.h5"
    proc = faults.run_child(tmp_path, faults.KILLED_AT_45, str(path))
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    with h5py.File(path, "r", swmr=True) as f:
        counted = {"timeseries": int(f["run/records"][()]), "snapshots": int(f["run/snapshots"][()])}
        before = {}
        for name in TORN:
            n = counted[name.split("/")[0]]
            assert 0 < n == f[name].shape[0] < f[name].chunks[0]  # the rows end inside the first chunk
            before[name] = f[name][:n]
    return path, counted, before


def _write_at(path, name: str, offset_in_chunk: int, data: bytes) -> None:
    """Overwrite bytes of dataset `name`'s first chunk in the file, as a torn write would."""
    with h5py.File(path, "r", swmr=True) as f:
        start = f[name].id.get_chunk_info_by_coord((0,) * f[name].ndim).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(start + offset_in_chunk)
        fh.write(data)


def _tear(path, name: str, counted: int) -> None:
    """The next row (ones: never the fill value) written after the counted ones, the checksum
    left as it was."""
    with h5py.File(path, "r", swmr=True) as f:
        row = np.ones(f[name].shape[1:], dtype=f[name].dtype).tobytes()
    _write_at(path, name, counted * len(row), row)
    with h5py.File(path, "r", swmr=True) as f, pytest.raises(OSError):  # what HDF5 alone makes of it
        f[name][:counted]


def test_torn_chunk_keeps_its_durable_rows_and_resumes(tmp_path, faults, capsys):
    path, counted, before = _killed_archive(tmp_path, faults)
    for name in TORN:
        _tear(path, name, counted[name.split("/")[0]])
    with open_archive(path) as ar:
        ts = ar.timeseries()
        for name in ("step", "efficiency"):
            np.testing.assert_array_equal(ts[name], before[f"timeseries/{name}"], err_msg=name)
        assert ar.final_metrics()["step"] == before["timeseries/step"][-1]
        np.testing.assert_array_equal(ar.snapshots("S"), before["snapshots/S"])
        np.testing.assert_array_equal(ar.snapshot("S", -1)[1], before["snapshots/S"][-1])
        assert sorted(ar.verify()["torn_chunks"]) == sorted(f"/{name}" for name in TORN)
    assert main(["inspect", "--verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "the chunk holding the last counted rows of /snapshots/S, /timeseries/efficiency" in out
    assert "was half rewritten when the writer stopped" in out
    Simulation.resume(path, entry_points=False)
    faults.assert_same(faults.arrays(path), faults.reference(tmp_path))


def test_damage_inside_the_durable_rows_is_still_refused(tmp_path, faults):
    path, counted, _ = _killed_archive(tmp_path, faults)
    last = 8 * (counted["timeseries"] - 1)
    _write_at(path, "timeseries/efficiency", last, np.array([0.5]).tobytes())  # the last counted row
    with open_archive(path) as ar:
        with pytest.raises(ArchiveError, match="damaged: cannot read the time series"):
            ar.timeseries()
        with pytest.raises(ArchiveError, match="damaged"):
            ar.verify()
    with pytest.raises(ArchiveError, match="damaged"):
        Simulation.resume(path, entry_points=False)


def test_a_checksum_of_fewer_rows_than_durable_proves_nothing(tmp_path, faults):
    """The stored checksum is that of a version holding one counted row less (as if rows were
    counted before they were written): it proves that version's rows, not the counted ones."""
    path, counted, before = _killed_archive(tmp_path, faults)
    durable, rows = counted["timeseries"], before["timeseries/efficiency"]
    with h5py.File(tmp_path / "scratch.h5", "w") as f, h5py.File(path, "r", swmr=True) as src:
        like = src["timeseries/efficiency"]
        ds = f.create_dataset("x", data=rows[:-1], maxshape=(None,), chunks=like.chunks, fletcher32=True)
        _, older = _chunk_bytes(ds)
        size = like.id.get_chunk_info_by_coord((0,)).size
    _write_at(path, "timeseries/efficiency", size - 4, older.to_bytes(4, "little"))
    with open_archive(path) as ar, pytest.raises(ArchiveError, match="damaged"):
        ar.timeseries()
    with h5py.File(path, "r", swmr=True) as f:
        ds = f["timeseries/efficiency"]
        for stop in (durable, durable - 1):  # the proof is of the counted rows' version only
            with pytest.raises(OSError):
                read_rows(ds, 0, stop, durable)
        # what the planted checksum does prove: the version with one row less
        np.testing.assert_array_equal(read_rows(ds, 0, durable - 1, durable - 1), rows[:-1])


def test_a_cleanly_closed_archive_is_never_read_past_its_checksum(tmp_path, faults):
    """A writer that closed its file completed every chunk: a chunk failing its checksum there is
    damage, however much it looks like a torn rewrite."""
    path = tmp_path / "run.h5"
    Simulation.from_config(faults.CONFIG, entry_points=False).run(path)
    with h5py.File(path, "r") as f:
        durable = int(f["run/records"][()])
    _tear(path, "timeseries/efficiency", durable)
    with open_archive(path) as ar:
        assert ar.status == "finished"
        with pytest.raises(ArchiveError, match="damaged: cannot read the time series"):
            ar.timeseries()
        with pytest.raises(ArchiveError, match="damaged: cannot read dataset /timeseries/efficiency"):
            ar.verify()


def test_the_kill_stress_tool_reads_every_killed_archive(tmp_path):
    """tests/kill_stress.py in a short form: two runs killed at random moments, both published
    (the kill lands after the first flush), both read and verified (exit status 0)."""
    tool = Path(__file__).with_name("kill_stress.py")
    proc = subprocess.run(
        [sys.executable, str(tool), str(tmp_path), "--runs", "2", "--seed", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "'published': 2" in proc.stdout
