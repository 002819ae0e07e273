"""Write errors, live writers and temporary files: a full disk or a file-size limit stops the run
with one line and exit code 7, never a segfault, never `finished`; an archive whose writer still
runs is never replaced; temporary files are exclusive and never left behind by a failure."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dps_core import ArchiveError, Simulation, hookimpl, open_archive
from dps_core.archive_io import exclusive_temp, live_writer

REPO = Path(__file__).resolve().parents[1]
GENERIC = REPO / "examples" / "generic.toml"
GENERIC_SET = {"run.steps": 200, "run.checkpoint_every": 50}


def _cli(args, *, fsize: int | None = None, cwd=None, **kwargs):
    """`dps ARGS` in a child process, optionally under RLIMIT_FSIZE (no root needed: Python
    ignores SIGXFSZ, so a write past the limit fails with EFBIG, like a full disk)."""

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", "import sys; from dps_core.cli import main; sys.exit(main())", *args]
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, preexec_fn=limit, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs
    )


@pytest.mark.slow
def test_file_too_large_stops_with_one_line_and_resumes_bit_identical(tmp_path):
    whole = tmp_path / "whole.h5"
    Simulation.from_config(GENERIC, overrides=GENERIC_SET).run(whole)
    with open_archive(whole) as ar:
        want_ts, want_s = ar.timeseries(), ar.snapshots("S")
    full = whole.stat().st_size
    sets = [a for k, v in GENERIC_SET.items() for a in ("--set", f"{k}={v}")]
    outcomes = set()
    # the published file already holds the first chunk of every dataset (about 88 % of this run's
    # final size), so only a limit near the end falls after publishing
    for fraction in (0.1, 0.45, 0.95):
        path = tmp_path / f"f{fraction}.h5"
        proc = _cli(["run", str(GENERIC), "-o", str(path), "--no-progress", *sets], fsize=int(full * fraction))
        out, err = proc.communicate(timeout=300)
        lines = err.decode().strip().splitlines()
        assert proc.returncode == 7, err.decode()[-3000:]  # ArchiveWriteError, not a segfault (-11/139)
        assert len(lines) == 1 and "Traceback" not in err.decode(), err.decode()[-3000:]
        assert (
            lines[0].startswith(f"dps: error: cannot write archive {path}") and "[Errno 27] File too large" in lines[0]
        )
        assert b"finished" not in out
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
        if not path.exists():
            outcomes.add("nothing published")
            continue
        outcomes.add("failed in place")
        with open_archive(path) as ar:
            assert ar.status == "failed" and "File too large" in ar.message
            ts = ar.timeseries()
            n = len(ts["step"])
            for k, v in ts.items():  # every row counted as written is the uninterrupted run's row
                np.testing.assert_array_equal(v, want_ts[k][:n], err_msg=k)
            assert np.array_equal(ar.snapshots("S"), want_s[: len(ar.snapshot_steps())])
        Simulation.resume(path)  # space freed (no limit in this process)
        with open_archive(path) as ar:
            assert ar.status == "finished"
            for k, v in ar.timeseries().items():
                np.testing.assert_array_equal(v, want_ts[k], err_msg=k)
            np.testing.assert_array_equal(ar.snapshots("S"), want_s)
    assert outcomes == {"nothing published", "failed in place"}, outcomes


SLOW = {
    "run": {"steps": 100000, "record_every": 5, "checkpoint_every": 50, "seed": 3},
    "scenario": {"agents": 6, "tasks": 8},
    "archive": {"snapshots": ["w"]},
}


def _write_toml(path: Path, config: dict) -> Path:
    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        for k, v in table.items():
            lines.append(f"{k} = {v!r}".replace("'", '"'))
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_published(path: Path, proc, timeout=120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            with open_archive(path) as ar:
                if ar.status == "running" and len(ar.timeseries()["step"]) > 2:
                    return
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        time.sleep(0.05)
    raise AssertionError("the run did not start")


@pytest.mark.slow
def test_live_archive_is_never_replaced(tmp_path):
    config = _write_toml(tmp_path / "slow.toml", SLOW)
    path = tmp_path / "live.h5"
    proc = _cli(["run", str(config), "-o", str(path), "--no-progress"])
    try:
        _wait_published(path, proc)
        with pytest.raises(ArchiveError, match=rf"being written by process {proc.pid} on this host"):
            Simulation.from_config(SLOW).run(path, overwrite=True)
        with pytest.raises(ArchiveError, match=rf"being written by process {proc.pid} on this host"):
            Simulation.resume(path)
        other = _cli(["run", str(config), "-o", str(path), "--overwrite", "--no-progress"])
        _, err = other.communicate(timeout=120)
        assert other.returncode == 4 and err.decode().count("\n") == 1, err.decode()
        assert f"process {proc.pid}" in err.decode()
        assert proc.poll() is None  # the live run was not disturbed
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode == 143
    with open_archive(path) as ar:
        assert ar.status == "interrupted"
    assert live_writer(path) is None
    Simulation.from_config({**SLOW, "run": {**SLOW["run"], "steps": 10}}).run(path, overwrite=True)


def _killed_archive(tmp_path: Path, faults) -> Path:
    path = tmp_path / "killed.h5"
    small = {**SLOW, "run": {**SLOW["run"], "steps": 40}}
    assert faults.run_child(tmp_path, faults.killed_at(20), str(path), config=small).returncode == -9
    return path


def test_writer_on_another_host_is_live_while_its_heartbeat_is_fresh(tmp_path, monkeypatch, faults):
    import dps_core.archive_io as io

    path = _killed_archive(tmp_path, faults)
    assert live_writer(path) is None  # same host: its pid is dead
    monkeypatch.setattr(io.socket, "gethostname", lambda: "another-host")
    assert live_writer(path).startswith("process ")  # heartbeat written seconds ago
    now = time.time()
    monkeypatch.setattr(io.time, "time", lambda: now + io.STALE_SECONDS + 1)
    assert live_writer(path) is None


class _Fails:
    dps_plugin_name = "fails"

    @hookimpl
    def dps_run_start(self, simulation):
        raise RuntimeError("boom")


def test_resume_never_follows_a_planted_link_and_leaves_no_temporary(tmp_path, faults):
    path = _killed_archive(tmp_path, faults)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "killed.h5.resume-tmp").symlink_to(victim)  # the name older versions used
    before = path.read_bytes()
    with pytest.raises(Exception, match="boom"):
        Simulation.resume(path, plugins=[_Fails()], entry_points=False)
    assert path.read_bytes() == before  # a failed resume leaves the archive as it was
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    Simulation.resume(path, entry_points=False)
    assert victim.read_text() == "precious" and not path.is_symlink() and path.is_file()
    with h5py.File(path, "r") as f:  # closed cleanly, opens without SWMR
        assert f["run/status"][()].strip() == b"finished"


def test_temporary_files_are_exclusive_and_new(tmp_path):
    target = tmp_path / "a.h5"
    names = set()
    for _ in range(20):
        p, fd = exclusive_temp(target)
        os.close(fd)
        assert p.parent == tmp_path and p.name.startswith(".a.h5.") and p.is_file() and not p.is_symlink()
        names.add(p.name)
    assert len(names) == 20
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY  # what mkstemp uses: a planted link makes it fail
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        os.open(link, flags)
    assert not (tmp_path / "elsewhere").exists()


def test_lookup3_matches_the_published_vectors():
    """HDF5's metadata checksum is Bob Jenkins' lookup3 hashlittle; the expected values are those
    printed by driver5() in lookup3.c (2006)."""
    from dps_core.archive_io import lookup3

    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago") == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161
