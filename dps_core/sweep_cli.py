"""The `dps sweep` commands: plan, run, table, status (the heavy modules load only when used)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from .cli import int_at_least
from .errors import ConfigError

__all__ = ["add_sweep_parser"]


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def cmd_sweep_plan(args) -> int:
    from . import threads
    from .design import load_sweep
    from .sweep import estimate

    plan = load_sweep(args.sweep)
    workers = args.workers or threads.usable_cpus()
    est = estimate(plan, workers)
    if args.json:
        print(
            json.dumps(
                {"name": plan.name, "hash": plan.hash, "keys": list(plan.keys), "estimate": est, "runs": plan.table()},
                sort_keys=True,
                default=str,
            )
        )
        return 0
    n_points = len(plan.runs) // plan.replicates
    print(
        f"sweep '{plan.name}': {len(plan.runs)} runs ({n_points} points x {plan.replicates} replicates) over "
        f"{', '.join(plan.keys) or 'no axes'}; all configs valid"
    )
    from .cli import _fmt, _print_table

    rows = plan.table()
    header = list(rows[0])
    _print_table([[_fmt(r[h]) for h in header] for r in rows[: args.rows]], header)
    if len(rows) > args.rows:
        print(f"... {len(rows) - args.rows} more runs")
    print(
        f"estimated: {_duration(est['seconds'])} on {est['workers']} workers "
        f"({_duration(est['run_seconds'])} of runs; probe {est['probe']['seconds_per_step'] * 1e3:.3g} ms/step), "
        f"memory of {est['workers']} concurrent runs {_size(est['memory_bytes'])}, disk {_size(est['disk_bytes'])} "
        "(uncompressed)"
    )
    return 0


def _executor(args, stack):
    """(executor or None, description) for the chosen engine; Dask clients close with the stack."""
    if args.dask_local is None and args.scheduler is None and args.scheduler_file is None:
        return None, "local processes"
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "dask distributed is not installed; install the extra: pip install 'dps-core[dask]'"
        ) from None
    if args.dask_local is not None:
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=args.dask_local,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
        )
        client = stack.enter_context(Client(cluster))
        what = f"a local Dask cluster of {args.dask_local} workers"
    else:
        from pathlib import Path

        from .sweep import SweepError

        if args.scheduler is not None:
            what, kwargs = f"the Dask scheduler at {args.scheduler}", {"address": args.scheduler}
        else:
            if not Path(args.scheduler_file).is_file():
                raise SweepError(
                    f"--scheduler-file {args.scheduler_file}: no such file (dask scheduler --scheduler-file writes it)"
                )
            what, kwargs = f"the Dask scheduler in {args.scheduler_file}", {"scheduler_file": args.scheduler_file}
        try:
            client = stack.enter_context(Client(timeout=args.connect_timeout, **kwargs))
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError(f"cannot reach {what} within {args.connect_timeout} s: {exc}") from None
    return client.get_executor(pure=False), what


def cmd_sweep_run(args) -> int:
    import contextlib

    from .sweep import Sweep

    engines = [x is not None for x in (args.dask_local, args.scheduler, args.scheduler_file)]
    if sum(engines) > 1 or (any(engines) and args.workers is not None):
        raise ConfigError("choose one of --workers, --dask-local, --scheduler, --scheduler-file")
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    out = sys.stdout

    def on_record(row):
        if args.json:
            print(
                json.dumps({"event": "run", **{k: _clean(v) for k, v in row.items()}}, default=str),
                file=out,
                flush=True,
            )

    with contextlib.ExitStack() as stack:
        executor, what = _executor(args, stack)
        threads = "plan" if args.threads is None else (None if args.threads == 0 else args.threads)
        import time

        t0 = time.perf_counter()
        sweep = Sweep.run(
            args.sweep,
            args.output,
            executor=executor,
            workers=args.workers,
            threads=threads,
            allow_changed=args.allow_changed,
            retry_failed=args.retry_failed,
            progress=progress,
            on_record=on_record,
        )
        seconds = time.perf_counter() - t0
    st = sweep.status()
    if args.json:
        print(json.dumps({"event": "summary", "engine": what, "seconds": seconds, **st}, sort_keys=True))
    else:
        counts = ", ".join(f"{v} {k}" for k, v in st["counts"].items())
        print(f"dps sweep: {st['runs']} runs ({counts}) in {seconds:.1f} s on {what}; directory {args.output}")
    return 0 if "failed" not in st["counts"] else 1


def cmd_sweep_table(args) -> int:
    from .sweep import Sweep

    sweep = Sweep(args.directory)
    if args.parquet:
        sweep.to_pandas().to_parquet(args.parquet, index=False)
        print(f"wrote {args.parquet}")
        return 0
    if args.csv:
        sweep.to_pandas().to_csv(sys.stdout, index=False)
        return 0
    from .cli import _fmt, _print_table

    rows = sweep.records()
    cols = sweep.columns()
    hidden = {"archive", "action", "seed", "error", "host"}
    show = [c for c in cols if c not in hidden]
    _print_table([[_fmt(r.get(c, "")) if r.get(c) is not None else "" for c in show] for r in rows], show)
    return 0


def cmd_sweep_status(args) -> int:
    from .sweep import Sweep

    sweep = Sweep(args.directory)
    st = sweep.status()
    failures = [{"run": r["run"], "error": r["error"]} for r in sweep.records() if r["status"] == "failed"]
    if args.json:
        print(json.dumps({**st, "failures": failures}, sort_keys=True))
        return 0
    counts = ", ".join(f"{v} {k}" for k, v in st["counts"].items())
    live = "a live sweep is writing it" if st["live"] else "no sweep is writing it"
    print(f"{st['directory']}: sweep '{st['name']}' ({st['hash'][:12]}), {st['runs']} runs: {counts}; {live}")
    print(f"run time so far: {st['run_seconds']:.1f} s; manifest updated {st['updated']}")
    for f in failures[:10]:
        print(f"  failed {f['run']}: {f['error']}")
    if len(failures) > 10:
        print(f"  ... {len(failures) - 10} more failures")
    return 0


def add_sweep_parser(sub) -> None:
    """Add `dps sweep plan|run|table|status` to the `dps` subcommands."""
    p = sub.add_parser("sweep", help="run a study: a sweep file's runs in parallel, one tidy table")
    ss = p.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND")
    ss.required = True

    q = ss.add_parser("plan", help="list a sweep's runs and estimate its time, memory and disk, without running")
    q.add_argument("sweep", help="sweep file (TOML)")
    q.add_argument("--workers", type=int_at_least(1), help="workers the estimate assumes (default: usable cores)")
    q.add_argument("--rows", type=int_at_least(0), default=10, help="runs to list (default 10)")
    q.add_argument("--json", action="store_true", help="print the plan as JSON")
    q.set_defaults(func=cmd_sweep_plan)

    q = ss.add_parser("run", help="run (or continue) a sweep into a directory")
    q.add_argument("sweep", help="sweep file (TOML)")
    q.add_argument("-o", "--output", required=True, metavar="DIR", help="sweep directory (archives, index)")
    q.add_argument(
        "--workers", type=int_at_least(0), help="local worker processes (default: usable cores; 0: in this process)"
    )
    q.add_argument(
        "--dask-local", type=int_at_least(1), metavar="N", help="start a local Dask cluster of N worker processes"
    )
    q.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask scheduler (tcp://host:port)")
    q.add_argument("--scheduler-file", metavar="FILE", help="run on the Dask scheduler described in FILE")
    q.add_argument(
        "--connect-timeout", type=int_at_least(1), default=30, help="seconds to reach a scheduler (default 30)"
    )
    q.add_argument(
        "--threads",
        type=int_at_least(0),
        help="OpenMP threads per run (default: sweep.threads, normally 1; 0: by size)",
    )
    q.add_argument(
        "--allow-changed", action="store_true", help="continue although the sweep file changed (changed runs rerun)"
    )
    q.add_argument("--retry-failed", action="store_true", help="rerun runs that failed before")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--json", action="store_true", help="one JSON line per finished run and a summary, on stdout")
    q.set_defaults(func=cmd_sweep_run)

    q = ss.add_parser("table", help="the sweep's table: one row per run (parameters, status, final metrics)")
    q.add_argument("directory", help="sweep directory")
    fmt = q.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout")
    fmt.add_argument("--parquet", metavar="FILE", help="write a Parquet file")
    q.set_defaults(func=cmd_sweep_table)

    q = ss.add_parser("plot", help="a metric against a parameter: mean and spread over replicates")
    q.add_argument("directory", help="sweep directory")
    q.add_argument(
        "--x", required=True, metavar="KEY", help="the parameter on the x axis (a sweep axis, e.g. scenario.peaks)"
    )
    q.add_argument("--y", required=True, metavar="METRIC", help="the final metric on the y axis (e.g. hill)")
    q.add_argument("--hue", metavar="KEY", help="one line per value of this parameter")
    q.add_argument("--dpi", type=int_at_least(1), default=100, help="resolution of PNG output")
    q.add_argument("-o", "--output", help="figure file, .png, .svg or .pdf (default: DIR/Y-vs-X.png)")
    q.set_defaults(func=cmd_sweep_plot)

    q = ss.add_parser("status", help="summarise a sweep directory: counts by status, failures, whether it is live")
    q.add_argument("directory", help="sweep directory")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_sweep_status)


def cmd_sweep_plot(args) -> int:
    """`dps sweep plot`: the finished runs' final `--y` against `--x` (see plotting.plot_sweep)."""
    from pathlib import Path

    from .plotting import plot_sweep, save_figure
    from .sweep import Sweep

    sweep = Sweep(args.directory)
    rows = [r for r in sweep.records() if r.get("status") in ("finished", "converged")]
    if not rows:
        raise ConfigError(f"sweep {args.directory} has no finished run to plot yet (dps sweep status {args.directory})")
    table = {c: [r.get(c) for r in rows] for c in sweep.columns()}
    fig = plot_sweep(table, args.x, args.y, args.hue)
    name = f"{args.y}-vs-{args.x}".replace("/", "_") + (f"-by-{args.hue}" if args.hue else "")
    out = save_figure(fig, args.output or Path(args.directory) / f"{name}.png", dpi=args.dpi)
    print(f"dps sweep plot: {out} ({len(rows)} finished runs)")
    return 0
