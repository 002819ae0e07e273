"""Studies, not single runs: a sweep runs every run of a sweep file through an executor and keeps
one tidy table of the results in its directory.

`Sweep.run(sweep_file, directory)` runs on local processes (spawn/forkserver; one per usable core
unless `workers` says otherwise; `workers=0` runs in this process); `executor=` takes any
`concurrent.futures.Executor` (a Dask client's `get_executor()`, an MPI pool, ...). Each run
writes its own archive under `directory/runs/`; only this coordinator writes `sweep.json` (the
plan and its hash) and the index, atomically. Running again on the same directory skips finished
runs and resumes interrupted ones from their checkpoints; a directory another live sweep holds is
refused, and so is a sweep file changed since the directory was started (unless allowed).
`Sweep(directory)` reads a sweep back: `to_pandas()`, `timeseries(metric)`, `status()`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import json
import math
import multiprocessing as mp
import os
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .design import SweepPlan, load_sweep
from .errors import ConfigError, DPSError
from .sweep_index import atomic_write_text, frame_from, read_index, write_index
from .sweep_task import archive_state, execute

__all__ = ["Sweep", "SweepError", "local_executor", "estimate"]

MANIFEST = "sweep.json"
LOCK = ".lock"
RUNS = "runs"
BASE_COLUMNS = ["run", "point", "replicate"]
RESULT_COLUMNS = ["seed", "status", "error", "step", "steps_executed", "seconds", "host", "action", "archive"]
INDEX_INTERVAL = 5.0  # least seconds between index rewrites while a sweep runs
INDEX_SHARE = 0.02  # and at most this share of the coordinator's time goes to them
MAX_LOST = 3  # a run whose worker process dies this many times is recorded as failed
BROKEN_GRACE = 30.0  # seconds the other workers of a broken local pool get to stop before they are killed


class SweepError(DPSError):
    """A sweep directory cannot be used as asked (held by another sweep, changed sweep file)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- local processes -----------------------------------------------------------------------------------


def _worker_init(coordinator: int) -> None:
    """In each local worker: die with the coordinator, so that no orphan keeps writing a run after
    the sweep was killed (Linux: parent-death signal; elsewhere a watchdog thread)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    import threading

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(coordinator, 0)
            except ProcessLookupError:
                os._exit(1)
            except OSError:
                pass

    threading.Thread(target=watch, name="dps-sweep-watchdog", daemon=True).start()
    if os.getppid() != coordinator and os.getppid() == 1:
        os._exit(1)  # the coordinator died before this worker started


def local_executor(workers: int, start_method: str | None = None) -> cf.ProcessPoolExecutor:
    """A process pool started with spawn (or forkserver if asked; never fork: OpenMP after fork can
    hang). Workers die with this process."""
    start_method = start_method or "spawn"
    if start_method == "fork":
        raise ConfigError("start method 'fork' is not allowed for sweeps (OpenMP after fork can hang)")
    ctx = mp.get_context(start_method)
    return cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
    )


def _interrupt_workers(executor: cf.ProcessPoolExecutor) -> None:
    """Ask our local workers to stop their runs now (each run then checkpoints and records itself
    as interrupted), rather than finishing them, when the sweep is interrupted or terminated."""
    import signal

    processes = dict(getattr(executor, "_processes", None) or {})  # pid -> Process of a live pool
    for proc in processes.values():
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGINT)


def _end_broken_pool(executor: cf.ProcessPoolExecutor, grace: float = BROKEN_GRACE) -> None:
    """Stop what a dead worker left of a local pool before its runs go to a new one. The pool asks its
    other workers to terminate (SIGTERM: a run stops at a consistent point and checkpoints), but one
    can then wait forever on the task queue's lock the dead worker held; whoever is still alive after
    `grace` seconds is killed (its archive stays readable and resumable, as after any kill)."""
    import signal
    from multiprocessing.connection import wait

    processes = list((getattr(executor, "_processes", None) or {}).values())  # before shutdown drops them
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace
    waiting = {p.sentinel: p for p in processes}  # readable once the process has ended (without reaping it)
    while waiting and (left := deadline - time.monotonic()) > 0:
        for ended in wait(list(waiting), timeout=left):
            waiting.pop(ended)
    for proc in waiting.values():
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGKILL)
    executor.shutdown(wait=True)  # the pool's manager thread reaps them and ends: nothing outlives the sweep


class _Serial(cf.Executor):
    """Runs each task in this process when submitted (workers=0)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


# --- the directory lock -----------------------------------------------------------------------------


class _Lock:
    """An exclusive lock on DIR/.lock held by the coordinator for the whole sweep (released by
    the kernel if the coordinator dies). The file also says who holds it."""

    def __init__(self, directory: Path):
        self.path = directory / LOCK
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                who = json.loads(Path(self.path).read_text() or "{}")
            except (OSError, ValueError):
                who = {}
            os.close(self.fd)
            raise SweepError(
                f"sweep directory {directory} is being written by another live sweep (pid {who.get('pid', '?')} on "
                f"{who.get('host', '?')}, since {who.get('since', '?')}); wait for it or stop it first"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}).encode())

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)


def _locked_by_other(directory: Path) -> bool:
    path = directory / LOCK
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


# --- the sweep ----------------------------------------------------------------------------------------


def _digest(cfg: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Sweep:
    """A sweep directory: its plan (`sweep.json`), its runs' archives and its index."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        path = self.directory / MANIFEST
        if not path.exists():
            raise SweepError(f"{self.directory} is not a sweep directory (no {MANIFEST}); start one with dps sweep run")
        try:
            self.manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SweepError(f"{path}: cannot read the sweep manifest: {exc}") from None
        self.keys: list[str] = list(self.manifest["keys"])
        self.runs: list[dict] = list(self.manifest["runs"])
        rows, columns, _meta = read_index(self.directory)
        self._rows = {r["run"]: r for r in rows}
        self._columns = columns

    # --- running ---

    @classmethod
    def run(
        cls,
        source: str | Path | Mapping | SweepPlan,
        directory: str | Path,
        *,
        executor: cf.Executor | None = None,
        workers: int | None = None,
        threads: int | str | None = "plan",
        allow_changed: bool = False,
        retry_failed: bool = False,
        progress: bool = False,
        on_record: Callable[[dict], None] | None = None,
    ) -> Sweep:
        """Run (or continue) a sweep into `directory` and return it. `executor`: any
        concurrent.futures.Executor (default: local processes, `workers` of them, one per usable
        core; `workers=0` runs here). `threads`: OpenMP threads per run (default the sweep file's
        `sweep.threads`, normally 1; None lets each run choose by size)."""
        from . import threads as thr

        plan = source if isinstance(source, SweepPlan) else load_sweep(source)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / RUNS).mkdir(exist_ok=True)
        lock = _Lock(directory)
        coord = None
        try:
            changed = cls._write_manifest(plan, directory, allow_changed)
            per_run = plan.threads if threads == "plan" else threads
            workers_own = 0
            if executor is None:
                n = thr.usable_cpus() if workers is None else int(workers)
                workers_own = min(n, len(plan.runs)) if n > 0 else 0
                executor = _Serial() if workers_own == 0 else local_executor(workers_own)
            coord = _Coordinator(
                plan, directory, executor, workers_own, per_run, changed, retry_failed, progress, on_record
            )
            coord.go()
        except KeyboardInterrupt:
            if coord is not None and coord.workers_own:
                _interrupt_workers(coord.ex)
            raise
        finally:
            if coord is not None and coord.own:
                coord.ex.shutdown(wait=True, cancel_futures=True)
            lock.release()
        return cls(directory)

    @staticmethod
    def _write_manifest(plan: SweepPlan, directory: Path, allow_changed: bool) -> set[str]:
        """Write sweep.json; return the ids of runs whose config changed since the directory began."""
        path = directory / MANIFEST
        runs = [
            {
                "id": r.id,
                "point": r.point,
                "replicate": r.replicate,
                "params": r.params,
                "seed": r.seed,
                "config_digest": _digest(r.config),
                "archive": f"{RUNS}/{r.id}.h5",
            }
            for r in plan.runs
        ]
        changed: set[str] = set()
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
            if old is not None and old.get("hash") != plan.hash:
                if not allow_changed:
                    raise SweepError(
                        f"the sweep file differs from the one {directory} was started with (hash "
                        f"{old.get('hash', '?')[:12]} there, {plan.hash[:12]} now); use another directory, or allow "
                        "it (dps sweep run --allow-changed): runs whose config changed are then rerun"
                    )
                before = {r["id"]: r.get("config_digest") for r in old.get("runs", [])}
                changed = {str(r["id"]) for r in runs if before.get(r["id"]) not in (None, r["config_digest"])}
        manifest = {
            "dps_sweep": "1.0.0",
            "name": plan.name,
            "sweep_file": str(plan.path) if plan.path else None,
            "base_dir": str(plan.base_dir) if plan.base_dir else None,
            "hash": plan.hash,
            "keys": list(plan.keys),
            "replicates": plan.replicates,
            "updated": _now(),
            "runs": runs,
        }
        atomic_write_text(path, json.dumps(manifest, indent=1, sort_keys=True))
        return changed

    # --- reading ---

    def records(self) -> list[dict]:
        """One dict per run: index row where there is one, else what the archive says."""
        out = []
        for r in self.runs:
            row = self._rows.get(r["id"])
            if row is None:
                row = _row_from_archive(self.directory, r, self.keys)
            out.append(row)
        return out

    def columns(self) -> list[str]:
        metrics = sorted({k for r in self.records() for k in r} - set(self._base_columns()))
        return [*self._base_columns(), *metrics]

    def _base_columns(self) -> list[str]:
        return [*BASE_COLUMNS, *self.keys, *RESULT_COLUMNS]

    def to_pandas(self):
        """One tidy table, a row per run: run, point, replicate, the axis values, seed, status,
        error, final step, steps executed, wall seconds, host, archive path, final metrics."""
        import pandas as pd

        return frame_from(self.records(), self.columns(), pd)

    def timeseries(self, metric: str):
        """Every run's recorded series of `metric` in long form: run, the axis values,
        replicate, step, time, value (runs without an archive are left out)."""
        import pandas as pd

        from .archive import open_archive

        frames = []
        known: set[str] = set()
        for r in self.runs:
            path = self.directory / r["archive"]
            if not path.exists():
                continue
            try:
                with open_archive(path) as ar:
                    ts = ar.timeseries()
            except DPSError:
                continue
            known.update(ts)
            if metric not in ts:
                continue
            n = len(ts[metric])
            frames.append(
                pd.DataFrame(
                    {
                        "run": r["id"],
                        **{k: [r["params"].get(k)] * n for k in self.keys},
                        "replicate": r["replicate"],
                        "step": ts["step"][:n],
                        "time": ts["time"][:n],
                        "value": ts[metric],
                    }
                )
            )
        if not frames:
            if known and metric not in known:
                raise ConfigError(f"no run recorded '{metric}'; recorded series: {', '.join(sorted(known))}")
            return pd.DataFrame(columns=["run", *self.keys, "replicate", "step", "time", "value"])
        return pd.concat(frames, ignore_index=True)

    def status(self) -> dict[str, Any]:
        """Counts by status, whether a live sweep holds the directory, the sweep's name and hash."""
        counts: dict[str, int] = {}
        seconds = 0.0
        for row in self.records():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
            s = row.get("seconds")
            if isinstance(s, float) and math.isfinite(s):
                seconds += s
        return {
            "directory": str(self.directory),
            "name": self.manifest.get("name"),
            "hash": self.manifest.get("hash"),
            "runs": len(self.runs),
            "counts": dict(sorted(counts.items())),
            "live": _locked_by_other(self.directory),
            "run_seconds": seconds,
            "updated": self.manifest.get("updated"),
        }

    def rebuild_index(self) -> None:
        """Rewrite the index from the archives alone (wall time and host stay where the old index
        had them)."""
        lock = _Lock(self.directory)
        try:
            rows = []
            for r in self.runs:
                row = _row_from_archive(self.directory, r, self.keys)
                old = self._rows.get(r["id"]) or {}
                for k in ("seconds", "host", "steps_executed", "action"):
                    if old.get(k) not in (None, ""):
                        row[k] = old[k]
                rows.append(row)
            self._rows = {r["run"]: r for r in rows}
            write_index(self.directory, rows, self.columns(), {"hash": self.manifest.get("hash"), "rebuilt": _now()})
        finally:
            lock.release()


def _row_from_archive(directory: Path, run: dict, keys: list[str]) -> dict:
    """An index row from the manifest entry and the run's archive."""
    info = archive_state(directory / run["archive"])
    status = {"absent": "pending", "resumable": "interrupted", "restart": "pending"}.get(
        info["state"], info.get("status", "pending")
    )
    row = {
        "run": run["id"],
        "point": run["point"],
        "replicate": run["replicate"],
        **{k: run["params"].get(k) for k in keys},
        "seed": run["seed"],
        "status": status,
        "error": info.get("message", "") if status != "pending" else "",
        "step": info.get("step"),
        "steps_executed": None,
        "seconds": None,
        "host": info.get("host", ""),
        "action": "",
        "archive": run["archive"],
    }
    for k, v in (info.get("metrics") or {}).items():
        if k not in ("step", "time"):
            row[k] = v
    return row


class _Coordinator:
    """Submits the runs that need work, collects their records, keeps the index current."""

    def __init__(self, plan, directory, executor, workers_own, threads, changed, retry_failed, progress, on_record):
        self.plan, self.dir, self.ex = plan, directory, executor
        self.own = workers_own > 0 or isinstance(executor, _Serial)  # our pool: restarted if a worker dies
        self.workers_own = workers_own
        self.restart: set[str] = set(changed)
        self.threads, self.changed, self.retry_failed = threads, set(changed), retry_failed
        self.progress, self.on_record = progress, on_record
        self.keys = list(plan.keys)
        old_rows, _, _ = read_index(directory)
        self.old = {r["run"]: r for r in old_rows}
        self.rows: dict[str, dict] = {}
        self.last_write = 0.0
        self.write_cost = 0.0
        self.lost: dict[str, int] = {}

    def _task(self, run) -> dict:
        return {
            "id": run.id,
            "config": run.config,
            "archive": str(self.dir / RUNS / f"{run.id}.h5"),
            "threads": self.threads,
            "base_dir": str(self.plan.base_dir) if self.plan.base_dir else None,
            "restart": run.id in self.restart,
            "coordinator_pid": os.getpid(),
        }

    def _row(self, run, rec: dict) -> dict:
        metrics = {k: v for k, v in (rec.get("metrics") or {}).items() if k not in ("step", "time")}
        return {
            "run": run.id,
            "point": run.point,
            "replicate": run.replicate,
            **{k: run.params.get(k) for k in self.keys},
            "seed": run.seed,
            "status": rec.get("status", "pending"),
            "error": rec.get("error", ""),
            "step": rec.get("step"),
            "steps_executed": rec.get("steps_executed"),
            "seconds": rec.get("seconds"),
            "host": rec.get("host", ""),
            "action": rec.get("action", ""),
            "archive": f"{RUNS}/{run.id}.h5",
            **metrics,
        }

    def write(self, force: bool = False) -> None:
        """Rewrite the index: always when forced (start, end, interruption), else at most every
        INDEX_INTERVAL seconds and INDEX_SHARE of the time (HDF5 only; Parquet when forced)."""
        now = time.monotonic()
        if not force and now - self.last_write < max(INDEX_INTERVAL, self.write_cost / INDEX_SHARE):
            return
        rows = [self.rows[r.id] for r in self.plan.runs]
        base = [*BASE_COLUMNS, *self.keys, *RESULT_COLUMNS]
        metrics = sorted({k for r in rows for k in r} - set(base))
        meta = {"hash": self.plan.hash, "name": self.plan.name, "written": _now()}
        write_index(self.dir, rows, [*base, *metrics], meta, parquet=force)
        self.last_write = time.monotonic()
        self.write_cost = self.last_write - now

    def go(self) -> None:
        todo = []
        for run in self.plan.runs:
            info = archive_state(self.dir / RUNS / f"{run.id}.h5")
            if run.id in self.changed:
                info = {"state": "absent"}
            elif info["state"] == "failed" and self.retry_failed:
                self.restart.add(run.id)
            if info["state"] == "done" or (info["state"] == "failed" and not self.retry_failed):
                old = self.old.get(run.id, {})
                rec = {
                    "status": info["status"],
                    "error": info.get("message", ""),
                    "step": info["step"],
                    "metrics": info["metrics"],
                    "steps_executed": 0,
                    "seconds": old.get("seconds"),
                    "host": old.get("host") or info.get("host", ""),
                    "action": "skipped",
                }
                self.rows[run.id] = self._row(run, rec)
            else:
                status = "interrupted" if info["state"] == "resumable" else "pending"
                self.rows[run.id] = self._row(run, {"status": status})
                todo.append(run)
        self.write(force=True)
        bar = _bar(self.progress, len(self.plan.runs), len(self.plan.runs) - len(todo))
        failed = sum(1 for r in self.rows.values() if r["status"] == "failed")
        by_id = {r.id: r for r in self.plan.runs}
        window = 1 if isinstance(self.ex, _Serial) else len(todo)
        queue = list(reversed(todo))
        futures: dict = {}
        try:
            while queue or futures:
                while queue and len(futures) < window:
                    run = queue.pop()
                    futures[self.ex.submit(execute, self._task(run))] = run.id
                done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
                resubmit = []
                for fut in done:
                    rid = futures.pop(fut)
                    run = by_id[rid]
                    try:
                        rec = fut.result()
                    except BrokenProcessPool:
                        self.lost[rid] = self.lost.get(rid, 0) + 1
                        if self.lost[rid] < MAX_LOST and self.workers_own:  # a pool we can replace
                            resubmit.append(run)
                            continue
                        rec = {"status": "failed", "error": f"its worker process died ({self.lost[rid]} times)"}
                    except cf.CancelledError:
                        rec = {"status": "pending", "error": "cancelled"}
                    except Exception as exc:  # the executor lost the task (e.g. Dask: KilledWorker)
                        rec = {"status": "failed", "error": f"executor: {type(exc).__name__}: {exc}"}
                    self.rows[rid] = self._row(run, rec)
                    failed += rec.get("status") == "failed"
                    bar.set_postfix(failed=failed, refresh=False)
                    bar.update(1)
                    if self.on_record is not None:
                        self.on_record(self.rows[rid])
                if resubmit:
                    self._restart_pool(futures)
                    for run in resubmit:
                        futures[self.ex.submit(execute, self._task(run))] = run.id
                self.write()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
        finally:
            bar.close()
            self.write(force=True)

    def _restart_pool(self, futures: dict) -> None:
        """A local worker died (killed, out of memory): every run on the broken pool goes to a new one."""
        if self.workers_own == 0:
            return
        lost = list(futures.items())
        _end_broken_pool(self.ex)
        self.ex = local_executor(self.workers_own)
        futures.clear()
        for _, rid in lost:
            run = next(r for r in self.plan.runs if r.id == rid)
            futures[self.ex.submit(execute, self._task(run))] = rid


class _NoBar:
    def update(self, n):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass


def _bar(enabled: bool, total: int, initial: int):
    if not enabled:
        return _NoBar()
    import sys

    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="run", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


# --- planning estimates ------------------------------------------------------------------------------


def estimate(plan: SweepPlan, workers: int, probe_steps: int = 50) -> dict[str, Any]:
    """Rough cost of a sweep before running it: seconds (the first run probed with an archive for
    `probe_steps` steps or two records, scaled by N·K and steps for the others, divided among the
    workers), the memory of `workers` concurrent runs (the engine's estimate per run) and the disk
    of all archives (uncompressed)."""
    from . import params as P
    from . import threads as thr
    from .config import load_config
    from .registry import Registry
    from .simulation import Simulation

    reg = Registry()
    sizes = []
    for run in plan.runs:
        cfg = load_config(run.config, registry=reg)
        spec = reg.get("scenario", cfg.scenario.name, "scenario.name")
        n, k = spec.size(P.build(spec.params, cfg.scenario.params, "scenario"))
        sizes.append((int(n), int(k), cfg))
    first = plan.runs[0]
    cfg0 = sizes[0][2]
    steps = max(1, min(cfg0.run.steps, max(probe_steps, 2 * cfg0.run.record_every)))
    with tempfile.TemporaryDirectory() as tmp, thr.limit(plan.threads):
        t0 = time.perf_counter()
        sim = Simulation(cfg0, registry=reg, base_dir=plan.base_dir)
        setup_s = time.perf_counter() - t0
        result = sim.run(Path(tmp) / "probe.h5", steps=steps)
        step_s = result.seconds / max(1, result.step)
    nk0 = sizes[0][0] * sizes[0][1]
    n_series = len(sim.series_names) + 2
    snap_bytes0 = sum(sim.snapshot_array(a).nbytes for a in cfg0.archive.snapshots)
    state_bytes0 = sum(a.nbytes for a in sim.state.arrays().values())
    total_s, mems, disk = 0.0, [], 0.0
    for n, k, cfg in sizes:
        scale = (n * k) / nk0
        rc = cfg.run
        records = rc.steps // rc.record_every + 1
        total_s += setup_s * scale + rc.steps * step_s * scale
        mems.append(8 * (16 * n * k + 16 * n))
        snaps = (rc.steps // rc.snapshot_every + 1) if rc.snapshot_every else 0
        disk += records * n_series * 8 + snaps * snap_bytes0 * scale + 2 * state_bytes0 * scale
    w = max(1, workers)
    return {
        "runs": len(plan.runs),
        "workers": w,
        "probe": {"run": first.id, "steps": steps, "seconds_per_step": step_s, "setup_seconds": setup_s},
        "seconds": total_s / min(w, len(plan.runs)),
        "run_seconds": total_s,
        "memory_bytes": sum(sorted(mems, reverse=True)[:w]),
        "disk_bytes": int(disk),
    }
