"""One sweep run as a task for any executor: start, resume or skip the run's archive and return a
small record. Never raises: a failing run becomes a record with its error text.

Workers only write their run's archive (through `Simulation.run` / `Simulation.resume`); the
coordinator writes everything else. Each run is single-threaded unless the sweep asks otherwise:
the sweep's parallelism is its workers.
"""

from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path
from typing import Any

from .archive_io import pid_alive
from .errors import DPSError

__all__ = ["archive_state", "execute"]

DONE = ("finished", "converged")
_REGISTRY: list = []  # one plugin registry per worker process (loading entry points costs ~60 ms)


def _registry():
    from .registry import Registry

    if not _REGISTRY:
        _REGISTRY.append(Registry())
    return _REGISTRY[0]


def archive_state(path: Path) -> dict[str, Any]:
    """What a run's archive says: {'state': 'absent' | 'done' | 'failed' | 'resumable' | 'restart',
    ...} with its status, message, checkpoint step, final metrics, writer pid and host."""
    from .archive import open_archive

    if not path.exists():
        return {"state": "absent"}
    try:
        with open_archive(path) as ar:
            status, message = ar.status, ar.message
            ck = ar.checkpoint()
            info = {
                "status": status,
                "message": message,
                "checkpoint": None if ck is None else ck["state"].step,
                "step": ar.last_step,
                "metrics": ar.final_metrics() if status in DONE or status == "failed" else {},
                "pid": int(ar.f["run/pid"][()]) if "run/pid" in ar.f else -1,
                "host": str(ar.f["run"].attrs.get("host", "")),
                "config": ar.config_dict,
            }
    except (DPSError, OSError, KeyError, ValueError) as exc:
        return {"state": "restart", "message": f"unreadable archive ({exc})"}
    if status in DONE:
        state = "done"
    elif status == "failed":
        state = "failed"
    elif info["checkpoint"] is not None:
        state = "resumable"
    else:
        state = "restart"
    return {"state": state, **info}


def _wait_for_writer(info: dict, seconds: float = 30.0) -> None:
    """A run whose archive another live process on this host is still writing (an orphaned worker
    of a killed sweep, which dies with its parent) gets that long to stop before we proceed."""
    if info.get("host") != socket.gethostname():
        return
    deadline = time.monotonic() + seconds
    while pid_alive(info.get("pid", -1)) and time.monotonic() < deadline:
        time.sleep(0.1)


def _finite(metrics: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def execute(task: dict) -> dict:
    """Run one sweep task: {'id', 'config', 'archive', 'threads', 'base_dir', 'restart'} -> record.

    An archive that finished is skipped; one with a checkpoint (interrupted, or its worker was
    killed) is resumed from it; anything else (or `restart`) starts from step 0, replacing it."""
    from . import threads
    from .config import load_config
    from .simulation import Simulation

    t0 = time.perf_counter()
    path = Path(task["archive"])
    rec: dict[str, Any] = {"id": task["id"], "host": socket.gethostname(), "pid": os.getpid(), "error": ""}
    start: int = 0
    try:
        with threads.limit(task.get("threads")):
            info = {"state": "absent"} if task.get("restart") else archive_state(path)
            if info["state"] == "done":
                rec.update(action="skipped", status=info["status"], step=info["step"], metrics=info["metrics"])
                rec.update(steps_executed=0, seconds=0.0)
                return rec
            if info["state"] == "resumable":
                _wait_for_writer(info)
                start = int(info["checkpoint"])
                rec["action"] = "resumed"
                result = Simulation.resume(path)
            else:
                rec["action"] = "started"
                reg = _registry()
                cfg = load_config(task["config"], registry=reg)
                base_dir = Path(task["base_dir"]) if task.get("base_dir") else None
                sim = Simulation(cfg, registry=reg, base_dir=base_dir)
                result = sim.run(path, overwrite=True)
        rec.update(status=result.status, step=result.step, metrics=_finite(result.metrics))
        rec["steps_executed"] = result.step - start
    except KeyboardInterrupt:
        if os.getpid() == task.get("coordinator_pid"):
            raise  # running inside the coordinator (workers=0): stop the sweep
        rec.update(status="interrupted", error="interrupted", metrics={}, step=None, steps_executed=None)
    except Exception as exc:  # one failing run never stops the sweep: it becomes a row with its error
        text = str(exc) if isinstance(exc, DPSError) else f"{type(exc).__name__}: {exc}"
        rec.update(status="failed", error=text, metrics={}, step=None, steps_executed=None)
        rec.setdefault("action", "started")
    rec["seconds"] = time.perf_counter() - t0
    return rec
