"""`dps watch ARCHIVE`: follow a run that another process writes (step, progress, ETA, latest
metrics) until it ends, and exit with the run's status.

The archive is reopened at every refresh rather than kept open: a fresh SWMR reader sees the
writer's latest flush, the file may not exist yet (watch started before the run), and `dps resume`
replaces the file by a rename. A writer with `archive.swmr = false` holds the file locked, so the
run shows as "waiting" until it closes.
"""

from __future__ import annotations

import math
import socket
import sys
import time as _time
from pathlib import Path
from typing import Any, TextIO

from .archive import Archive
from .errors import ArchiveError

__all__ = ["watch", "snapshot_of", "EXIT_CODES"]

# exit codes by final status (like `dps run`: 0 done, 1 failed, 130 interrupted)
EXIT_CODES = {"finished": 0, "converged": 0, "failed": 1, "interrupted": 130, "died": 1}
_SHOWN = 4  # metrics on the status line


def _pid_alive(pid: int) -> bool:
    import os

    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def snapshot_of(path: Path) -> dict[str, Any]:
    """What the archive says now: status, step, target steps, latest metrics, writer liveness."""
    with Archive(path) as ar:
        cfg = ar.config_dict.get("run", {})
        pid = int(ar.f["run/pid"][()])
        host = ar.f["run"].attrs.get("host", "")
        status = ar.status
        out = {
            "status": status,
            "step": ar.last_step,
            "target": int(cfg.get("steps", 0) or 0),
            "metrics": {k: v for k, v in ar.final_metrics().items() if k not in ("step", "time")},
            "records": ar.records,
        }
    if status in ("created", "running") and host == socket.gethostname() and not _pid_alive(pid):
        out["status"] = "died"  # the writer is gone without closing the run (kill -9, power loss)
    return out


def _line(s: dict[str, Any], rate: float | None) -> str:
    target = s["target"]
    pct = f" ({100 * s['step'] / target:.1f} %)" if target else ""
    eta = ""
    if rate and rate > 0 and target and s["status"] == "running":
        left = (target - s["step"]) / rate
        eta = f", {rate:.3g} steps/s, ETA {_duration(left)}"
    shown = list(s["metrics"].items())[:_SHOWN]
    metrics = "  ".join(f"{k}={_num(v)}" for k, v in shown)
    return f"{s['status']}: step {s['step']}/{target}{pct}{eta}  {metrics}"


def _num(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def watch(
    path: str | Path,
    *,
    interval: float = 1.0,
    timeout: float | None = None,
    out: TextIO | None = None,
    clock=_time.monotonic,
    sleep=_time.sleep,
) -> int:
    """Refresh every `interval` seconds until the run ends; return its exit code (EXIT_CODES).
    `timeout`: give up (exit 1) after this many seconds without any progress."""
    path = Path(path)
    out = out or sys.stdout
    try:
        return _loop(path, interval, timeout, out, clock, sleep)
    except KeyboardInterrupt:
        print("\ndps watch: stopped (the run itself goes on)", file=out)
        return 130


def _loop(path: Path, interval: float, timeout: float | None, out: TextIO, clock, sleep) -> int:
    tty = out.isatty()
    first: tuple[float, int] | None = None
    last_change = clock()
    last_text = None
    last_key: tuple | None = None
    while True:
        try:
            s = snapshot_of(path)
        except ArchiveError as exc:
            s = None
            text = f"waiting for {path}: " + (
                "it does not exist yet" if not path.exists() else str(exc).removeprefix(f"archive {path} ")
            )
        if s is not None:
            now = clock()
            if first is None or s["step"] < first[1]:
                first = (now, s["step"])
            rate = (s["step"] - first[1]) / (now - first[0]) if now > first[0] and s["step"] > first[1] else None
            text = _line(s, rate)
            key = (s["status"], s["step"], s["records"])
            if key != last_key:
                last_key, last_change = key, now
            if s["status"] in EXIT_CODES:
                _show(out, text, tty, final=True)
                if s["status"] == "died":
                    print(
                        f"the writer of {path} stopped without closing the run; "
                        "`dps resume` continues it from its last checkpoint",
                        file=out,
                    )
                return EXIT_CODES[s["status"]]
        if text != last_text:
            _show(out, text, tty)
            last_text = text
        if timeout is not None and clock() - last_change > timeout:
            print(f"\ndps watch: no progress in {timeout:g} s; giving up", file=out)
            return 1
        sleep(interval)


def _show(out: TextIO, text: str, tty: bool, final: bool = False) -> None:
    if tty:
        out.write("\r\033[K" + text + ("\n" if final else ""))
    else:
        out.write(text + "\n")
    out.flush()
