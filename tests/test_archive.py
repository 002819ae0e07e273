"""Archive v1: the complete, self-describing layout exists from the start; nothing is pickled; a
kill -9 leaves a readable archive whose resume gives the same arrays as an uninterrupted run."""

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import dps_core
from dps_core import ArchiveError, Config, Simulation, open_archive
from dps_core.archive import SCHEMA

CONFIG = {
    "run": {"steps": 60, "record_every": 5, "checkpoint_every": 10, "snapshot_every": 20, "seed": 9},
    "scenario": {"agents": 9, "tasks": 12, "peaks": 2},
    "mode": {"name": "gradient", "eta": 0.3, "noise": 0.05},
    "demand": {"name": "drift", "speed": 0.02, "noise": 0.01},
    "archive": {"snapshots": ["S", "w", "mu", "demand.phase"]},
}


def test_layout_and_provenance(tmp_path):
    path = tmp_path / "run.h5"
    sim = Simulation.from_config(CONFIG)
    sim.run(path)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["dps_schema"] == SCHEMA
        assert a["dps_version"] == dps_core.__version__
        assert a["numpy_version"] == np.__version__ and a["h5py_version"] == h5py.version.version
        assert a["hdf5_version"] == h5py.version.hdf5_version
        assert Config.from_json(a["config"]) == sim.config
        assert a["seed_entropy"] == "9" and list(a["seed_spawn_key"]) == []
        assert "core" in json.loads(a["plugins"])
        assert a["created"].startswith("20")
        for group in (
            "tasks",
            "agents",
            "topology",
            "timeseries",
            "snapshots",
            "checkpoint",
            "run",
            "plugins/core",
            "scenario",
        ):
            assert group in f, group
        ts = f["timeseries"]
        assert list(ts["step"][()]) == list(range(0, 61, 5))
        for name in ("productivity", "efficacy", "effective_productivity", "efficiency", "change"):
            assert ts[name].shape == (13,) and ts[name].maxshape == (None,) and ts[name].chunks is not None
        assert f["snapshots/S"].shape == (4, 9, 12) and f["snapshots/S"].maxshape == (None, 9, 12)
        assert list(f["snapshots/step"][()]) == [0, 20, 40, 60]
        assert f["snapshots/demand.phase"].shape == (4, 1)
        latest = int(f["checkpoint/latest"][()])
        assert f[f"checkpoint/slot{latest}/step"][()] == 60
        assert f["run/status"][()].strip() == b"finished"
        np.testing.assert_array_equal(f[f"checkpoint/slot{latest}/arrays/profile/mu"][()], sim.state.profile["mu"])

        def no_pickles(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj.dtype.kind in "iufSb", (name, obj.dtype)
            for k, v in obj.attrs.items():
                if k in ("DIMENSION_LIST", "REFERENCE_LIST"):  # HDF5 dimension scales: object references
                    continue
                assert not (hasattr(v, "dtype") and v.dtype.kind in "OV"), (name, k)

        f.visititems(no_pickles)
    with open_archive(path) as ar:
        assert not ar.swmr and ar.status == "finished"
        assert ar.final_metrics()["step"] == 60


def test_archive_recorded_metrics_match_the_simulation(tmp_path):
    sim = Simulation.from_config(CONFIG)
    sim.run(tmp_path / "a.h5")
    with open_archive(tmp_path / "a.h5") as ar:
        ts = ar.timeseries()
    for k, v in sim.history.items():
        np.testing.assert_array_equal(ts[k], np.asarray(v), err_msg=k)


KILLER = textwrap.dedent("""
    import os, signal, sys
    from dps_core import Simulation, hookimpl

    class Killer:
        dps_plugin_name = "killer"

        @hookimpl
        def dps_record(self, simulation, step, metrics):
            if step == 45:
                os.kill(os.getpid(), signal.SIGKILL)

    config = {config!r}
    Simulation.from_config(config, plugins=[Killer()]).run(sys.argv[1])
""")


def test_kill_minus_nine_then_resume_equals_uninterrupted(tmp_path, capsys):
    path = tmp_path / "killed.h5"
    proc = subprocess.run(
        [sys.executable, "-c", KILLER.format(config=CONFIG), str(path)], capture_output=True, cwd=tmp_path
    )  # not the repository: `python -c` imports from its working directory
    assert proc.returncode == -9, proc.stderr.decode()
    with pytest.raises(OSError):
        h5py.File(path, "r")  # the HDF5 fact the design rests on
    with open_archive(path) as ar:
        assert ar.swmr and ar.status == "running"
        ck = ar.checkpoint()
        assert ck["state"].step == 40 and ck["records"] == 9
        assert ar.last_step == 45
    from dps_core.cli import main

    assert main(["inspect", str(path), "--json"]) == 0  # `dps inspect` reads a killed writer's archive
    info = json.loads(capsys.readouterr().out)
    assert info["opened_with_swmr"] and info["status"] == "running" and info["checkpoint_step"] == 40
    assert info["final_metrics"]["step"] == 45
    result = Simulation.resume(path)
    assert result.status == "finished" and result.step == 60
    whole = Simulation.from_config(CONFIG)
    whole.run(tmp_path / "whole.h5")
    with open_archive(path) as a, open_archive(tmp_path / "whole.h5") as b:
        assert not a.swmr  # the rewritten archive was closed cleanly
        ta, tb = a.timeseries(), b.timeseries()
        assert ta.keys() == tb.keys()
        for k in ta:
            np.testing.assert_array_equal(ta[k], tb[k], err_msg=k)
        np.testing.assert_array_equal(a.snapshots("S"), b.snapshots("S"))
        ca, cb = a.checkpoint()["state"].arrays(), b.checkpoint()["state"].arrays()
        for k in cb:
            assert np.array_equal(ca[k], cb[k]), k
        assert a.provenance["run_id"] != b.provenance["run_id"]
        assert a.provenance["created"] <= b.provenance["created"]


def test_refuses_to_overwrite_and_reports_unwritable_paths(tmp_path):
    sim = Simulation.from_config({**CONFIG, "run": {**CONFIG["run"], "steps": 2}})
    sim.run(tmp_path / "x.h5")
    with pytest.raises(ArchiveError, match="already exists"):
        Simulation.from_config(CONFIG).run(tmp_path / "x.h5")
    with pytest.raises(ArchiveError, match="does not exist"):
        Simulation.from_config(CONFIG).run(tmp_path / "no" / "such" / "dir.h5")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.access(ro, os.W_OK):  # root ignores permissions: use a path that cannot be a file instead
            target = tmp_path / "x.h5" / "inside.h5"
        else:
            target = ro / "y.h5"
        with pytest.raises(ArchiveError, match="cannot write archive|does not exist"):
            Simulation.from_config(CONFIG).run(target)
    finally:
        ro.chmod(0o700)


def test_bad_archives_are_clear_errors(tmp_path):
    with pytest.raises(ArchiveError, match="does not exist"):
        open_archive(tmp_path / "none.h5")
    txt = tmp_path / "t.h5"
    txt.write_text("hello")
    with pytest.raises(ArchiveError, match="not an HDF5 file"):
        open_archive(txt)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(ArchiveError, match="not a dps archive"):
        open_archive(other)
    with pytest.raises(ArchiveError, match="no checkpoint|not a dps archive"):
        Simulation.resume(other)


def test_nan_stops_the_run_and_keeps_the_archive(tmp_path):
    bad = {
        **CONFIG,
        "mode": {"name": "gradient", "eta_w": 1e308},
        "demand": {"name": "static"},
        "signal": {"name": "residual"},
        "archive": {"snapshots": ["S"]},
        "scenario": {"agents": 9, "tasks": 12, "peaks": 2, "floor": 0.5},
    }
    path = tmp_path / "nan.h5"
    with pytest.raises(dps_core.NumericalError, match=r"step \d+: arrays? '(profile/mu|w)'.* became NaN or inf"):
        Simulation.from_config(bad).run(path)
    with open_archive(path) as ar:
        assert ar.status == "failed" and "NaN" in ar.message
        ck = ar.checkpoint()
        assert np.all(np.isfinite(ck["state"].w))
