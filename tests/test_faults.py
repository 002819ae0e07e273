"""Fault injection: the writer is killed (SIGKILL) at each named point of an archive's life and at
random moments. Whatever survives at the final path opens, and resuming it (or running again when
nothing was published) gives arrays bit-identical to an uninterrupted run."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import pytest

from dps_core import Simulation, open_archive

pytestmark = pytest.mark.slow

RUN = "Simulation.from_config(config, entry_points=False).run(path)\n"

# name -> child code that arranges a SIGKILL at that point, then runs
POINTS = {
    # the temporary file exists, nothing written yet
    "create": """
        real = A.exclusive_temp
        def temp(target):
            out = real(target)
            die()
        A.exclusive_temp = temp
    """,
    # half of the layout written to the temporary file
    "layout": """
        real = os.write
        def write(fd, data):
            if len(data) > 4096:
                real(fd, bytes(data[: len(data) // 2]))
                die()
            return real(fd, data)
        os.write = write
    """,
    # layout written and reopened for appending, before SWMR starts
    "before-swmr": """
        A.ArchiveWriter._start_swmr = lambda self: die()
    """,
    # the first record flushed and the archive just published
    "first-record": """
        real = A.ArchiveWriter.publish
        def publish(self):
            real(self)
            die()
        A.ArchiveWriter.publish = publish
    """,
    # a checkpoint slot written and flushed, 'latest' not yet switched to it
    "mid-checkpoint": """
        real = A.ArchiveWriter._d
        def d(self, name):
            if name == "checkpoint/latest" and self.step == 30:
                die()
            return real(self, name)
        A.ArchiveWriter._d = d
    """,
}


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_at_named_point_of_a_run(tmp_path, point, faults):
    want = faults.reference(tmp_path)
    path = tmp_path / "run.h5"
    proc = faults.run_child(tmp_path, textwrap.dedent(POINTS[point]) + RUN, str(path))
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    if point in ("create", "layout", "before-swmr"):
        assert not path.exists(), "a file appears at its final path only once it is openable"
    else:
        assert path.exists()
    faults.assert_same(faults.recover(path, tmp_path), want)


RESUME = "Simulation.resume(path, entry_points=False)\n"

RESUME_POINTS = {
    # the records up to the checkpoint half copied into the new file
    "mid-copy": """
        real = A.ArchiveWriter._d
        def d(self, name):
            if name.startswith("snapshots/") and not self.published:
                die()
            return real(self, name)
        A.ArchiveWriter._d = d
    """,
    # the rewrite is complete and flushed; killed just before the rename over the old file
    "before-rename": """
        real = A.publish
        def publish(tmp, target, replace):
            die()
        A.publish = publish
    """,
    # killed just after the rename (the old file is gone, the new one in place)
    "after-rename": """
        real = A.publish
        def publish(tmp, target, replace):
            real(tmp, target, replace=replace)
            die()
        A.publish = publish
    """,
}


@pytest.mark.parametrize("point", list(RESUME_POINTS))
def test_kill_at_named_point_of_a_resume(tmp_path, point, faults):
    want = faults.reference(tmp_path)
    path = tmp_path / "run.h5"
    assert faults.run_child(tmp_path, faults.KILLED_AT_45, str(path)).returncode == -9
    proc = faults.run_child(tmp_path, textwrap.dedent(RESUME_POINTS[point]) + RESUME, str(path))
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    with open_archive(path) as ar:
        ck = ar.checkpoint()
        assert ck["state"].step == 40  # before or after the rename, the checkpoint at 40 is there
    faults.assert_same(faults.recover(path, tmp_path), want)


ZYGOTE = """
    # imports once, then forks one run per path read from stdin (a kill then lands in the run,
    # not in Python's start-up); prints the run's pid, then 'done' when it has died
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                Simulation.from_config(config, entry_points=False).run(line.strip())
            finally:
                os._exit(0)
        print(pid, flush=True)
        os.waitpid(pid, 0)
        print("done", flush=True)
"""


def test_random_sigkills(tmp_path, faults):
    """Ten kills at random moments of a run (seeded), each archive recovered."""
    config = {**faults.CONFIG, "run": {**faults.CONFIG["run"], "steps": 300, "checkpoint_every": 20}}
    want = faults.reference(tmp_path, config)
    rng = random.Random(20261201)
    script = faults.PRELUDE.format(config=config) + textwrap.dedent(ZYGOTE)
    zygote = subprocess.Popen(
        [sys.executable, "-c", script, "unused"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=tmp_path,
        env=faults.child_env(),
        text=True,
    )
    seen = {"absent": 0, "published": 0}
    try:
        for i in range(10):
            path = tmp_path / f"r{i}.h5"
            zygote.stdin.write(f"{path}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            time.sleep(rng.uniform(0.0, 0.6))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            assert zygote.stdout.readline().strip() == "done"
            seen["published" if path.exists() else "absent"] += 1
            faults.assert_same(faults.recover(path, tmp_path, config), want)
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=60)
    assert seen["published"] >= 1, seen  # the kills did land inside runs, not only before them


def test_killed_archive_keeps_only_durable_rows(tmp_path, faults):
    """Rows buffered but not flushed are not in the archive; rows counted in run/records are."""
    path = tmp_path / "run.h5"
    config = {**faults.CONFIG, "archive": {**faults.CONFIG["archive"], "flush_every": 1000}}
    proc = faults.run_child(tmp_path, faults.KILLED_AT_45, str(path), config=config)
    assert proc.returncode == -9
    with h5py.File(path, "r", swmr=True) as f:
        durable = int(f["run/records"][()])
        # with flushing only at checkpoints, the last durable row is the checkpoint at 40
        assert list(f["timeseries/step"][:durable]) == list(range(0, 41, 5))
    with open_archive(path) as ar:
        assert list(ar.timeseries()["step"]) == list(range(0, 41, 5))
    Simulation.resume(path, entry_points=False)
    faults.assert_same(faults.arrays(path), faults.reference(tmp_path))
    assert faults.temporaries(tmp_path) == []


def test_killed_writer_without_swmr_still_opens_and_resumes(tmp_path, faults):
    """With archive.swmr = false (network file systems) HDF5 refuses a killed writer's file until
    its consistency flags are cleared; dps clears them in a copy in memory to read it."""
    config = {**faults.CONFIG, "archive": {**faults.CONFIG["archive"], "swmr": False}}
    path = tmp_path / "run.h5"
    assert faults.run_child(tmp_path, faults.KILLED_AT_45, str(path), config=config).returncode == -9
    with pytest.raises(OSError):
        h5py.File(path, "r", swmr=True)
    with open_archive(path) as ar:
        assert ar.status == "running" and ar.checkpoint()["state"].step == 40
    faults.assert_same(faults.recover(path, tmp_path, config), faults.reference(tmp_path, config))
