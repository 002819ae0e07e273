"""`dps principle law1|law2|law3|law4|all -o DIR`: each law of the Principle as an experiment with
its negative control, a statistic with a confidence interval over seeds, a verdict and a figure
(docs/principle.md)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from dps_core import CommandSpec, ConfigError

from . import protocol as pr

__all__ = ["PRINCIPLE"]


def _count(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def _configure(p) -> None:
    p.add_argument("law", choices=[*pr.LAWS, "all"], help="the law to measure, or all four")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for the sweeps, table and figures")
    p.add_argument("--config", metavar="BASE.toml", help="run the experiments on this base config where they apply")
    p.add_argument(
        "--seeds",
        type=_count(2),
        help=f"replicates per design point (default {pr.SEEDS}; {pr.QUICK_SEEDS} with --quick)",
    )
    p.add_argument("--seed", type=_count(0), default=1, help="root seed of every sweep (default 1)")
    p.add_argument("--quick", action="store_true", help="the small designs the tests run (minutes, not tens)")
    engine = p.add_mutually_exclusive_group()
    engine.add_argument(
        "--workers", type=_count(0), help="local worker processes (default: usable cores; 0: in this process)"
    )
    engine.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask scheduler (tcp://host:port)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _dask(address: str, stack: contextlib.ExitStack):
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "--scheduler needs dask distributed; install the extra: pip install 'dps-core[dask]'"
        ) from None
    try:
        client = stack.enter_context(Client(address, timeout=30))
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"--scheduler {address}: cannot reach the Dask scheduler within 30 s: {exc}") from None
    return client.get_executor(pure=False)


def _run(args) -> int:
    from .experiments import Settings, run_law
    from .report import figure, table, write

    config = Path(args.config) if args.config else None
    if config is not None and not config.is_file():
        raise ConfigError(f"--config {config}: no such file")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    laws = list(pr.LAWS) if args.law == "all" else [args.law]
    seeds = args.seeds or (pr.QUICK_SEEDS if args.quick else pr.SEEDS)
    with contextlib.ExitStack() as stack:
        executor = _dask(args.scheduler, stack) if args.scheduler else None
        s = Settings(
            out,
            seeds,
            args.seed,
            args.quick,
            config,
            executor,
            args.workers,
            not args.no_progress and sys.stderr.isatty(),
        )
        results = []
        for law in laws:
            print(f"dps principle: {law} ...", flush=True)
            r = run_law(law, s)
            results.append(r)
            fig = figure(r, out)
            what = r.reason if not r.applies else f"{r.verdict}; control {r.control_verdict}; {r.seconds:.0f} s"
            print(f"dps principle: {law}: {what}" + (f" (figure {fig})" if fig else ""), flush=True)
    settings = {"seeds": seeds, "seed": args.seed, "quick": args.quick, "config": str(config) if config else None}
    md, js = write(results, out, settings)
    print()
    print(table(results), end="")
    print(f"\ndps principle: table {md}, {js}")
    return 0


PRINCIPLE = CommandSpec(
    "principle", "measure the Principle's laws: experiments, controls, confidence intervals, verdicts", _configure, _run
)
