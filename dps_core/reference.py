"""The reference kernel: one step of the canonical model in NumPy/SciPy.

It is the oracle the compiled kernel is tested against and the fallback where no compiler ran,
and it runs every plugin-defined mode and signal. One step, from a state and this step's draws:

1. produce Y, gather Z = M Y, signal G, scatter H (lazily, through the StepContext)
2. the mode's update (new profile parameters, resources, the mode's own arrays)
3. profile constraints, budget projection of w (unless the mode's resources are signed)
4. learning by doing (C), dispersal (w), the signal's own arrays (prices)

Every array is written to a new buffer (double-buffered): the update reads only the old state.
"""

from __future__ import annotations

import numpy as np

from .budget import project
from .context import StepContext
from .errors import PluginError
from .model import Model
from .state import State

__all__ = ["step", "step_bytes"]


def nan_max(values) -> float:
    """The largest value, NaN as soon as any is NaN (a non-finite step must reach the engine)."""
    m = 0.0
    for d in values:
        if d != d:
            return d
        m = d if d > m else m
    return m


def _abs_diff_max(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| through one temporary (a fresh large array costs its page faults)."""
    d = np.subtract(a, b)
    return float(np.max(np.abs(d, out=d)))


def _max_change(new: dict, old: dict) -> float:
    return nan_max(
        _abs_diff_max(arr, old[name]) if arr.size else 0.0 for name, arr in new.items() if arr is not old[name]
    )


# N x K arrays a reference step holds at its peak beyond the built model, per profile family, and
# doubles per agent: measured with benchmarks/bench_memory.py (gradient mode, coverage or residual)
STEP_ARRAYS = {"signed": 7, "free": 8, "vonmises": 9}
STEP_PER_AGENT = 16


def step_bytes(model: Model, state: State) -> int:
    """Bytes a reference step adds to the built model at its peak: its NumPy temporaries and the new
    state. The memory check before the first step counts this (docs/performance.md, "Memory")."""
    return 8 * model.n_agents * (STEP_ARRAYS[model.family.name] * model.n_tasks + STEP_PER_AGENT)


def step(model: Model, state: State, draws: dict) -> tuple[State, float]:
    """Advance one step; return the new state and the largest change of any array per unit time."""
    ctx = StepContext(model, state, kind="mode")
    ctx.draws = draws
    mode = model.mode
    out = mode.spec.update(ctx)
    own = {k for k in state.extras if k.startswith("mode.")}
    allowed = {"w", *state.profile, *(k.split(".", 1)[1] for k in own)}
    if not isinstance(out, dict) or not set(out) <= allowed:
        bad = sorted(set(out) - allowed) if isinstance(out, dict) else type(out).__name__
        raise PluginError(
            f"plugin '{mode.plugin}', mode '{mode.name}': update() returned {bad}; it may return only {sorted(allowed)}"
        )

    profile = {name: np.array(out.get(name, state.profile[name]), dtype=np.float64) for name in state.profile}
    profile = model.family.constrain(profile)
    w = np.asarray(out.get("w", state.w), dtype=np.float64)
    if not mode.spec.signed_resources:
        b = model.config.budget
        w = project(w, b.kind, model.budget_value, model.costs, b.equality)
    C = model.learn(state.C, ctx.S, state.w)
    w = model.disperse(w)

    extras = dict(state.extras)
    for name in own:
        short = name.split(".", 1)[1]
        if short in out:
            extras[name] = np.asarray(out[short], dtype=state.extras[name].dtype)
    if model.signal.spec.advance is not None:
        for short, value in model.signal.spec.advance(ctx.component("signal")).items():
            extras[f"signal.{short}"] = np.asarray(value, dtype=np.float64)

    new = State(profile, w, C, state.demand, extras, state.step + 1, state.time + model.dt)
    change = _max_change(new.arrays(), state.arrays()) / model.dt
    return new, change
