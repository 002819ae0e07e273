"""A conformance harness for plugin authors: one call tells whether a plugin honours the contract.

    from dps_core.testing import check_plugin
    check_plugin(my_plugin)          # an object or module with @hookimpl functions, or an entry-point name

It builds every record with its default parameters, checks that each scenario's `size()` matches
what `build()` makes, runs every scenario, mode, signal, demand process, topology and metric of the
plugin on a small system (the scenario's own, or the core's `generic` one), and checks that
metrics return their declared outputs, modes return only allowed keys, the same seed gives the
same arrays bit for bit, and a run stopped at a checkpoint and resumed from its archive equals an
uninterrupted one (the pitfall of randomness or state kept outside `ctx.rng` and declared arrays).
A component that cannot run on the generic scenario is reported as skipped, with the reason.
"""

from __future__ import annotations

import importlib.metadata as md
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np

from . import params as P
from .errors import DPSError
from .registry import ENTRY_POINT_GROUP, Registry, _object_name
from .simulation import Simulation

__all__ = ["Check", "check_plugin"]

#: the small system components are tried on when they bring no scenario of their own
GENERIC = {"scenario": {"name": "generic", "agents": 9, "tasks": 12, "peaks": 2}}
FAMILIES = ("vonmises", "free", "signed")


@attrs.frozen
class Check:
    """One check of one record: 'pass', 'fail' or 'skip', with what was found."""

    name: str
    record: str
    status: Literal["pass", "fail", "skip"]
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.status.upper():4}  {self.name}  [{self.record}]  {self.detail}".rstrip()


class _Target:
    """The plugin under test, and how to build simulations that load it exactly once."""

    objects: tuple[Any, ...]

    def __init__(self, plugin: Any):
        installed = {ep.name: ep.value for ep in md.entry_points(group=ENTRY_POINT_GROUP)}
        if isinstance(plugin, str):
            if plugin not in installed:
                raise ValueError(f"no installed dps plugin named '{plugin}'; installed: {sorted(installed)}")
            self.name, self.objects = plugin, ()
        else:
            module = getattr(plugin, "__name__", None)
            ep = next((n for n, v in installed.items() if module is not None and v == module), None)
            self.name, self.objects = (ep, ()) if ep else (_object_name(plugin), (plugin,))
        self.registry = Registry(self.objects)

    def owned(self, kind: str) -> dict[str, Any]:
        """This plugin's records of one kind, by name."""
        reg = self.registry
        return {n: r for n, r in reg.records(kind).items() if reg.owner(kind, n) == self.name}

    def simulation(self, config: Mapping[str, Any]) -> Simulation:
        return Simulation.from_config(dict(config), plugins=self.objects)


def _same_state(a: Simulation, b: Simulation) -> str:
    """'' when both states are bit-identical, else the first array that differs."""
    if a.state.step != b.state.step:
        return f"step {a.state.step} != {b.state.step}"
    arrays_b = b.state.arrays()
    for name, value in a.state.arrays().items():
        other = arrays_b.get(name)
        if other is None or other.shape != value.shape or not np.array_equal(value, other, equal_nan=True):
            return f"array '{name}' differs"
    return ""


def _run_checks(target: _Target, config: Mapping[str, Any], record: str, steps: int, tmp: Path) -> Iterator[Check]:
    """Same seed, same arrays; stopped at a checkpoint and resumed == uninterrupted; metrics."""
    half = max(1, steps // 2)
    run = {**config.get("run", {}), "steps": 2 * half, "checkpoint_every": half, "record_every": half}
    config = {**config, "run": run}
    try:
        first = target.simulation(config)
        first.step(2 * half)
        second = target.simulation(config)
        second.step(2 * half)
    except DPSError as exc:
        yield Check("steps", record, "fail", str(exc))
        return
    diff = _same_state(first, second)
    yield Check("same seed, same arrays", record, "fail" if diff else "pass", diff)
    try:
        first.metrics()
        yield Check("metrics return their declared outputs", record, "pass")
    except DPSError as exc:
        yield Check("metrics return their declared outputs", record, "fail", str(exc))
    path = tmp / "run.h5"
    try:
        target.simulation(config).run(path, steps=half, overwrite=True)
        Simulation.resume(path, steps=2 * half, plugins=target.objects)
        resumed = Simulation.from_archive(path, plugins=target.objects)
    except DPSError as exc:
        yield Check("resume equals an uninterrupted run", record, "fail", str(exc))
        return
    diff = _same_state(resumed, first)
    yield Check(
        "resume equals an uninterrupted run",
        record,
        "fail" if diff else "pass",
        f"{diff} after resuming at step {half}: keep every random draw on ctx.rng (a mode's draw) and "
        "every piece of state in a declared array"
        if diff
        else "",
    )


def _component_config(
    target: _Target, kind: str, name: str, params: Mapping[str, Any], extra: Mapping[str, Any]
) -> tuple[dict | None, str]:
    """A small config running component `name` of `kind` (on the plugin's own scenarios first, then
    on the generic one with each profile family), or None and why none could be built."""
    bases: list[tuple[dict[str, Any], str]] = [
        ({"scenario": {"name": s}}, f"scenario '{s}'") for s in target.owned("scenario")
    ]
    bases += [({**GENERIC, "profile": {"family": f}}, f"generic, {f} profiles") for f in FAMILIES]
    errors = []
    for base, label in bases:
        config: dict[str, Any] = dict(base)
        if kind == "topology":
            config |= {"topology": {"name": name, **params}, "mixing": {"name": "shared"}}
        elif kind == "metric":
            config |= {"metrics": {"names": ["productivity", name], **({name: params} if params else {})}}
        else:
            config |= {kind: {"name": name, **params}}
        if kind == "signal":  # a signal is read by modes that scatter it
            config |= {"mode": {"name": "gradient"}}
        config |= extra
        try:
            sim = target.simulation(config)
        except DPSError as exc:
            errors.append(f"{label}: {exc}")
            continue
        if kind == "metric":
            try:
                sim.metrics()
            except DPSError as exc:
                if exc.__cause__ is None:  # the engine caught a broken promise: check this system
                    return config, ""
                errors.append(f"{label}: {exc}")  # the metric itself says it cannot measure this system
                continue
        return config, ""
    return None, "; ".join(errors)


def _command_checks(target: _Target) -> Iterator[Check]:
    """A command's `configure(parser)` builds its arguments and `--help` describes them."""
    import argparse

    for name, spec in target.owned("command").items():
        parser = argparse.ArgumentParser(prog=f"dps {name}", add_help=True)
        try:
            spec.configure(parser)
            usage = parser.format_help()
            yield Check("builds its arguments", f"command '{name}'", "pass" if usage else "fail")
        except Exception as exc:
            yield Check("builds its arguments", f"command '{name}'", "fail", f"{type(exc).__name__}: {exc}")


def check_plugin(
    plugin: Any,
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    steps: int = 6,
    raise_on_failure: bool = True,
) -> list[Check]:
    """Check a plugin (object, module or installed entry-point name) against the dps contract.

    `params` gives parameters to records that cannot build without them, by "kind.name"
    (`{"topology.edgelist": {"file": "g.txt"}}`); `config` adds config tables to the run of a
    record (`{"demand.economics.consumers": {"signal": {"name": "price"}}}`). Returns every check;
    with `raise_on_failure` (the default) an AssertionError lists the failures.
    """
    target = _Target(plugin)
    params, config = dict(params or {}), dict(config or {})
    checks: list[Check] = []
    for kind in ("scenario", "topology", "metric", "mode", "signal", "demand"):
        for name, spec in target.owned(kind).items():
            record, key = f"{kind} '{name}'", f"{kind}.{name}"
            given = dict(params.get(key, {}))
            label = "builds with default parameters" if not given else "builds with the given parameters"
            try:
                built = P.build(spec.params, given, kind)
                checks.append(Check(label, record, "pass"))
            except DPSError as exc:
                checks.append(Check(label, record, "fail", f"{exc} (pass check_plugin(params={{'{key}': ...}}))"))
                continue
            run: dict | None
            if kind == "scenario":
                run = {"scenario": {"name": name, **given}, **config.get(key, {})}
                try:
                    sim = target.simulation(run)
                    size = tuple(int(x) for x in spec.size(built))
                    made = (sim.model.n_agents, sim.model.n_tasks)
                    ok = size == made
                    checks.append(Check("size() matches build()", record, "pass" if ok else "fail",
                                        "" if ok else f"size() says {size}, build() made {made}"))  # fmt: skip
                except DPSError as exc:
                    checks.append(Check("builds and runs", record, "fail", str(exc)))
                    continue
            else:
                run, why = _component_config(target, kind, name, given, config.get(key, {}))
                if run is None:
                    checks.append(Check("runs on a small system", record, "skip", why))
                    continue
            with tempfile.TemporaryDirectory(prefix="dps-check-") as tmp:
                checks.extend(_run_checks(target, run, record, steps, Path(tmp)))
    checks.extend(_command_checks(target))
    if not checks:
        checks.append(Check("registers records", f"plugin '{target.name}'", "fail", "the plugin registered nothing"))
    failures = [c for c in checks if c.status == "fail"]
    if failures and raise_on_failure:
        raise AssertionError(
            f"plugin '{target.name}' fails {len(failures)} check(s):\n" + "\n".join(map(str, failures))
        )
    return checks
