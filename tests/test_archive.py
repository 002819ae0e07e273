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
    "archive": {"snapshots": ["S", "w", "mu", "demand.phase"], "flush_every": 1},
    "scenario": {"agents": 9, "tasks": 12, "peaks": 2},
    "mode": {"name": "gradient", "eta": 0.3, "noise": 0.05},
    "demand": {"name": "drift", "speed": 0.02, "noise": 0.01},
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
    assert info["writer"] is None  # its writer is dead
    assert main(["inspect", str(path)]) == 0
    assert "writer: dead" in capsys.readouterr().out
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


def _ring_npz(path, n, k):
    """CSR adjacency of a ring where each node receives from its k nearest neighbours on each side."""
    rows = [sorted({(i + d) % n for d in range(-k, k + 1)} - {i}) for i in range(n)]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    np.savez(path, indptr=indptr, indices=np.concatenate(rows), data=np.ones(indptr[-1]))


GRAPH_TOML = """
[run]
steps = 60
record_every = 5
checkpoint_every = 10
seed = 5
[scenario]
agents = 10
tasks = 8
[topology]
name = "csr"
file = "graph.npz"
[mixing]
name = "shared"
"""


def test_resume_reads_file_inputs_from_the_archive(tmp_path, monkeypatch):
    """A relative topology.file is stored in the archive: resume elsewhere, or with another file of
    that name present, continues on the original graph."""
    (tmp_path / "a").mkdir()
    config = tmp_path / "a" / "run.toml"
    config.write_text(GRAPH_TOML)
    _ring_npz(tmp_path / "a" / "graph.npz", 10, 1)
    Simulation.from_config(config, entry_points=False).run(tmp_path / "whole.h5")
    Simulation.from_config(config, entry_points=False).run(tmp_path / "part.h5", steps=30)
    with h5py.File(tmp_path / "part.h5", "r") as f:
        stored = f["inputs/topology.file"]
        assert stored.attrs["value"] == "graph.npz"
        assert stored[()].tobytes() == (tmp_path / "a" / "graph.npz").read_bytes()
    _ring_npz(tmp_path / "a" / "graph.npz", 10, 3)  # another graph under the same name
    (tmp_path / "b").mkdir()
    _ring_npz(tmp_path / "b" / "graph.npz", 10, 2)
    monkeypatch.chdir(tmp_path / "b")
    Simulation.resume(tmp_path / "part.h5", entry_points=False)
    with open_archive(tmp_path / "part.h5") as a, open_archive(tmp_path / "whole.h5") as b:
        for k, v in b.timeseries().items():
            np.testing.assert_array_equal(a.timeseries()[k], v, err_msg=k)
        np.testing.assert_array_equal(a.f["topology/indices"][()], b.f["topology/indices"][()])
        assert a.f["topology"].attrs["params"] == b.f["topology"].attrs["params"]


def test_resume_refuses_another_kernel_backend_unless_allowed(tmp_path, monkeypatch):
    from dps_core import backend as current

    if current() != "compiled":
        pytest.skip("needs the compiled kernel")
    from dps_core import compiled

    isa = compiled.isa()
    path = tmp_path / "run.h5"
    Simulation.from_config(CONFIG, entry_points=False).run(path, steps=30)
    mod = sys.modules["dps_core.backend"]
    monkeypatch.setenv("DPS_PUREPYTHON", "1")
    mod._compiled.cache_clear()
    try:
        with pytest.raises(ArchiveError, match="stepped by the compiled kernel.*--allow-backend-change"):
            Simulation.resume(path, entry_points=False)
        result = Simulation.resume(path, entry_points=False, allow_backend_change=True)
        assert result.step == 60
        with open_archive(path) as ar:
            changes = json.loads(ar.f["run"].attrs["backend_changes"])
            assert ar.provenance["backend"] == "reference"
        assert [(c["step"], c["from"], c["to"]) for c in changes] == [
            (30, f"compiled ({isa}, arithmetic {compiled.arithmetic()})", "reference")
        ]
    finally:
        monkeypatch.delenv("DPS_PUREPYTHON")
        mod._compiled.cache_clear()


def test_resume_refuses_another_instruction_set_unless_allowed(tmp_path):
    """Across instruction sets the compiled kernel agrees to rounding only (docs/performance.md):
    the archive records the one that ran, and a resume on another is refused unless allowed."""
    from dps_core import backend as current

    if current() != "compiled":
        pytest.skip("needs the compiled kernel")
    from dps_core import compiled

    here, rev = compiled.isa(), compiled.arithmetic()
    other = "avx2" if here != "avx2" else "baseline"
    path = tmp_path / "run.h5"
    Simulation.from_config(CONFIG, entry_points=False).run(path, steps=30)
    with open_archive(path) as ar:
        assert ar.provenance["kernel_isa"] == here and ar.schema == "1.3.0"
    with h5py.File(path, "r+") as f:
        f.attrs["kernel_isa"] = other  # as if stepped on another CPU
    with pytest.raises(
        ArchiveError, match=f"on {other} but this process runs it on {here}.*DPS_KERNEL_ISA.*--allow-backend-change"
    ):
        Simulation.resume(path, entry_points=False)
    assert Simulation.resume(path, entry_points=False, allow_backend_change=True).step == 60
    with open_archive(path) as ar:
        changes = json.loads(ar.f["run"].attrs["backend_changes"])
        assert ar.provenance["kernel_isa"] == here
    assert [(c["step"], c["from"], c["to"]) for c in changes] == [
        (30, f"compiled ({other}, arithmetic {rev})", f"compiled ({here}, arithmetic {rev})")
    ]
    # a schema 1.1 file does not say which instruction set ran: it is not refused for that (but it was
    # stepped by the first arithmetic revision: test_resume_refuses_another_arithmetic_revision_unless_allowed)
    old = tmp_path / "old.h5"
    Simulation.from_config(CONFIG, entry_points=False).run(old, steps=30)
    with h5py.File(old, "r+") as f:
        del f.attrs["kernel_isa"]
        f.attrs["kernel_arithmetic"] = rev  # as if that revision had been the first
        f.attrs["dps_schema"] = "1.1.0"
    assert Simulation.resume(old, entry_points=False).step == 60
    with open_archive(old) as ar:
        assert json.loads(ar.f["run"].attrs["backend_changes"]) == [] and ar.schema == "1.3.0"


def test_resume_refuses_another_arithmetic_revision_unless_allowed(tmp_path):
    """A change to the compiled kernel that alters results by rounding raises its arithmetic revision
    (the exponential of revision 2 rounds differently from revision 1's): the archive records the
    revision, files of schema < 1.3 were all stepped by revision 1, and a resume on another revision
    is refused unless allowed, then recorded."""
    from dps_core import backend as current

    if current() != "compiled":
        pytest.skip("needs the compiled kernel")
    from dps_core import compiled

    here, rev = compiled.isa(), compiled.arithmetic()
    assert rev >= 2  # the table-driven exponential came with revision 2
    for name, older in (("older.h5", rev - 1), ("schema-1.2.h5", None)):
        path = tmp_path / name
        Simulation.from_config(CONFIG, entry_points=False).run(path, steps=30)
        with open_archive(path) as ar:
            assert ar.provenance["kernel_arithmetic"] == rev
        with h5py.File(path, "r+") as f:
            if older is None:  # a file written before revisions were recorded
                del f.attrs["kernel_arithmetic"]
                f.attrs["dps_schema"] = "1.2.0"
            else:
                f.attrs["kernel_arithmetic"] = older
        was = 1 if older is None else older
        with pytest.raises(
            ArchiveError,
            match=f"arithmetic revision {was} .*computes revision {rev}: .*not bit for bit.*--allow-backend-change",
        ):
            Simulation.resume(path, entry_points=False)
        assert Simulation.resume(path, entry_points=False, allow_backend_change=True).step == 60
        with open_archive(path) as ar:
            changes = json.loads(ar.f["run"].attrs["backend_changes"])
            assert ar.provenance["kernel_arithmetic"] == rev and ar.schema == "1.3.0"
        assert [(c["step"], c["from"], c["to"]) for c in changes] == [
            (30, f"compiled ({here}, arithmetic {was})", f"compiled ({here}, arithmetic {rev})")
        ], name


@pytest.fixture
def kernel_isa(monkeypatch):
    """use(name) makes the next kernel lookup pick instruction set `name` through DPS_KERNEL_ISA, as
    a fresh process would ('' for the best this CPU runs); the best is restored afterwards."""
    from dps_core import backend as current

    if current() != "compiled":
        pytest.skip("needs the compiled kernel")
    from dps_core import compiled

    mod = sys.modules["dps_core.backend"]

    def use(value):
        if value:
            monkeypatch.setenv("DPS_KERNEL_ISA", value)
        else:
            monkeypatch.delenv("DPS_KERNEL_ISA", raising=False)
        mod._compiled.cache_clear()
        compiled.set_isa(compiled.isas()[0])  # what a fresh process starts with

    yield use
    use("")


def _same_checkpoints(path, whole):
    with open_archive(path) as ar, open_archive(whole) as ref:
        ours, theirs = ar.checkpoint()["state"].arrays(), ref.checkpoint()["state"].arrays()
        assert ar.last_step == ref.last_step and ours.keys() == theirs.keys()
        for key, value in theirs.items():
            assert np.array_equal(ours[key], value), key


def test_resume_with_the_recorded_instruction_set_continues_bit_for_bit(tmp_path, kernel_isa):
    """DPS_KERNEL_ISA picks the instruction set (here the baseline, which every x86-64 CPU runs): a
    run written with it resumes with it, unrefused and unrecorded, exactly as if never stopped."""
    from dps_core import backend as current
    from dps_core import compiled
    from dps_core.errors import ConfigError

    best, chosen = compiled.isas()[0], compiled.isas()[-1]
    if chosen == best:
        pytest.skip("this build has one instruction set only")
    kernel_isa(chosen)
    path, whole = tmp_path / "run.h5", tmp_path / "whole.h5"
    Simulation.from_config(CONFIG, entry_points=False).run(path, steps=30)
    Simulation.from_config(CONFIG, entry_points=False).run(whole, steps=60)
    with open_archive(path) as ar:
        assert ar.provenance["kernel_isa"] == chosen
    kernel_isa("")
    with pytest.raises(ArchiveError, match=f"DPS_KERNEL_ISA='{chosen}'"):
        Simulation.resume(path, entry_points=False)
    kernel_isa(chosen)
    assert Simulation.resume(path, entry_points=False).step == 60
    with open_archive(path) as ar:
        assert json.loads(ar.f["run"].attrs["backend_changes"]) == []
    _same_checkpoints(path, whole)
    kernel_isa("sse9")
    with pytest.raises(ConfigError, match="DPS_KERNEL_ISA: kernel instruction set 'sse9': no such"):
        current()


def test_a_run_resumes_unrefused_between_instruction_sets_with_the_same_results(tmp_path, kernel_isa):
    """AVX-512 and x86-64-v3 compute the same operations (tests/test_kernel.py checks their arrays
    bit for bit): a run written with one resumes with the other without being asked, continues
    exactly as if never stopped, and the archive records the change."""
    from dps_core import compiled

    if not {"avx512f", "x86-64-v3"} <= set(compiled.isas()):
        pytest.skip("needs a CPU with AVX-512")
    kernel_isa("x86-64-v3")
    path, whole = tmp_path / "run.h5", tmp_path / "whole.h5"
    Simulation.from_config(CONFIG, entry_points=False).run(path, steps=30)
    kernel_isa("avx512f")
    Simulation.from_config(CONFIG, entry_points=False).run(whole, steps=60)
    assert Simulation.resume(path, entry_points=False).step == 60
    with open_archive(path) as ar:
        changes = json.loads(ar.f["run"].attrs["backend_changes"])
        assert ar.provenance["kernel_isa"] == "avx512f"
    rev = compiled.arithmetic()
    assert [(c["step"], c["from"], c["to"]) for c in changes] == [
        (30, f"compiled (x86-64-v3, arithmetic {rev})", f"compiled (avx512f, arithmetic {rev})")
    ]
    _same_checkpoints(path, whole)
    kernel_isa("x86-64 baseline")  # results that differ by rounding: refused, naming both that would do
    with pytest.raises(ArchiveError, match=r"DPS_KERNEL_ISA='avx512f' or 'x86-64-v3' \(the same results\)"):
        Simulation.resume(path, entry_points=False)


def test_every_mapping_plugins_see_has_one_order_fresh_and_resumed(tmp_path):
    config = {
        "run": {"steps": 20, "checkpoint_every": 10, "seed": 2},
        "scenario": {"tasks": 12, "agents": 5, "peaks": 2},
        "profile": {"family": "vonmises"},
        "mode": {"name": "gradient", "eta": 0.2},
        "signal": {"name": "residual"},
        "demand": {"name": "drift", "speed": 0.02},
    }
    fresh = Simulation.from_config(config, entry_points=False)
    fresh.run(tmp_path / "run.h5")
    resumed = Simulation.from_archive(tmp_path / "run.h5", entry_points=False)
    assert list(resumed.state.profile) == list(Simulation.from_config(config, entry_points=False).state.profile)
    assert list(resumed.state.extras) == list(fresh.state.extras)
    assert list(resumed.state.arrays()) == list(fresh.state.arrays())
    for kind in ("scenario", "mode", "signal", "demand"):
        assert list(getattr(resumed.config, kind).params) == list(getattr(fresh.config, kind).params), kind


def test_schema_1_0_archives_still_read_and_resume(tmp_path):
    """A 1.0 archive (no durable counts, heartbeat, inputs) reads and resumes as before."""
    path = tmp_path / "old.h5"
    Simulation.from_config(CONFIG, entry_points=False).run(path, steps=30)
    with h5py.File(path, "r+") as f:
        for name in ("run/records", "run/snapshots", "run/heartbeat", "run/pid_start", "inputs"):
            del f[name]
        del f["run"].attrs["backend_changes"]
        del f.attrs["kernel_isa"]
        f.attrs["dps_schema"] = "1.0.0"
    with open_archive(path) as ar:
        assert ar.schema == "1.0.0" and list(ar.timeseries()["step"]) == list(range(0, 31, 5))
    Simulation.resume(path, entry_points=False)
    whole = tmp_path / "whole.h5"
    Simulation.from_config(CONFIG, entry_points=False).run(whole)
    with open_archive(path) as a, open_archive(whole) as b:
        for k, v in b.timeseries().items():
            np.testing.assert_array_equal(a.timeseries()[k], v, err_msg=k)


def test_one_snapshot_is_the_state_at_its_step(tmp_path):
    """`snapshot(name, i)` against the run's own final state and against `snapshots(name)`; the
    snapshot times against the time series at the same steps."""
    sim = Simulation.from_config(CONFIG)
    sim.run(tmp_path / "a.h5")
    with open_archive(tmp_path / "a.h5") as ar:
        step, w = ar.snapshot("w", -1)
        assert step == sim.state.step == 60
        np.testing.assert_array_equal(w, sim.state.arrays()["w"])
        steps, all_w = ar.snapshot_steps(), ar.snapshots("w")
        assert list(steps) == [0, 20, 40, 60]
        for i in range(4):
            s, w = ar.snapshot("w", i)
            assert s == steps[i]
            np.testing.assert_array_equal(w, all_w[i])
        ts = ar.timeseries()
        np.testing.assert_array_equal(ar.snapshot_times(), ts["time"][np.searchsorted(ts["step"], steps)])
        with pytest.raises(ArchiveError, match="has 4 snapshots of 'w'; there is no snapshot 4"):
            ar.snapshot("w", 4)
        with pytest.raises(ArchiveError, match="has no snapshots of 'C'"):
            ar.snapshot("C", 0)
