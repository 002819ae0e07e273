"""Coordination of the layers above the agents: production up, plans, asks down (docs/nesting.md).

Each round rebuilds every layer from the agents (a module's resource is its members' total, its
production their summed production), and from the top layer down lets each parent coordinate its
children as a small flat dps system (built-in gradient mode and coverage-type signal on a clique
of siblings), then apportions the parent's ask to the children in proportion to their planned
production. The upper layers keep no state between rounds, so a run stays reproducible and
resumable from the agents' state alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import dps_core

from .fit import fit_vonmises
from .hierarchy import Hierarchy, clique_blocks

__all__ = ["apportion", "coordinate", "layer_config"]


def apportion(rows: np.ndarray, Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Each child's ask: its row of the parent's ask (ask / b) times its share of the siblings'
    planned supply, rows * Y / Z with Z the siblings' mean plan (an equal split where Z = 0)."""
    safe = np.where(Z > 0, Z, 1.0)
    return np.where(Z > 0, rows * Y / safe, rows)


def layer_config(
    agent_config: Mapping[str, Any], dt: float, eta: float, noise: float = 0.0, seed: int = 0
) -> dict[str, Any]:
    """The config of a layer's coordination: the agents' signal and profile bounds, von Mises
    plans with fixed breadth, gradient ascent at `eta` with exploration `noise` (seeded by
    `seed`), siblings coupled by conservative mixing."""
    prof = dict(agent_config.get("profile") or {})
    return {
        "run": {"dt": dt, "seed": seed},
        "profile": {
            "family": "vonmises",
            "alpha": 1.0,
            "kappa_min": prof.get("kappa_min", 1e-3),
            "kappa_max": prof.get("kappa_max", 1e3),
            "kappa": prof.get("kappa", 1.0),
        },
        "signal": dict(agent_config.get("signal") or {"name": "coverage"}),
        "mixing": {"name": "conservative", "gamma": 1.0},
        "mode": {"name": "gradient", "eta": eta, "noise": noise},
    }


def coordinate(
    hierarchy: Hierarchy,
    Y: np.ndarray,
    w: np.ndarray,
    env: np.ndarray,
    x: np.ndarray,
    config: Mapping[str, Any],
    steps: int,
    eta: float,
    kappa_bounds: tuple[float, float],
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """The agents' demand rows after one round: the ask of each agent's module divided by the
    module's size. Y and w are the agents' production (N x K) and resources; env the environment's
    demand (K,); x the task angles; config the agents' config (as a dict) for the layers'.
    With exploration noise, layer L's random numbers come from the seed sequence (seed, L), so a
    round is a deterministic function of its arguments."""
    dt = float(config.get("run", {}).get("dt", 1.0))
    ask = np.asarray(env, dtype=np.float64)[None, :]  # the whole system's ask
    for layer in range(hierarchy.depth, 1, -1):
        layer_seed = int(np.random.SeedSequence([seed, layer]).generate_state(1)[0])
        cfg = layer_config(config, dt, eta, noise, layer_seed)
        b = hierarchy.group(layer)
        rows = ask[hierarchy.parents(layer)] / b
        A = hierarchy.aggregate(Y, layer)
        mu, kappa = fit_vonmises(A, x, *kappa_bounds)
        n = hierarchy.size(layer)
        sim = dps_core.Simulation.from_arrays(
            rows,
            profile={"mu": mu, "kappa": kappa},
            resources=hierarchy.aggregate(w, layer),
            topology=dps_core.Topology.from_scipy(clique_blocks(n // b, b), name="siblings"),
            task_positions=x,
            config=cfg,
            entry_points=False,
        )
        sim.step(steps)
        ctx = sim.context()
        ask = apportion(rows, ctx.Y, ctx.Z)
    return ask[hierarchy.parents(1)] / hierarchy.group(1)
