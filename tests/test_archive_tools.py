"""Archives in the tools people use (xarray, pandas, netCDF, Parquet, CSV), `dps watch`, schema 1.1
details (no empty snapshot datasets, checksums, compact SWMR files) and schema 1.0 files still read."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import h5py
import numpy as np
import pytest

import dps_core.simulation
from dps_core import ArchiveError, Simulation, open_archive
from dps_core.archive import ArchiveWriter
from dps_core.cli import main
from dps_core.watch import watch

CONFIG = {
    "run": {"steps": 40, "record_every": 5, "checkpoint_every": 10, "snapshot_every": 20, "seed": 4},
    "scenario": {"agents": 6, "tasks": 7},
    # every record durable at once, so a paused or killed writer's file holds the row of its step
    "archive": {"snapshots": ["S", "w", "demand"], "flush_every": 1},
}

WRITER = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from dps_core import Simulation, hookimpl

    class Pause:
        dps_plugin_name = "pause"

        @hookimpl
        def dps_record(self, simulation, step, metrics):
            if step == {pause_at}:
                Path(sys.argv[1] + ".ready").write_text("")
                {action}

    Simulation.from_config({config!r}, plugins=[Pause()]).run(sys.argv[1])
""")


def _writer(path, action, pause_at=25):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = WRITER.format(config=CONFIG, pause_at=pause_at, action=action)
    return subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=path.parent, env=env, stderr=subprocess.PIPE)


def _wait_ready(path, proc, seconds=60):
    t = time.monotonic()
    while not path.with_name(path.name + ".ready").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() - t < seconds
        time.sleep(0.05)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("fin") / "run.h5"
    sim = Simulation.from_config(CONFIG)
    sim.run(path)
    return path, sim


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    path = tmp_path_factory.mktemp("killed") / "killed.h5"
    proc = _writer(path, "os.kill(os.getpid(), signal.SIGKILL)")
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    return path


def test_netcdf_readers_see_named_dimensions_with_step_as_coordinate(finished):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path, sim = finished
    ts = xr.open_dataset(path, group="timeseries", engine="h5netcdf")
    assert set(ts.dims) == {"step"} and "step" in ts.coords
    np.testing.assert_array_equal(ts["step"].values, np.arange(0, 41, 5))
    np.testing.assert_array_equal(ts["efficacy"].values, sim.history["efficacy"])
    snaps = xr.open_dataset(path, group="snapshots", engine="h5netcdf")
    assert snaps["S"].dims == ("step", "agent", "task")
    assert snaps["w"].dims == ("step", "agent") and snaps.sizes["task"] == 7
    np.testing.assert_array_equal(snaps["step"].values, [0, 20, 40])
    ts.close()
    snaps.close()


def test_to_xarray_and_to_pandas_on_a_finished_archive(finished):
    pytest.importorskip("xarray")
    path, sim = finished
    with open_archive(path) as ar:
        ds = ar.to_xarray()
        df = ar.to_pandas()
    np.testing.assert_array_equal(ds["efficacy"].values, sim.history["efficacy"])
    assert ds["S"].dims == ("snapshot_step", "agent", "task")
    np.testing.assert_array_equal(ds["S"].values[-1], sim.S)
    assert json.loads(ds.attrs["config"])["run"]["seed"] == 4 and ds.attrs["status"] == "finished"
    assert list(df.index) == list(range(0, 41, 5)) and df.index.name == "step"
    np.testing.assert_array_equal(df["productivity"].to_numpy(), sim.history["productivity"])


@pytest.mark.slow
def test_to_xarray_on_running_and_killed_archives(killed, tmp_path):
    pytest.importorskip("xarray")
    with open_archive(killed) as ar:
        assert ar.swmr
        ds = ar.to_xarray()
        df = ar.to_pandas()
    assert ds["step"].values[-1] == 25 and df.index[-1] == 25 and ds.attrs["status"] == "running"
    with pytest.raises(OSError):  # what a plain netCDF reader meets on a killed writer's file
        h5py.File(killed, "r")
    path = tmp_path / "live.h5"
    proc = _writer(path, "time.sleep(60)")
    try:
        _wait_ready(path, proc)
        with open_archive(path) as ar:
            ds = ar.to_xarray()
        assert ds["step"].values[-1] == 25 and list(ds["snapshot_step"].values) == [0, 20]
    finally:
        proc.kill()
        proc.wait()


def test_export_formats(finished, tmp_path):
    pytest.importorskip("xarray")
    pd = pytest.importorskip("pandas")
    path, sim = finished
    for fmt, suffix in (("netcdf", "nc"), ("parquet", "parquet"), ("csv", "csv")):
        out = tmp_path / f"x.{suffix}"
        assert main(["export", str(path), "--to", fmt, "-o", str(out)]) == 0
        assert out.exists()
    import xarray as xr

    with xr.open_dataset(tmp_path / "x.nc", engine="h5netcdf") as nc:
        np.testing.assert_array_equal(nc["efficacy"].values, sim.history["efficacy"])
        assert nc["S"].shape == (3, 6, 7)
    df = pd.read_parquet(tmp_path / "x.parquet")
    np.testing.assert_array_equal(df["efficacy"].to_numpy(), sim.history["efficacy"])
    csv = pd.read_csv(tmp_path / "x.csv", index_col="step")
    np.testing.assert_allclose(csv["efficacy"].to_numpy(), sim.history["efficacy"], rtol=1e-15)
    assert main(["export", str(path), "--to", "csv", "-o", str(tmp_path / "x.csv")]) == 4  # no silent overwrite


def test_watch_on_a_finished_archive(finished):
    out = io.StringIO()
    assert watch(finished[0], interval=0.01, out=out) == 0
    assert "finished: step 40/40 (100.0 %)" in out.getvalue()


@pytest.mark.slow
def test_watch_on_a_killed_archive(killed):
    out = io.StringIO()
    assert watch(killed, interval=0.01, out=out) == 1
    assert "dps resume" in out.getvalue()


@pytest.mark.slow
def test_watch_follows_a_run_started_after_it(tmp_path):
    path = tmp_path / "followed.h5"
    out = io.StringIO()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("code", watch(path, interval=0.05, out=out, timeout=120)))
    t.start()
    time.sleep(0.3)
    proc = _writer(path, "time.sleep(1.0)")
    proc.wait(timeout=120)
    t.join(timeout=60)
    assert result.get("code") == 0, out.getvalue()
    text = out.getvalue()
    assert "waiting for" in text and "running: step 25/40" in text and "finished: step 40/40" in text


def test_inspect_json_is_strict(tmp_path, capsys):
    path = tmp_path / "t.h5"
    Simulation.from_config({**CONFIG, "run": {**CONFIG["run"], "steps": 10}}).run(path)
    assert main(["inspect", "--json", str(path)]) == 0
    text = capsys.readouterr().out

    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")

    data = json.loads(text, parse_constant=refuse)
    assert data["final_metrics"]["change"] is not None and data["config"]["run"]["steps"] == 10
    from dps_core.cli import _dumps

    assert json.loads(_dumps({"a": float("inf"), "b": [np.float64("nan"), 1.5]})) == {"a": None, "b": [None, 1.5]}


def test_no_snapshot_datasets_when_the_run_never_snapshots(tmp_path):
    path = tmp_path / "n.h5"
    Simulation.from_config({**CONFIG, "run": {**CONFIG["run"], "snapshot_every": 0}}).run(path)
    with h5py.File(path, "r") as f:
        assert "snapshots" in f and len(f["snapshots"]) == 0
    with open_archive(path) as ar:
        assert ar.snapshot_names() == [] and len(ar.snapshot_steps()) == 0


def test_checksums_on_every_appended_dataset_and_checkpoint(finished):
    path, _ = finished
    with h5py.File(path, "r") as f:
        for group in ("timeseries", "snapshots"):
            for name, ds in f[group].items():
                if ds.maxshape[0] is None:
                    assert ds.fletcher32, f"{group}/{name}"
        latest = int(f["checkpoint/latest"][()])
        assert len(f[f"checkpoint/slot{latest}/sha256"][()].strip()) == 64
    with open_archive(path) as ar:
        report = ar.verify()
    assert report["checkpoint_slots"] == {0: "ok", 1: "ok"}


class _SchemaOneWriter(ArchiveWriter):
    """Today's layout as schema 1.0.0 wrote it: compressed 1024-row chunks without fletcher32,
    no dimension scales, no checkpoint digests, snapshot datasets declared even when unused."""

    def _series(self, group, name, dtype, shape=()):
        rows = max(1, min(1024, (1 << 20) // max(1, int(np.prod(shape, dtype=np.int64)) * 8)))
        return group.create_dataset(
            name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(rows, *shape), **self._compress
        )

    def _scales(self, *args):
        pass

    def _declare(self, f, source, inputs):
        super()._declare(f, source, inputs)
        f.attrs["dps_schema"] = "1.0.0"
        g = f["snapshots"]
        if "step" not in g:
            for name in ("step", "time"):
                self._series(g, name, np.int64 if name == "step" else np.float64)
            for name in self.sim.config.archive.snapshots:
                arr = self.sim.snapshot_array(name)
                self._series(g, name, arr.dtype, arr.shape)


def _strip_to_schema_1_0(path):
    """Remove what schema 1.1 added and the writer needs while it runs (digests, durable counts,
    heartbeat, process start, stored inputs)."""
    with h5py.File(path, "r+") as f:
        for slot in (0, 1):
            del f[f"checkpoint/slot{slot}/sha256"]
        for name in ("run/records", "run/snapshots", "run/heartbeat", "run/pid_start", "inputs"):
            del f[name]
        del f["run"].attrs["backend_changes"]


@pytest.mark.parametrize("snapshot_every", [0, 20])
def test_schema_1_0_archives_still_read_and_resume(tmp_path, monkeypatch, snapshot_every):
    cfg = {**CONFIG, "run": {**CONFIG["run"], "snapshot_every": snapshot_every}}
    path = tmp_path / "old.h5"
    monkeypatch.setattr(dps_core.simulation, "ArchiveWriter", _SchemaOneWriter)
    Simulation.from_config(cfg).run(path)
    monkeypatch.undo()
    _strip_to_schema_1_0(path)
    with h5py.File(path, "r") as f:
        assert f.attrs["dps_schema"] == "1.0.0" and "sha256" not in f["checkpoint/slot0"]
        assert not f["timeseries/efficacy"].fletcher32
    with open_archive(path) as ar:
        assert ar.schema == "1.0.0" and ar.checkpoint()["state"].step == 40
        assert len(ar.timeseries()["step"]) == 9
        assert ar.verify()["checkpoint_slots"][0] == "no digest (schema 1.0)"
        if snapshot_every:
            assert ar.snapshots("S").shape == (3, 6, 7)
    result = Simulation.resume(path, steps=50)
    whole = Simulation.from_config(cfg)
    whole.run(tmp_path / "whole.h5", steps=50)
    assert result.status == "finished" and result.step == 50
    with open_archive(path) as a, open_archive(tmp_path / "whole.h5") as b:
        assert a.schema == "1.3.0"  # a resumed archive is rewritten in the current layout
        for k, v in b.timeseries().items():
            np.testing.assert_array_equal(a.timeseries()[k], v, err_msg=k)


def test_damaged_checkpoint_is_not_resumed_from(tmp_path):
    path = tmp_path / "d.h5"
    Simulation.from_config(CONFIG).run(path)
    with h5py.File(path, "r+") as f:
        latest = int(f["checkpoint/latest"][()])
        f[f"checkpoint/slot{latest}/arrays/w"][0] += 1e-12
    with pytest.raises(ArchiveError, match="does not match its SHA-256 digest"):
        Simulation.resume(path, steps=50)


@pytest.mark.slow
def test_optional_libraries_are_not_imported():
    code = (
        "import sys, dps_core, dps_core.cli\n"
        "try:\n    dps_core.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('xarray', 'pandas', 'h5netcdf', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


def test_default_archive_name_is_in_the_working_directory_and_counts_up(tmp_path, monkeypatch):
    """Where docs/config.md (`run.output`) says the default archive goes."""
    conf = tmp_path / "configs" / "small.toml"
    conf.parent.mkdir()
    conf.write_text("[run]\nsteps = 2\n[scenario]\nagents = 3\ntasks = 4\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["run", str(conf), "--no-progress"]) == 0
    assert main(["run", str(conf), "--no-progress"]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["small-1.h5", "small.h5"]
    assert not list(conf.parent.glob("*.h5"))


@pytest.mark.slow
def test_without_the_retry_cap_a_child_process_probe_bounds_the_wait(killed, tmp_path, monkeypatch):
    """Where HDF5's retry count cannot be capped, a damaged killed file costs a timeout, not a hang."""
    import dps_core.archive_check as check

    with h5py.File(killed, "r", swmr=True) as f:  # corrupt the root group's object header
        root = h5py.h5o.get_info(f.id).addr
    bad = tmp_path / "bad.h5"
    data = bytearray(killed.read_bytes())
    data[root + 8] ^= 0x10
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(check, "_set_attempts", None)
    monkeypatch.setattr(check.probe_in_child, "__defaults__", (3.0,))
    t = time.monotonic()
    with pytest.raises(ArchiveError, match="did not finish reading its metadata within 3 s"):
        open_archive(bad)
    assert time.monotonic() - t < 10
