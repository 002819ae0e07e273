"""Sweeps on real engines: local worker processes, a Dask LocalCluster, and a Dask scheduler with
two workers started as separate processes (127.0.0.1 only) of which one is killed mid-sweep; and a
`dps sweep run` killed and rerun. Results must be identical to a serial sweep. Every test is
bounded (120 s) and stops every process it started."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from dps_core.archive import open_archive
from dps_core.design import load_sweep
from dps_core.sweep import Sweep, _end_broken_pool, local_executor

from .test_sweep import BASE, assert_same_runs

pytestmark = [pytest.mark.slow, pytest.mark.nokernel]  # the engines, not the kernel, are under test

LIMIT = 120  # seconds per test
BIN = Path(sys.executable).parent


@pytest.fixture
def deadline():
    """Fails the test (TimeoutError in the main thread) after LIMIT seconds."""

    def expire(signum, frame):
        raise TimeoutError(f"test exceeded {LIMIT} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def procs():
    """Processes a test starts; all are killed and reaped at the end."""
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        with contextlib.suppress(Exception):
            p.wait(timeout=10)


def long_sweep(n_points=4, steps=300):
    """Runs long enough (a few tenths of a second to seconds) to be caught in the middle."""
    base = {
        **BASE,
        "run": {"steps": steps, "record_every": 20, "checkpoint_every": 25},
        "scenario": {"name": "generic", "agents": 24, "tasks": 32, "peaks": 2},
    }
    return {
        "sweep": {"seed": 11, "replicates": 2},
        "base": base,
        "grid": {"mode.eta": [0.05 * (i + 1) for i in range(n_points)]},
    }


def test_local_processes_and_dask_local_cluster_match_serial(tmp_path, deadline):
    pytest.importorskip("distributed")
    plan = load_sweep(long_sweep(n_points=2, steps=60))
    Sweep.run(plan, tmp_path / "serial", workers=0)
    local = Sweep.run(plan, tmp_path / "local", workers=2)
    assert {r["status"] for r in local.records()} == {"finished"}
    hosts_pids = set()
    for r in local.records():
        with open_archive(tmp_path / "local" / r["archive"]) as ar:
            hosts_pids.add(int(ar.f["run/pid"][()]))
    assert os.getpid() not in hosts_pids  # the runs ran in worker processes
    assert_same_runs(tmp_path / "serial", tmp_path / "local")
    from dps_core.cli import main

    # the command line's --dask-local: a LocalCluster of worker processes on 127.0.0.1, no dashboard
    f = tmp_path / "s.toml"
    f.write_text(json_to_toml(long_sweep(n_points=2, steps=60)))
    assert load_sweep(f).hash == plan.hash
    assert main(["sweep", "run", str(f), "-o", str(tmp_path / "dask"), "--dask-local", "2", "--no-progress"]) == 0
    dask = Sweep(tmp_path / "dask")
    assert {r["status"] for r in dask.records()} == {"finished"}
    assert_same_runs(tmp_path / "serial", tmp_path / "dask")
    assert_same_runs(tmp_path / "serial", tmp_path / "dask")


def _wait_for(pred, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise TimeoutError(f"waited {seconds} s for {what}")


def test_dask_scheduler_and_workers_survive_a_killed_worker(tmp_path, deadline, procs):
    distributed = pytest.importorskip("distributed")
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs.append(
        subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--scheduler-file", str(sched_file), "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    )  # fmt: skip
    _wait_for(sched_file.exists, 60, "the scheduler file")
    workers = []
    for i in range(2):
        w = subprocess.Popen(
            [str(BIN / "dask"), "worker", "--scheduler-file", str(sched_file), "--nthreads", "1", "--no-nanny",
             "--host", "127.0.0.1", "--name", f"w{i}", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(w)
        workers.append(w)
    plan = load_sweep(long_sweep(n_points=4, steps=300))
    Sweep.run(plan, tmp_path / "serial", workers=0)
    with distributed.Client(scheduler_file=str(sched_file), timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
        killed = []

        def kill_one(row):
            if not killed:  # after the first result, while both workers are busy
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait(timeout=10)  # reaped, as its parent (a shell, a nanny, a batch system) would
                killed.append(row["run"])

        s = Sweep.run(plan, tmp_path / "dask", executor=client.get_executor(pure=False), on_record=kill_one)
    assert killed and workers[0].returncode == -signal.SIGKILL
    rows = s.records()
    assert [r["status"] for r in rows] == ["finished"] * len(plan.runs), [r["error"] for r in rows]
    assert_same_runs(tmp_path / "serial", tmp_path / "dask")


def json_to_toml(data: dict) -> str:
    """The sweep dicts of these tests as a sweep file."""
    lines = ["[sweep]"] + [f"{k} = {json.dumps(v)}" for k, v in data["sweep"].items()]
    for section, table in data["base"].items():
        lines.append(f"[base.{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    lines.append("[grid]")
    lines += [f'"{k}" = {json.dumps(v)}' for k, v in data["grid"].items()]
    return "\n".join(lines) + "\n"


KILLED_SWEEP_STEPS = 2000  # each run long enough (seconds) to be caught mid-run on a fast idle machine


def _sweep_file(tmp_path) -> Path:
    f = tmp_path / "s.toml"
    f.write_text(json_to_toml(long_sweep(n_points=4, steps=KILLED_SWEEP_STEPS)))
    return f


def _states(d: Path) -> dict:
    out = {}
    for p in sorted((d / "runs").glob("*.h5")):
        try:
            with open_archive(p) as ar:
                ck = ar.checkpoint()
                out[p.name] = (ar.status, None if ck is None else ck["state"].step, ar.provenance["run_id"])
        except Exception:
            out[p.name] = ("unreadable", None, None)
    return out


def test_killing_dps_sweep_run_and_rerunning_loses_and_repeats_nothing(tmp_path, deadline, procs):
    f = _sweep_file(tmp_path)
    d = tmp_path / "d"
    cmd = [str(BIN / "dps"), "sweep", "run", str(f), "-o", str(d), "--workers", "2", "--json", "--no-progress"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(first)

    def caught_mid_run():
        st = _states(d) if (d / "runs").exists() else {}
        done = sum(1 for s in st.values() if s[0] == "finished")
        partial = sum(1 for s in st.values() if s[0] == "running" and (s[1] or 0) > 0)
        return done >= 2 and partial >= 1

    _wait_for(caught_mid_run, 90, "two finished runs and one past its first checkpoint")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(1.0)  # the workers die with the coordinator (parent-death signal)
    before = _states(d)
    finished_before = {k for k, v in before.items() if v[0] == "finished"}
    mtimes = {k: (d / "runs" / k).stat().st_mtime_ns for k in finished_before}

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT)
    assert second.returncode == 0, second.stderr
    events = [json.loads(x) for x in second.stdout.splitlines()]
    runs = {e["run"]: e for e in events if e["event"] == "run"}
    assert not {f"{k}.h5" for k in runs} & finished_before  # nothing finished is recomputed
    assert {k: (d / "runs" / k).stat().st_mtime_ns for k in finished_before} == mtimes
    # each resumed run continues from the checkpoint it had when killed (a run caught at its step-0
    # checkpoint runs every step again), and the one waited for past its first checkpoint is among them
    resumed = {f"{k}.h5": e["steps_executed"] for k, e in runs.items() if e["action"] == "resumed"}
    assert resumed == {k: KILLED_SWEEP_STEPS - before[k][1] for k in resumed}
    assert any(before[k][1] > 0 for k in resumed)
    assert events[-1]["counts"] == {"finished": 8}
    serial = Sweep.run(load_sweep(f), tmp_path / "serial", workers=0)
    assert_same_runs(serial.directory, d)


def _pool_workers() -> list[int]:
    """Pids of this process's children started by multiprocessing's spawn (the local workers)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"multiprocessing.spawn" in cmd:
            out.append(int(stat.parent.name))
    return out


def test_a_local_worker_killed_mid_sweep_is_replaced_and_its_run_redone(tmp_path, deadline):
    plan = load_sweep(long_sweep(n_points=3, steps=300))
    Sweep.run(plan, tmp_path / "serial", workers=0)
    killed = []

    def kill_one(row):
        if not killed:
            pids = _pool_workers()
            assert len(pids) == 2
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    s = Sweep.run(plan, tmp_path / "local", workers=2, on_record=kill_one)
    assert killed
    assert [r["status"] for r in s.records()] == ["finished"] * len(plan.runs), [r["error"] for r in s.records()]
    assert_same_runs(tmp_path / "serial", tmp_path / "local")
    assert not _pool_workers()  # the replacement pool was shut down too


# a worker that ignores SIGTERM and never returns, as one waiting forever on the task queue's lock a
# killed worker held; run by the builtin exec, which a spawned worker can unpickle (a function of this
# module it could not import where the tests run from another directory, as in tox)
_STUCK = (
    "import os, signal, time, pathlib\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "pathlib.Path({marker!r}, str(os.getpid())).touch()\n"
    "time.sleep(600)\n"
)


def test_a_broken_pool_s_stuck_worker_is_killed_before_its_runs_go_elsewhere(tmp_path, deadline):
    """When one local worker dies, the pool terminates the others; one that cannot stop (here: it
    ignores SIGTERM) is killed after the grace period, so that no worker of the old pool outlives the
    sweep or writes a run that is redone elsewhere."""
    ex = local_executor(2)
    futures = [ex.submit(exec, _STUCK.format(marker=str(tmp_path))) for _ in range(2)]
    while len(list(tmp_path.iterdir())) < 2:  # both workers inside the task, SIGTERM ignored
        time.sleep(0.05)
    victim, survivor = (int(p.name) for p in tmp_path.iterdir())
    # a third task wakes the pool's manager thread, which then watches both workers (it lists them
    # when it wakes, and the second was started after its last wake-up)
    futures.append(ex.submit(time.sleep, 0))
    os.kill(victim, signal.SIGKILL)
    for fut in futures:
        with pytest.raises(BrokenProcessPool):
            fut.result(timeout=30)
    start = time.monotonic()
    _end_broken_pool(ex, grace=1.0)
    assert 1.0 <= time.monotonic() - start < 10.0  # it waited the grace period, no longer
    while survivor in _pool_workers():
        time.sleep(0.05)  # killed (the pool's manager thread reaps it)
    ex.shutdown(wait=True)
