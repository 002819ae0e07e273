"""Shared pieces of the fault-injection tests: a small run, its uninterrupted reference, child
processes that die at a named point, and the comparison every surviving archive must pass."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from dps_core import Simulation, open_archive

CONFIG = {
    "run": {"steps": 60, "record_every": 5, "checkpoint_every": 10, "snapshot_every": 20, "seed": 11},
    "scenario": {"agents": 8, "tasks": 10, "peaks": 2},
    "mode": {"name": "gradient", "eta": 0.3, "noise": 0.05},
    "demand": {"name": "drift", "speed": 0.02, "noise": 0.01},
    "archive": {"snapshots": ["S", "w", "demand.phase"], "flush_every": 1, "compression": "none"},
}


def child_env() -> dict:
    """Environment of a child run: one OpenMP thread (the machine is shared). The child imports the
    installed dps_core, never the source tree (which has no compiled kernel on a fresh clone)."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    return env


PRELUDE = textwrap.dedent("""
    import os, signal, sys
    import dps_core.archive as A
    from dps_core import Simulation

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    config = {config!r}
    path = sys.argv[1]
""")


def killed_at(step: int) -> str:
    """Child code (for `run_child`): run `config` and die (SIGKILL) when it records `step`."""
    return f"""
    from dps_core import hookimpl
    class Killer:
        dps_plugin_name = "killer"
        @hookimpl
        def dps_record(self, simulation, step, metrics):
            if step == {step}:
                die()
    Simulation.from_config(config, plugins=[Killer()], entry_points=False).run(path)
"""


KILLED_AT_45 = killed_at(45)


def run_child(tmp_path: Path, body: str, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """Run `PRELUDE + body` in a child (it sees `config`, `path` = first arg, `die()`, `A`)."""
    script = PRELUDE.format(config=config or CONFIG) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, cwd=tmp_path, env=child_env(), timeout=120
    )


_REFERENCES: dict[str, dict] = {}


def reference(tmp_path: Path, config: dict | None = None) -> dict:
    """The arrays of an uninterrupted run of `config` (computed once per session)."""
    key = repr(config or CONFIG)
    if key not in _REFERENCES:
        path = tmp_path / "reference.h5"
        Simulation.from_config(config or CONFIG, entry_points=False).run(path)
        _REFERENCES[key] = arrays(path)
        path.unlink()
    return _REFERENCES[key]


def arrays(path: Path) -> dict:
    """Everything a resumed archive must reproduce bit for bit."""
    with open_archive(path) as ar:
        out = {f"ts/{k}": v for k, v in ar.timeseries().items()}
        out.update({f"snap/{k}": ar.snapshots(k) for k in sorted(ar.snapshot_names())})
        out["snap/step"] = ar.snapshot_steps()
        ck = ar.checkpoint()
        out.update({f"ck/{k}": v for k, v in ck["state"].arrays().items()})
        out["ck/step"] = np.int64(ck["state"].step)
        out["status"] = ar.status
    return out


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        if k == "status":
            assert got[k] in ("finished", "converged"), got[k]
            continue
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def temporaries(directory: Path) -> list[Path]:
    """Temporary archive files left in a directory."""
    return sorted(p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def recover(path: Path, tmp_path: Path, config: dict | None = None) -> dict:
    """What a user does after a crash: resume the archive if the final path holds one (it must
    open), else run again. Returns the resulting arrays."""
    if path.exists():
        with open_archive(path) as ar:  # every archive at a final path opens
            assert ar.checkpoint() is not None, "a published archive always has a checkpoint"
        Simulation.resume(path, entry_points=False)
    else:
        Simulation.from_config(config or CONFIG, entry_points=False).run(path)
    return arrays(path)
