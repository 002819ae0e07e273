"""Sweeps: designs, validation before anything runs, fault isolation, skip/resume on rerun, the
directory lock, changed sweep files, the index (HDF5 with external links, Parquet) and the table."""

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from dps_core import ConfigError, Simulation, hookimpl
from dps_core.archive import open_archive
from dps_core.design import load_sweep
from dps_core.sweep import Sweep, SweepError, _Lock

BASE = {
    "run": {"steps": 40, "record_every": 10, "checkpoint_every": 10},
    "scenario": {"name": "generic", "agents": 8, "tasks": 8, "peaks": 2},
    "profile": {"family": "vonmises", "kappa": 4.0},
    "mode": {"name": "gradient", "eta": 0.2},
    "metrics": {"names": ["efficacy", "hill"]},
}


def sweep_dict(**extra):
    return {"sweep": {"seed": 7, "replicates": 2}, "base": BASE, "grid": {"scenario.peaks": [1, 3]}, **extra}


def final_arrays(path: Path) -> dict:
    with open_archive(path) as ar:
        out = {f"state/{k}": v for k, v in ar.checkpoint()["state"].arrays().items()}
        out.update({f"ts/{k}": v for k, v in ar.timeseries().items()})
    return out


def assert_same_runs(dir_a: Path, dir_b: Path) -> None:
    names = sorted(p.name for p in (dir_a / "runs").glob("*.h5"))
    assert names == sorted(p.name for p in (dir_b / "runs").glob("*.h5")) and names
    for name in names:
        a, b = final_arrays(dir_a / "runs" / name), final_arrays(dir_b / "runs" / name)
        assert a.keys() == b.keys()
        for k in a:
            assert np.array_equal(a[k], b[k], equal_nan=True), (name, k)


# --- designs -------------------------------------------------------------------------------------------


def test_grid_zip_and_replicates_multiply():
    plan = load_sweep(
        sweep_dict(
            grid={"scenario.peaks": [1, 2, 3], "mode.eta": [0.1, 0.2]},
            zip={"scenario.agents": [6, 10], "scenario.tasks": [8, 12]},
        )
    )
    assert len(plan.runs) == 3 * 2 * 2 * 2
    assert plan.keys == ("scenario.peaks", "mode.eta", "scenario.agents", "scenario.tasks")
    pairs = {(r.params["scenario.agents"], r.params["scenario.tasks"]) for r in plan.runs}
    assert pairs == {(6, 8), (10, 12)}  # zipped, never crossed
    for r in plan.runs:
        assert r.config["run"]["seed"] == r.seed
        assert r.config["scenario"]["agents"] == r.params["scenario.agents"]


def test_seeds_come_from_one_spawned_root_and_are_distinct():
    plan = load_sweep(sweep_dict())
    runs_ss = np.random.SeedSequence(7).spawn(2)[0]
    children = runs_ss.spawn(len(plan.runs))
    expected = [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]
    assert [r.seed for r in plan.runs] == expected
    assert len(set(expected)) == len(expected)
    assert load_sweep(sweep_dict()).hash == plan.hash  # deterministic
    other = sweep_dict()
    other["sweep"]["seed"] = 8
    assert load_sweep(other).hash != plan.hash


def test_latin_hypercube_puts_one_point_in_every_stratum():
    """A Latin hypercube of n samples has exactly one point in each of the n equal strata of every
    coordinate (McKay, Beckman & Conover 1979); on a log-scale key the strata are equal in log."""
    n = 16
    plan = load_sweep(
        {
            "sweep": {"seed": 3},
            "base": BASE,
            "design": {
                "method": "lhs",
                "samples": n,
                "ranges": {
                    "mode.eta": {"low": 0.01, "high": 1.0, "log": True},
                    "scenario.peaks": {"low": 1, "high": 4, "integer": True},
                },
            },
        }
    )
    assert len(plan.runs) == n
    eta = np.array([r.params["mode.eta"] for r in plan.runs])
    strata = np.floor((np.log(eta) - np.log(0.01)) / (np.log(1.0) - np.log(0.01)) * n).astype(int)
    assert sorted(strata) == list(range(n))
    peaks = [r.params["scenario.peaks"] for r in plan.runs]
    assert all(isinstance(p, int) for p in peaks)
    assert sorted(peaks) == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4  # 16 strata onto 4 integers, 4 each


@pytest.mark.parametrize("method", ["sobol", "halton"])
def test_quasi_random_designs_stay_in_range(method):
    plan = load_sweep(
        {
            "sweep": {},
            "base": BASE,
            "design": {"method": method, "samples": 8, "ranges": {"mode.eta": {"low": 0.05, "high": 0.5}}},
        }
    )
    eta = [r.params["mode.eta"] for r in plan.runs]
    assert len(set(eta)) == 8 and all(0.05 <= e <= 0.5 for e in eta)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"grid": {"scenario.peaks": [1, 2], "run.stepz": [1]}}, "run r0000 .*stepz"),
        ({"grid": {"scenario.peaks": [2, "three"]}}, "run r0002 .*scenario.peaks='three'.*peaks"),
        ({"grid": {"mixing.gamma": [0.5, 1.5]}}, "run r0002 .*gamma"),  # mean_field needs gamma <= 1
        ({"grid": {"run.seed": [1, 2]}}, "run.seed is set per run"),
        ({"zip": {"scenario.agents": [4, 5], "scenario.tasks": [4]}}, "equal lengths"),
        ({"design": {"method": "grid", "samples": 4, "ranges": {}}}, "method must be one of"),
    ],
)
def test_invalid_axes_are_reported_before_anything_runs_naming_the_run(change, message):
    with pytest.raises(ConfigError, match=message):
        load_sweep({**sweep_dict(), **change})


def test_a_sweep_needs_a_base(tmp_path):
    with pytest.raises(ConfigError, match="needs a base config"):
        load_sweep({"sweep": {}, "grid": {"scenario.peaks": [1]}})
    f = tmp_path / "s.toml"
    f.write_text('[sweep]\nbase = "nowhere.toml"\n')
    with pytest.raises(ConfigError, match="nowhere.toml: config file not found"):
        load_sweep(f)


def test_the_shipped_example_is_valid():
    plan = load_sweep(Path(__file__).resolve().parents[1] / "examples" / "sweep_generic.toml")
    assert len(plan.runs) == 4 * 2 * 3
    assert {r.config["scenario"]["agents"] for r in plan.runs} == {48}


# --- running (in this process: workers=0) ------------------------------------------------------------


def test_a_failing_run_becomes_a_row_and_the_others_finish(tmp_path):
    # 10^9 agents passes validation but the engine refuses it for memory when the run starts
    s = Sweep.run(sweep_dict(grid={"scenario.agents": [8, 10**9]}), tmp_path / "d", workers=0)
    rows = {r["run"]: r for r in s.records()}
    assert [rows[k]["status"] for k in sorted(rows)] == ["finished", "finished", "failed", "failed"]
    assert "memory" in rows["r0002"]["error"]
    assert rows["r0000"]["steps_executed"] == 40 and math.isfinite(rows["r0000"]["efficacy"])
    assert s.status()["counts"] == {"failed": 2, "finished": 2}


@pytest.mark.slow
def test_rerun_skips_finished_runs_and_resumes_interrupted_ones(tmp_path):
    plan = load_sweep(sweep_dict())
    ref = Sweep.run(plan, tmp_path / "ref", workers=0)
    assert {r["steps_executed"] for r in ref.records()} == {40}

    # a sweep directory where r0001 was interrupted at step 20 (its checkpoint) and the rest never ran
    d = tmp_path / "d"
    (d / "runs").mkdir(parents=True)

    class Stop:
        @hookimpl
        def dps_record(self, simulation, step, metrics):
            if step == 20:
                raise KeyboardInterrupt

    run = plan.runs[1]
    sim = Simulation.from_config(run.config, plugins=[Stop()], entry_points=True)
    with pytest.raises(KeyboardInterrupt):
        sim.run(d / "runs" / f"{run.id}.h5")
    with open_archive(d / "runs" / "r0001.h5") as ar:
        assert ar.status == "interrupted" and ar.checkpoint()["state"].step == 20

    s = Sweep.run(plan, d, workers=0)
    rows = {r["run"]: r for r in s.records()}
    assert rows["r0001"]["action"] == "resumed" and rows["r0001"]["steps_executed"] == 20
    assert {rows[k]["steps_executed"] for k in rows if k != "r0001"} == {40}
    assert_same_runs(ref.directory, d)

    mtimes = {p.name: p.stat().st_mtime_ns for p in (d / "runs").glob("*.h5")}
    again = Sweep.run(plan, d, workers=0)
    assert {r["action"] for r in again.records()} == {"skipped"}
    assert {r["steps_executed"] for r in again.records()} == {0}
    assert mtimes == {p.name: p.stat().st_mtime_ns for p in (d / "runs").glob("*.h5")}


def test_a_directory_held_by_a_live_sweep_is_refused(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    lock = _Lock(d)  # another coordinator (a second open file description: flock conflicts)
    try:
        with pytest.raises(SweepError, match="being written by another live sweep"):
            Sweep.run(sweep_dict(), d, workers=0)
    finally:
        lock.release()
    Sweep.run(sweep_dict(), d, workers=0)  # free again


def test_a_changed_sweep_file_is_refused_unless_allowed(tmp_path):
    d = tmp_path / "d"
    Sweep.run(sweep_dict(), d, workers=0)
    changed = sweep_dict(grid={"scenario.peaks": [1, 4]})
    with pytest.raises(SweepError, match="differs from the one"):
        Sweep.run(changed, d, workers=0)
    s = Sweep.run(changed, d, workers=0, allow_changed=True)
    by_peaks = {r["run"]: (r["scenario.peaks"], r["steps_executed"]) for r in s.records()}
    assert by_peaks == {"r0000": (1, 0), "r0001": (1, 0), "r0002": (4, 40), "r0003": (4, 40)}


def test_index_links_every_archive_and_matches_the_table(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    d = tmp_path / "d"
    s = Sweep.run(sweep_dict(), d, workers=0)
    with h5py.File(d / "index.h5", "r") as f:
        assert sorted(f["runs"]) == ["r0000", "r0001", "r0002", "r0003"]
        assert f["runs/r0002"].attrs["dps_schema"]  # the external link opens the run's archive
        assert list(f["table/status"].asstr()[()]) == ["finished"] * 4
    table = s.to_pandas()
    parquet = pd.read_parquet(d / "index.parquet")
    assert list(parquet["run"]) == list(table["run"]) and np.allclose(parquet["efficacy"], table["efficacy"])
    for _, row in table.iterrows():
        with open_archive(d / row["archive"]) as ar:
            assert row["efficacy"] == ar.final_metrics()["efficacy"]
            assert ar.config_dict["run"]["seed"] == row["seed"]
    # the index can be rebuilt from the archives alone
    (d / "index.h5").unlink()
    Sweep(d).rebuild_index()
    rebuilt = Sweep(d).to_pandas()
    assert list(rebuilt["status"]) == ["finished"] * 4
    assert np.array_equal(rebuilt["hill_q1"].to_numpy(), table["hill_q1"].to_numpy())


def test_timeseries_is_long_form(tmp_path):
    pytest.importorskip("pandas")
    s = Sweep.run(sweep_dict(), tmp_path / "d", workers=0)
    ts = s.timeseries("efficacy")
    assert list(ts.columns) == ["run", "scenario.peaks", "replicate", "step", "time", "value"]
    assert len(ts) == 4 * 5  # 4 runs x records at steps 0, 10, 20, 30, 40
    assert sorted(set(ts["step"])) == [0, 10, 20, 30, 40]
    with pytest.raises(ConfigError, match="no run recorded 'nope'"):
        s.timeseries("nope")


# --- the command line -----------------------------------------------------------------------------------


def test_cli_plan_run_table_status(tmp_path, capsys):
    from dps_core.cli import main

    f = tmp_path / "s.toml"
    f.write_text(
        "[sweep]\nreplicates = 2\nseed = 1\n[base.run]\nsteps = 20\nrecord_every = 10\n"
        '[base.scenario]\nname = "generic"\nagents = 6\ntasks = 8\n[grid]\n"scenario.peaks" = [1, 2]\n'
    )
    assert main(["sweep", "plan", str(f)]) == 0
    out = capsys.readouterr().out
    assert "4 runs (2 points x 2 replicates)" in out and "estimated:" in out
    assert main(["sweep", "run", str(f), "-o", str(tmp_path / "d"), "--workers", "0", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["event"] for x in lines] == ["run"] * 4 + ["summary"]
    assert lines[-1]["counts"] == {"finished": 4}
    assert main(["sweep", "table", str(tmp_path / "d"), "--csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0].startswith("run,point,replicate,scenario.peaks,seed,status") and len(csv) == 5
    assert main(["sweep", "status", str(tmp_path / "d"), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["counts"] == {"finished": 4} and st["live"] is False


def test_cli_reports_a_bad_axis_in_one_line(tmp_path, capsys):
    from dps_core.cli import main

    f = tmp_path / "s.toml"
    f.write_text('[sweep]\n[base.scenario]\nname = "generic"\n[grid]\n"scenario.peakz" = [1, 2]\n')
    assert main(["sweep", "plan", str(f)]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "run r0000" in err and "peakz" in err
    assert main(["sweep", "status", str(tmp_path)]) != 0
    assert "not a sweep directory" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_reports_an_unusable_scheduler_in_one_line(tmp_path, capsys):
    pytest.importorskip("distributed")
    from dps_core.cli import main

    f = tmp_path / "s.toml"
    f.write_text('[sweep]\n[base.scenario]\nname = "generic"\n')
    code = main(["sweep", "run", str(f), "-o", str(tmp_path / "d"), "--scheduler-file", str(tmp_path / "none.json")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "none.json: no such file" in err
    assert main(["sweep", "run", str(f), "-o", str(tmp_path / "d"), "--workers", "1", "--dask-local", "2"]) != 0
    assert "choose one of" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # nothing was started


@pytest.mark.slow
@pytest.mark.compiled
def test_runs_in_a_sweep_are_single_threaded_unless_asked(tmp_path, monkeypatch):
    from dps_core import backend, compiled, threads

    if backend() != "compiled":
        pytest.skip("reference kernel in use")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_requested", None)  # no explicit request left over by another test
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    asked = []
    real = compiled._kernel.set_num_threads
    monkeypatch.setattr(compiled._kernel, "set_num_threads", lambda n: (asked.append(n), real(1))[1])
    agents = 3 * threads.THRESHOLD // 64 + 1
    big = {
        **BASE,
        "run": {"steps": 2, "record_every": 1},
        "scenario": {"name": "generic", "agents": agents, "tasks": 64},
    }
    assert threads.for_size(agents, 64) == 3  # what the run would use on its own
    Sweep.run({"sweep": {}, "base": big}, tmp_path / "a", workers=0)
    assert set(asked) == {1}
    asked.clear()
    Sweep.run({"sweep": {"threads": 0}, "base": big}, tmp_path / "b", workers=0)  # 0: by size
    assert set(asked) == {3}


def test_sweep_plot_draws_the_mean_over_replicates(tmp_path, capsys):
    """dps sweep plot: one point per x, at the mean of that x's finished replicates (read back from the table)."""
    pytest.importorskip("matplotlib")
    from dps_core.cli import main

    out = tmp_path / "sweep"
    Sweep.run(sweep_dict(), out, workers=0, progress=False)
    assert (
        main(["sweep", "plot", str(out), "--x", "scenario.peaks", "--y", "hill_q1", "-o", str(tmp_path / "p.png")]) == 0
    )
    assert (tmp_path / "p.png").stat().st_size > 0 and "4 finished runs" in capsys.readouterr().out
    from dps_core.plotting import plot_sweep

    rows = Sweep(out).records()
    fig = plot_sweep({k: [r[k] for r in rows] for k in ("scenario.peaks", "hill_q1")}, "scenario.peaks", "hill_q1")
    xs, ys = fig.axes[0].lines[0].get_data()
    for x, y in zip(xs, ys, strict=True):
        expect = np.mean([r["hill_q1"] for r in rows if r["scenario.peaks"] == x])  # replicates of one point
        assert y == pytest.approx(expect, rel=1e-12)
    assert main(["sweep", "plot", str(out), "--x", "scenario.nope", "--y", "hill_q1"]) == 2
    assert "no column 'scenario.nope'" in capsys.readouterr().err
