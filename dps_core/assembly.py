"""System assembly: from a scenario's Setup and the bound components to a checked Model and its
initial State.

Everything here runs once, before the first step: the memory check (before anything large is
allocated), array validation, the topology build, the rules that tie components together, the
initial state, every declared extra array and the budget. `Simulation` calls `assemble` and keeps
only the factories, `step` and `run`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .config import Config
from .context import StepContext
from .errors import ConfigError, PluginError, ResourceError, call_plugin
from .mixing import Mixing
from .model import Bound, Model
from .profiles import Family, make_family
from .records import Setup
from .state import State
from .topology import Topology

__all__ = ["TopologyContext", "assemble", "available_memory", "check_memory", "state_bytes"]


@attrs.frozen
class TopologyContext:
    """What a topology's `build` receives."""

    params: Any
    n_agents: int
    rng: np.random.Generator
    config: Config
    base_dir: Path | None = None


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def check_memory(need: int, max_fraction: float, what: str) -> None:
    """Refuse `what` when its `need` bytes exceed `max_fraction` of the memory available now. It
    runs twice: before the build for the state's own arrays, then before the first step for what a
    step adds on its kernel's path (docs/performance.md, "Memory")."""
    avail = available_memory()
    if need > max_fraction * avail:
        raise ResourceError(
            f"{what} needs about {_gib(need)} of memory, but only {_gib(avail)} is available and "
            f"run.max_memory_fraction = {max_fraction} allows {_gib(max_fraction * avail)}; reduce the agents or tasks"
        )


def state_bytes(n: int, k: int, family: str) -> int:
    """Bytes of a state of n agents x k tasks before it is built: capabilities, and logits or atoms
    (von Mises profiles are two numbers per agent), plus per-agent arrays. Refuses sizes below one."""
    if n < 1 or k < 1:
        raise ConfigError(f"a system needs at least one agent and one task, got {n} agents and {k} tasks")
    return 8 * n * ((1 if family == "vonmises" else 2) * k + 8)


class _Checked:
    """Turns a Setup's optional arrays into float64 arrays of the right shape, naming what is wrong."""

    def __init__(self, where: str):
        self.where = where

    def __call__(self, value, shape, name, default):
        if value is None:
            return default
        a = np.array(value, dtype=np.float64)
        if a.shape != shape:
            raise ConfigError(f"{self.where}: {name} must have shape {shape}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ConfigError(f"{self.where}: {name} must be finite")
        return a


def _demand(setup: Setup, n: int, where: str) -> np.ndarray:
    D = np.asarray(setup.demand, dtype=np.float64)
    D = D[None, :] if D.ndim == 1 else D
    if D.ndim != 2 or D.shape[0] not in (1, n) or D.shape[1] < 1:
        raise ConfigError(f"{where}: demand must be K or (1 or N={n}) x K, got shape {D.shape}")
    if not np.all(np.isfinite(D)):
        raise ConfigError(f"{where}: demand must be finite")
    return D


def _topology(setup: Setup, bound: Bound | None, n: int, config: Config, seed, base_dir, where: str) -> Topology:
    topo = setup.topology
    if topo is None:
        assert bound is not None, "a Setup without a topology needs the configured topology bound"
        ctx = TopologyContext(bound.params, n, np.random.Generator(np.random.PCG64(seed)), config, base_dir)
        topo = call_plugin(bound.plugin, f"topology '{bound.name}' (build)", bound.spec.build, ctx)
        if not isinstance(topo, Topology):
            raise PluginError(f"plugin '{bound.plugin}': topology '{bound.name}' build() must return a Topology")
    if topo.n != n:
        raise ConfigError(f"topology '{topo.name}' has {topo.n} nodes but {where} has {n} agents")
    return topo


def _check_rules(config: Config, family: Family, mode: Bound, costs, where: str) -> None:
    """The rules that tie components together (each names the keys involved)."""
    if mode.spec.families and family.name not in mode.spec.families:
        raise ConfigError(
            f"mode '{mode.name}' works with profile families {list(mode.spec.families)}, "
            f"but profile.family is '{family.name}'"
        )
    if mode.spec.signed_resources and config.budget.kind != "none":
        raise ConfigError(f"mode '{mode.name}' has signed resources (activations); budget.kind must be 'none'")
    if family.name == "signed" and config.penalty.specialisation:
        raise ConfigError("penalty.specialisation needs a non-negative profile family (entropy), not 'signed'")
    if config.disperse.rate * config.run.dt > 1:
        raise ConfigError(
            f"disperse.rate * run.dt must be <= 1 (an agent cannot send more than it has), got "
            f"{config.disperse.rate * config.run.dt}"
        )
    if config.budget.kind == "price" and costs is None:
        raise ConfigError(f"budget.kind = 'price' needs agent costs, and {where} gives none")


def _profile(setup: Setup, family: Family, config: Config, n: int, k: int, seed, checked: _Checked) -> dict:
    if setup.profile is None:
        make = family.homogeneous if config.init.kind == "homogeneous" else family.random
        return make(n, k, config.init, config.profile, np.random.Generator(np.random.PCG64(seed)))
    shapes = family.shapes(n, k)
    if set(setup.profile) != set(shapes):
        raise ConfigError(
            f"{checked.where}: profile family '{family.name}' takes parameters {sorted(shapes)}, "
            f"got {sorted(setup.profile)}"
        )
    return family.constrain({p: checked(setup.profile[p], shapes[p], f"profile['{p}']", None) for p in shapes})


def _budget_value(config: Config, w: np.ndarray, costs) -> float:
    b = config.budget
    if b.value is not None:
        return b.value
    if b.kind == "total":
        return float(w.sum())
    if b.kind == "per_agent":
        return float(w.max())
    return float(costs @ w)


def _declared_arrays(model: Model, state: State, components: Mapping[str, Bound], setup: Setup, where: str) -> dict:
    """Every array a signal, mode or demand process declares, from the Setup, its init or its fill."""
    extras = {}
    ctx = StepContext(model, state)
    n, k, rows = model.n_agents, model.n_tasks, model.demand_rows
    for kind in ("signal", "mode", "demand"):
        bound = components[kind]
        for spec in bound.spec.arrays:
            qname = f"{kind}.{spec.name}"
            shape = spec.resolve(n, k, rows)
            if qname in setup.extras:
                value = np.array(setup.extras[qname], dtype=spec.dtype)
                if value.shape != shape:
                    raise ConfigError(f"{where}: initial '{qname}' must have shape {shape}, got {value.shape}")
            elif spec.init is not None:
                init = call_plugin(bound.plugin, f"{kind} '{bound.name}' (init of '{spec.name}')", spec.init,
                                   ctx.component(kind))  # fmt: skip
                value = np.array(init, dtype=spec.dtype).reshape(shape)
            else:
                value = np.full(shape, spec.fill, dtype=spec.dtype)
            extras[qname] = value
    unknown = set(setup.extras) - set(extras)
    if unknown:
        raise ConfigError(
            f"{where}: initial value for undeclared array(s) {sorted(unknown)}; declared: {sorted(extras)}"
        )
    return extras


def assemble(
    config: Config,
    setup: Setup,
    components: Mapping[str, Bound],
    topology: Bound | None,
    *,
    scenario: str,
    base_dir: Path | None,
    topology_seed: np.random.SeedSequence,
    init_seed: np.random.SeedSequence,
) -> tuple[Model, State]:
    """The model and initial state a Setup describes, checked against the config and components
    (`components` holds the bound signal, mode and demand; `topology` the bound topology, used
    when the Setup brings no graph of its own)."""
    where = f"scenario '{scenario}'"
    checked = _Checked(where)
    n = int(setup.n_agents)
    D = _demand(setup, n, where)
    k = D.shape[1]
    x = checked(setup.task_positions, (k,), "task_positions", 2 * math.pi * np.arange(k) / k)
    sim_t = checked(setup.task_similarity, (k, k), "task_similarity", None)
    C = checked(setup.capability, (n, k), "capability", np.ones((n, k)))
    costs = checked(setup.costs, (n,), "costs", None)

    topo = _topology(setup, topology, n, config, topology_seed, base_dir, where)
    mixing = Mixing(config.mixing.name, config.mixing.gamma, topo, config.mixing.pool)
    family = make_family(config.profile, x)
    mode = components["mode"]
    _check_rules(config, family, mode, costs, where)

    prof = _profile(setup, family, config, n, k, init_seed, checked)
    w = checked(setup.resources, (n,), "resources", np.full(n, config.init.w))
    if not mode.spec.signed_resources and np.any(w < 0):
        raise ConfigError(f"{where}: resources must be non-negative for mode '{mode.name}'")

    model = Model(
        n_agents=n,
        n_tasks=k,
        demand_rows=D.shape[0],
        family=family,
        alpha=config.profile.alpha,
        dt=config.run.dt,
        topology=topo,
        mixing=mixing,
        task_positions=x,
        task_similarity=sim_t,
        costs=costs,
        config=config,
        signal=components["signal"],
        mode=mode,
        demand=components["demand"],
    )
    b = config.budget
    budget = _budget_value(config, w, costs) if b.kind != "none" else None
    model.budget_value = budget

    state = State(prof, w, C, D)
    state.extras = _declared_arrays(model, state, components, setup, where)
    if not mode.spec.signed_resources:
        from .budget import project

        state.w = project(state.w, b.kind, budget, costs, b.equality)
    return model, state
