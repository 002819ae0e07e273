"""The `dps` command. It, not the library, configures logging (rendered to stderr).

Bad input (config, arguments, archives, plugins) ends with one line on stderr and a non-zero
exit code, never a traceback; `--debug` shows tracebacks for reporting bugs.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

from . import interrupts
from . import params as P
from .archive_io import live_writer
from .backend import backend, compiled_error, instruction_set, instruction_sets
from .config import parse_override
from .errors import DPSError, call_plugin
from .interrupts import RunInterrupted
from .logs import configure_cli_logging
from .malloc import keep_freed_memory
from .registry import Registry

__all__ = ["main"]

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


def _print_table(rows: list[list[str]], header: list[str], out=None) -> None:
    """Columns padded to their widest cell; the last column wraps to the terminal width (or, when
    the others leave it too little room, goes under each row)."""
    out = out or sys.stdout
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    indent = sum(w + 2 for w in widths[:-1])
    total = _terminal_width(out)
    beside = total - indent >= 30
    if beside:
        widths[-1] = min(widths[-1], total - indent)
    else:
        widths, indent = widths[:-1], 4
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        head = "  ".join(str(c).ljust(w) for c, w in zip(r[:-1], widths, strict=False))
        tail = textwrap.wrap(str(r[-1]), total - indent, break_on_hyphens=False) or [""]
        if beside:
            print((head + "  " + tail[0]).rstrip(), file=out)
            tail = tail[1:]
        else:
            print(head.rstrip(), file=out)
        for more in tail:
            print(" " * indent + more, file=out)


def _terminal_width(out=None) -> int:
    """Columns to fit: $COLUMNS, else the terminal's width, else 100 (not a terminal)."""
    out = out or sys.stdout
    try:
        env = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        env = 0
    if env > 0:
        return env
    try:
        if out.isatty():
            return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return 100


def _print_wrapped(text: str, indent: int = 0, hanging: int = 4, out=None) -> None:
    """One logical line, wrapped to the terminal width with a hanging indent."""
    out = out or sys.stdout
    width = max(40, _terminal_width(out))
    lead = " " * indent
    print(
        textwrap.fill(text, width, initial_indent=lead, subsequent_indent=lead + " " * hanging, break_on_hyphens=False),
        file=out,
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _overrides(args) -> dict[str, Any]:
    out = dict(parse_override(s) for s in (args.set or []))
    if getattr(args, "steps", None) is not None:
        out["run.steps"] = args.steps
    if getattr(args, "seed", None) is not None:
        out["run.seed"] = args.seed
    return out


def _default_output(config_path: Path, configured: str) -> tuple[Path, bool]:
    """(path, explicit). The default name next to the working directory never overwrites: it
    counts up (generic.h5, generic-1.h5, ...)."""
    if configured:
        return Path(configured), True
    stem = config_path.stem
    path = Path(f"{stem}.h5")
    i = 1
    while path.exists():
        path = Path(f"{stem}-{i}.h5")
        i += 1
    return path, False


def int_at_least(low: int):
    """An argparse type: an integer >= `low` (0: non-negative, 1: positive), else one clear line."""
    what = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")

    def check(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {value!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be {what}, got {value!r}")
        return n

    return check


_check_nonneg = int_at_least(0)


def _finite(obj: Any) -> Any:
    """NaN and infinities as null, recursively (strict JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist"):  # NumPy scalars and arrays
        return _finite(obj.tolist())
    return obj


def _dumps(data: Any) -> str:
    """Strict JSON for every --json output: sorted keys, NaN/inf as null, unknown objects as text."""
    return json.dumps(_finite(data), sort_keys=True, allow_nan=False, default=str)


# --- commands ---------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    from .simulation import Simulation  # heavy: imported by the commands that run

    sim = Simulation.from_config(args.config, overrides=_overrides(args))
    if args.output:
        output, explicit = Path(args.output), True
    else:
        output, explicit = _default_output(Path(args.config), sim.config.run.output)
    start = sim.metrics()
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    result = sim.run(output, progress=progress, overwrite=args.overwrite and explicit)
    headline = scenario_summary(sim)
    if args.json:
        print(
            _dumps(
                {
                    "summary": headline,
                    "status": result.status,
                    "step": result.step,
                    "archive": str(result.archive),
                    "backend": sim.backend,
                    "seconds": result.seconds,
                    "metrics": result.metrics,
                }
            )
        )
        return 0
    rows = [[k, _fmt(start.get(k, "")), _fmt(v)] for k, v in result.metrics.items()]
    print(
        f"dps run: {sim.config.scenario.name}, {sim.model.n_agents} agents x {sim.model.n_tasks} tasks, "
        f"{result.step} steps ({result.status}) in {result.seconds:.2f} s, {sim.backend} kernel"
    )
    _print_table(rows, ["metric", "start", "end"])
    for label, text in headline.items():
        print(f"{label}: {text}")
    print(f"archive: {result.archive}")
    return 0


def scenario_summary(sim) -> dict[str, str]:
    """The scenario's headline result at the simulation's current state ({} when it has none)."""
    name = sim.config.scenario.name
    if name == "arrays":
        return {}
    spec = sim.registry.get("scenario", name, "scenario.name")
    if spec.summary is None:
        return {}
    out = sim.call_plugin(sim.scenario_plugin, f"scenario '{name}' (summary)", spec.summary, sim)
    return {str(k): str(v) for k, v in dict(out).items()}


def cmd_validate(args) -> int:
    from .simulation import Simulation  # heavy: imported by the commands that run

    sim = Simulation.from_config(args.config, overrides=_overrides(args))
    c = sim.config
    print(
        f"{args.config}: valid. scenario '{c.scenario.name}', {sim.model.n_agents} agents x {sim.model.n_tasks} tasks, "
        f"profile '{c.profile.family}', mixing '{c.mixing.name}' on topology '{sim.model.topology.name}', "
        f"signal '{c.signal.name}', mode '{c.mode.name}', demand '{c.demand.name}', {c.run.steps} steps"
    )
    return 0


def cmd_resume(args) -> int:
    from .simulation import Simulation  # heavy: imported by the commands that run

    progress = not args.no_progress and sys.stderr.isatty()
    result = Simulation.resume(
        args.archive, steps=args.steps, progress=progress, allow_backend_change=args.allow_backend_change
    )
    print(f"dps resume: {result.status} at step {result.step}; archive: {result.archive}")
    return 0


def cmd_plugins(args) -> int:
    reg = _registry(args)
    kinds = ("scenario", "topology", "metric", "mode", "signal", "demand", "archive_group", "command", "plot", "layout")
    plugins: list[dict[str, Any]] = []
    for info in reg.info:
        provides = {k: [n for n in reg.names(k) if reg.owner(k, n) == info.name] for k in kinds}
        plugins.append(
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "source": info.source,
                "provides": {k: v for k, v in provides.items() if v},
            }
        )
    data: dict[str, Any] = {
        "backend": backend(),
        "backend_note": compiled_error(),
        "instruction_set": instruction_set(backend()),
        "instruction_sets": instruction_sets(),
        "plugins": plugins,
        "failed": [{"name": f.name, "distribution": f.distribution, "error": f.error} for f in reg.failures],
    }
    if args.json:
        print(_dumps(data))
        return 0
    isa, others = data["instruction_set"], [i for i in data["instruction_sets"] if i != data["instruction_set"]]
    _print_wrapped(
        f"kernel backend: {data['backend']}"
        + (f" ({data['backend_note']})" if data["backend_note"] else "")
        + (f", instruction set {isa}" if isa else "")
        + (f" (this CPU also runs {', '.join(others)}: DPS_KERNEL_ISA picks one)" if others else "")
    )
    rows = [
        [
            p["name"],
            p["distribution"],
            p["version"],
            p["source"],
            "; ".join(f"{k}: {', '.join(v)}" for k, v in p["provides"].items()),
        ]
        for p in plugins
    ]
    _print_table(rows, ["plugin", "distribution", "version", "source", "provides"])
    for f in data["failed"]:
        _print_wrapped(f"FAILED {f['name']} ({f['distribution']}): {f['error']}")
    return 0


def cmd_scenarios(args) -> int:
    reg = _registry(args)
    out = []
    for name, spec in reg.records("scenario").items():
        out.append(
            {
                "name": name,
                "plugin": reg.owner("scenario", name),
                "doc": spec.doc,
                "params": P.describe(spec.params),
                "defaults": spec.defaults,
            }
        )
    if args.json:
        print(_dumps(out))
        return 0
    for s in out:
        _print_wrapped(f"{s['name']}  (plugin {s['plugin']}): {s['doc']}")
        for p in s["params"]:
            unit = f" [{p['unit']}]" if p["unit"] else ""
            _print_wrapped(f"{p['name']} = {p['default']!r}{unit}  ({p['type']}) {p['doc']}", indent=4)
        if s["defaults"]:
            _print_wrapped(f"sets: {json.dumps(s['defaults'], sort_keys=True)}", indent=4)
    return 0


def cmd_inspect(args) -> int:
    from .archive import open_archive  # heavy (h5py): imported by the commands that read archives

    with open_archive(args.archive) as ar:
        ck = ar.checkpoint(arrays=False)  # counters only: plain inspect reads no bulk data
        verified = ar.verify() if args.verify else None
        if args.verify:
            ar.checkpoint()  # the latest slot's digest, and that its state rebuilds
        data = {
            "path": str(ar.path),
            "schema": ar.schema,
            "opened_with_swmr": ar.swmr,
            "status": ar.status,
            "message": ar.message,
            "last_step": ar.last_step,
            "checkpoint_step": None if ck is None else ck["step"],
            "provenance": ar.provenance,
            "config": ar.config_dict,
            "datasets": {k: list(v) for k, v in ar.datasets().items()},
            "final_metrics": ar.final_metrics(),
        }
        if verified is not None:
            data["verified"] = verified
    data["writer"] = live_writer(Path(args.archive))  # who still writes it (None: nobody)
    if args.json:
        print(_dumps(data))
        return 0
    prov = data["provenance"]
    print(
        f"{data['path']}: dps archive schema {data['schema']}, status '{data['status']}'"
        + (" (opened as a SWMR reader: its writer is running or was killed)" if data["opened_with_swmr"] else "")
    )
    if data["message"]:
        print(f"message: {data['message']}")
    if data["status"] in ("created", "running"):
        print(
            f"writer: {data['writer']}" if data["writer"] else "writer: dead (killed or crashed; dps resume continues)"
        )
    print(
        f"created {prov.get('created')} by dps {prov.get('dps_version')} ({prov.get('backend')} kernel), "
        f"run {prov.get('run_id')}, seed {prov.get('seed_entropy')}"
    )
    print(
        f"scenario '{data['config']['scenario']['name']}', {prov.get('n_agents')} agents x {prov.get('n_tasks')} tasks; "
        f"last step {data['last_step']}, checkpoint at step {data['checkpoint_step']}"
    )
    print("datasets:")
    for k, v in data["datasets"].items():
        print(f"  {k}  {tuple(v)}")
    print("final metrics:")
    for k, v in data["final_metrics"].items():
        print(f"  {k} = {_fmt(v)}")
    if verified is not None:
        slots = ", ".join(f"slot {k}: {v}" for k, v in verified["checkpoint_slots"].items())
        print(
            f"verified: read {verified['datasets']} datasets ({verified['bytes'] / 1e6:.1f} MB uncompressed), "
            f"checksums match; checkpoint {slots}"
        )
        if verified["torn_chunks"]:
            print(
                f"  the chunk holding the last counted rows of {', '.join(verified['torn_chunks'])} was half "
                "rewritten when the writer stopped; those rows are proven by its previous checksum"
            )
    return 0


def _registry(args) -> Registry:
    """The registry `main` built (so a broken plugin is reported once per command), else a new one."""
    reg = getattr(args, "registry", None)
    return reg if reg is not None else Registry()


def cmd_plot(args) -> int:
    from .archive import open_archive  # heavy (h5py): imported by the commands that read archives
    from .plotting import default_kind, plot_archive, save_figure

    reg = _registry(args)
    with open_archive(args.archive) as ar:
        kind = args.kind or default_kind(ar, reg)
        fig = plot_archive(
            ar,
            kind,
            metrics=args.metric or (),
            snapshot=args.snapshot,
            layout=args.layout,
            seed=args.seed,
            registry=reg,
        )
        status = ar.status
    path = Path(args.archive)
    out = Path(args.output) if args.output else path.with_name(f"{path.stem}-{kind}.png")
    save_figure(fig, out, dpi=args.dpi)
    print(f"dps plot: {kind} of {path} ({status}) -> {out}")
    return 0


def cmd_export(args) -> int:
    from .export import export

    out = export(args.archive, args.to, args.output, overwrite=args.overwrite)
    print(f"dps export: wrote {out}")
    return 0


def cmd_watch(args) -> int:
    from .watch import watch

    return watch(args.archive, interval=args.interval, timeout=args.timeout)


# --- parser -----------------------------------------------------------------------------------------


def build_parser(registry: Registry | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dps", description="Simulate Distributed Production Systems.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr (-vv: debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("run", help="run a config and write its archive")
    p.add_argument("config", help="TOML config file")
    p.add_argument("-o", "--output", help="archive path (default: run.output, else CONFIG-NAME.h5, never overwriting)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--steps", type=_check_nonneg, help="total steps (run.steps)")
    p.add_argument("--seed", type=_check_nonneg, help="seed (run.seed)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing archive at --output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a config without running it")
    p.add_argument("config")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE")
    p.add_argument("--steps", type=_check_nonneg)
    p.add_argument("--seed", type=_check_nonneg)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("resume", help="continue a run from its archive's last checkpoint")
    p.add_argument("archive")
    p.add_argument("--steps", type=_check_nonneg, help="total steps (default: the config's run.steps)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--allow-backend-change",
        action="store_true",
        help="continue with another kernel backend, instruction set or arithmetic revision than the one that stepped the run (recorded in the archive)",
    )
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("plugins", help="list plugins, their versions and the kernel backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("scenarios", help="list scenarios with their parameters and defaults")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("inspect", help="show an archive's schema, provenance, datasets and final metrics")
    p.add_argument("archive")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verify", action="store_true", help="read every dataset and check every checksum")
    p.set_defaults(func=cmd_inspect)

    from .sweep_cli import add_sweep_parser  # it uses this module's argument types

    add_sweep_parser(sub)
    kinds = ", ".join(registry.names("plot")) if registry is not None else "timeseries, profiles, heterogeneity, graph"
    p = sub.add_parser("plot", help="draw a figure from an archive (finished, running or killed)")
    p.add_argument("archive")
    p.add_argument(
        "--kind", help=f"what to draw: {kinds} (default: the scenario's own view, else timeseries)", metavar="KIND"
    )
    p.add_argument(
        "--metric",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="series for the timeseries kind (default: the first six)",
    )
    p.add_argument(
        "--snapshot", type=int, default=-1, help="snapshot index for profiles and graph (default: -1, the last)"
    )
    p.add_argument(
        "--layout", help="graph layout (default: the one registered for the archive's topology, else circle)"
    )
    p.add_argument("--seed", type=_check_nonneg, default=0, help="seed of a random graph layout")
    p.add_argument("--dpi", type=_check_nonneg, default=100, help="resolution of PNG output")
    p.add_argument("-o", "--output", help="figure file, .png, .svg or .pdf (default: ARCHIVE-NAME-KIND.png beside it)")
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("export", help="write an archive's time series and snapshots as netCDF, Parquet or CSV")
    p.add_argument("archive")
    p.add_argument("--to", required=True, choices=["netcdf", "parquet", "csv"], help="output format")
    p.add_argument("-o", "--output", help="output path (default: the archive's name with .nc, .parquet or .csv)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("watch", help="follow a run another process writes: step, progress, ETA, latest metrics")
    p.add_argument("archive")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds without progress")
    p.set_defaults(func=cmd_watch)

    if registry is not None:
        for name, spec in registry.records("command").items():
            owner = registry.owner("command", name)
            p = sub.add_parser(name, help=f"{spec.help} (plugin {owner})")
            call_plugin(owner, f"command '{name}' (configure)", spec.configure, p)
            p.set_defaults(func=functools.partial(call_plugin, owner, f"command '{name}'", spec.run), plugin=owner)
    return parser


def _on_sigterm(signum, frame):
    raise RunInterrupted(signum, "terminated (SIGTERM)")


# commands that write archives: SIGINT/SIGTERM only set a flag, and the run stops at a consistent point
_DEFERRED_SIGNALS = ("run", "resume")


def main(argv: list[str] | None = None) -> int:
    as_process = argv is None  # the `dps` command itself: signals stay deferred until the process exits
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        with interrupts.deferred_signals():
            configure_cli_logging(0, new_command=True)  # plugin load failures are reported while the parser is built
            registry = Registry()
            parser = build_parser(registry)
            args = parser.parse_args(argv)
            args.registry = registry
            configure_cli_logging(args.verbose)
        if as_process:  # the command's own process policy, like its logging (dps_core/malloc.py)
            keep_freed_memory()
        if args.command in _DEFERRED_SIGNALS:
            with interrupts.deferred_signals(restore=not as_process):
                code = args.func(args)  # a signal noted while parsing stops the run before it starts
                late = interrupts.pending()
                if late is not None:  # arrived after the run ended: its archive is complete
                    interrupts.clear()
                    return 128 + late
                return int(code or 0)
        if interrupts.pending() is not None:
            raise RunInterrupted(interrupts.pending() or signal.SIGINT, "interrupted")
        signal.signal(signal.SIGTERM, _on_sigterm)
        code = args.func(args)
        return int(code or 0)
    except DPSError as exc:
        if debug:
            raise
        print(f"dps: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        interrupts.clear()
        if isinstance(exc, RunInterrupted) and str(exc).startswith("run interrupted"):
            print(
                f"dps: {exc}; the archive keeps a checkpoint there (dps resume ARCHIVE continues it)", file=sys.stderr
            )
        else:
            print("dps: interrupted", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            raise
        plugin = ""
        args_obj = locals().get("args")
        if args_obj is not None and getattr(args_obj, "plugin", None):
            plugin = f" in plugin '{args_obj.plugin}'"
        print(
            f"dps: internal error{plugin}: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        if as_process:
            _ignore_signals_while_exiting()


_SIGNAL_ATTEMPTS = 5  # one per signal that can arrive while the handlers change, and then some


def _ignore_signals_while_exiting() -> None:
    """The command is done: a late SIGINT/SIGTERM must not kill the interpreter while it shuts
    down (Python restores the default handlers then, turning the exit code into -2 / -15). A
    signal arriving while the handlers change makes `signal.signal` raise OSError ("Signal 2
    ignored due to race condition") before it sets the handler: that signal is one to ignore
    anyway, so the handler is set again (two SIGINTs 5 ms apart printed a traceback)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        for _ in range(_SIGNAL_ATTEMPTS):
            try:
                signal.signal(signum, signal.SIG_IGN)
                break
            except OSError:
                continue


if __name__ == "__main__":
    sys.exit(main())
