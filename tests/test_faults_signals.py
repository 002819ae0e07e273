"""SIGINT and SIGTERM: at any point of a run the handlers only set a flag; the run stops at the
next consistent point with status `interrupted`, nothing recorded is lost, no temporary file is
left, the command exits 130 / 143 with one line and no traceback, and resuming gives the arrays
of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dps_core import Simulation, hookimpl, open_archive
from dps_core.interrupts import RunInterrupted

CONFIG = {
    "run": {"steps": 60, "record_every": 5, "checkpoint_every": 10, "snapshot_every": 20, "seed": 4},
    "scenario": {"agents": 8, "tasks": 10},
    "archive": {"snapshots": ["S"], "flush_every": 1000},
}


def _same_as_uninterrupted(path: Path, tmp_path: Path, config=CONFIG) -> None:
    whole = tmp_path / "whole.h5"
    if not whole.exists():
        Simulation.from_config(config, entry_points=False).run(whole)
    with open_archive(path) as a, open_archive(whole) as b:
        assert a.status == "finished"
        ta, tb = a.timeseries(), b.timeseries()
        for k in tb:
            np.testing.assert_array_equal(ta[k], tb[k], err_msg=k)
        np.testing.assert_array_equal(a.snapshots("S"), b.snapshots("S"))


class _SignalAfterStep:
    """Sends a signal to this process right after the kernel step `step` (before its record)."""

    dps_plugin_name = "signaller"

    def __init__(self, signum, step):
        self.signum, self.step = signum, step

    @hookimpl
    def dps_run_start(self, simulation):
        real = simulation._advance

        def advance():
            change = real()
            if simulation.state.step == self.step:
                os.kill(os.getpid(), self.signum)
            return change

        simulation._advance = advance


@pytest.mark.parametrize(("signum", "step"), [(signal.SIGINT, 45), (signal.SIGTERM, 33)])
def test_signal_between_a_step_and_its_record_loses_nothing(tmp_path, signum, step):
    path = tmp_path / "run.h5"
    sim = Simulation.from_config(CONFIG, plugins=[_SignalAfterStep(signum, step)], entry_points=False)
    with pytest.raises(RunInterrupted) as info:
        sim.run(path)
    assert info.value.exit_code == 128 + signum
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    with open_archive(path) as ar:
        assert ar.status == "interrupted" and signal.Signals(signum).name in ar.message
        ck = ar.checkpoint()
        assert ck["state"].step == step  # checkpointed where it stopped
        steps = list(ar.timeseries()["step"])
        assert steps == list(range(0, step + 1, 5))  # the record of step 45 is there; 33 is off-cadence
    Simulation.resume(path, entry_points=False)
    _same_as_uninterrupted(path, tmp_path)


class _SignalAtStart:
    dps_plugin_name = "early"

    @hookimpl
    def dps_run_start(self, simulation):
        os.kill(os.getpid(), signal.SIGINT)


def test_signal_before_the_archive_is_published_leaves_no_file(tmp_path):
    path = tmp_path / "run.h5"
    with pytest.raises(RunInterrupted):
        Simulation.from_config(CONFIG, plugins=[_SignalAtStart()], entry_points=False).run(path)
    assert list(tmp_path.iterdir()) == []


SLOW = {
    "run": {"steps": 100000, "record_every": 5, "checkpoint_every": 50, "seed": 3},
    "scenario": {"agents": 6, "tasks": 8},
    "archive": {"snapshots": ["w"]},
}


def _toml(path: Path, config: dict) -> Path:
    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v!r}".replace("'", '"') for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _dps(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = "import sys; from dps_core.cli import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _wait_running(path: Path, proc, rows: int = 3) -> None:
    end = time.monotonic() + 120
    while time.monotonic() < end:
        if path.exists():
            with open_archive(path) as ar:
                if ar.status == "running" and len(ar.timeseries()["step"]) >= rows:
                    return
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        time.sleep(0.05)
    raise AssertionError("the run did not start")


def _rows(path: Path) -> int:
    with open_archive(path) as ar:
        return len(ar.timeseries()["step"])


def _interrupted_cleanly(proc, path: Path, code: int) -> None:
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == code, text
    assert "Traceback" not in text and "Exception ignored" not in text, text
    assert len(text.strip().splitlines()) == 1 and "interrupted" in text, text
    assert [p for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    stopped = int(text.split(" at step ")[1].split(";")[0])
    with open_archive(path) as ar:
        assert not ar.swmr  # closed cleanly
        assert ar.status == "interrupted" and f"at step {stopped}" in ar.message
        assert ar.checkpoint()["state"].step == stopped  # nothing stepped is lost
        assert ar.last_step == stopped - stopped % 5 == ar.timeseries()["step"][-1]  # nor any record


@pytest.mark.slow
def test_cli_sigint_sigterm_and_double_sigint(tmp_path):
    config = _toml(tmp_path / "slow.toml", SLOW)
    path = tmp_path / "a.h5"
    proc = _dps("run", str(config), "-o", str(path), "--no-progress", cwd=tmp_path)
    _wait_running(path, proc)
    proc.send_signal(signal.SIGINT)
    _interrupted_cleanly(proc, path, 130)

    # SIGTERM during `dps resume` is not swallowed
    proc = _dps("resume", str(path), "--no-progress", cwd=tmp_path)
    _wait_running(path, proc, rows=_rows(path) + 3)
    proc.send_signal(signal.SIGTERM)
    _interrupted_cleanly(proc, path, 143)

    # two SIGINTs 5 ms apart
    proc = _dps("resume", str(path), "--no-progress", cwd=tmp_path)
    _wait_running(path, proc, rows=_rows(path) + 3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _interrupted_cleanly(proc, path, 130)


def test_a_signal_while_the_exiting_command_changes_its_handlers_is_ignored_without_a_traceback(monkeypatch):
    """CPython's signal.signal raises OSError ("Signal 2 ignored due to race condition") when a
    signal arrived while the handlers were changing, before it sets the new handler; the exiting
    command must still end up ignoring both signals, and raise nothing (it printed a traceback)."""
    from dps_core import cli

    calls = []
    real = signal.signal

    def racing(signum, handler):
        calls.append(signum)
        if len(calls) == 2:  # the second change: SIGINT arrived meanwhile
            raise OSError("Signal 2 ignored due to race condition")
        return real(signum, handler)

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(cli.signal, "signal", racing)
    try:
        cli._ignore_signals_while_exiting()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert calls == [signal.SIGINT, signal.SIGTERM, signal.SIGTERM]
    finally:
        for s, h in before.items():
            real(s, h)
