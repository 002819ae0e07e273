"""The metrics plugin's hooks: one MetricSpec per measurement (formulas in docs/metrics.md)."""

from __future__ import annotations

from typing import Literal

import attrs
import numpy as np

from dps_core import MetricSpec, hookimpl, params

from . import diversity as dv
from .robustness import robustness


def _distributions(ctx) -> np.ndarray:
    return dv.profiles_as_distributions(ctx.S, signed=ctx.model.family.name == "signed")


def _ring_kappa(ctx, value: float | None) -> float | None:
    """The kernel concentration: the given one, else the profile family's initial kappa for von
    Mises profiles (the breadth of one agent), else None (no kernel)."""
    if value is not None:
        return value
    cfg = ctx.model.config.profile
    return cfg.kappa if cfg.family == "vonmises" else None


# --- specialisation ------------------------------------------------------------------------------------


def _specialisation(ctx):
    return dv.specialisation(_distributions(ctx))


# --- heterogeneity: Hill numbers ---------------------------------------------------------------------


@attrs.frozen
class HillParams:
    similarity: Literal["bhattacharyya", "task_kernel", "none"] = params.param(
        "bhattacharyya",
        doc="agent similarity: Bhattacharyya overlap of profiles, the same through a task kernel, or none (classic Hill numbers)",
    )
    kernel_kappa: float | None = params.param(
        None,
        doc="task_kernel only: concentration of the ring kernel (absent: the scenario's task similarity, else the profile kappa)",
        validator=params.positive,
    )
    abundance: Literal["resources", "equal"] = params.param("resources", doc="abundance of an agent: |w_i| or equal")


def _task_kernel(ctx, prm: HillParams) -> np.ndarray:
    if prm.kernel_kappa is None and ctx.model.task_similarity is not None:
        return ctx.model.task_similarity
    kappa = _ring_kappa(ctx, prm.kernel_kappa)
    if kappa is None:
        raise ValueError(
            "similarity 'task_kernel' needs kernel_kappa, a scenario task similarity, or von Mises profiles"
        )
    row = dv.ring_kernel_row(ctx.n_tasks, kappa)
    idx = (np.arange(ctx.n_tasks)[None, :] - np.arange(ctx.n_tasks)[:, None]) % ctx.n_tasks
    return row[idx]


def _hill(ctx):
    prm: HillParams = ctx.params
    P = _distributions(ctx)
    p = dv.abundances(ctx.w) if prm.abundance == "resources" else np.full(ctx.n_agents, 1.0 / ctx.n_agents)
    if prm.similarity == "none":
        Zp = p
    elif prm.similarity == "bhattacharyya":
        R, _ = dv.bhattacharyya_profiles(P)
        Zp = dv.similarity_times(p, R)
    else:
        T = _task_kernel(ctx, prm)
        R, scale = dv.bhattacharyya_profiles(P, T)
        Zp = dv.similarity_times(p, R, scale, T)
    h = dv.hill_numbers(p, Zp, (0.0, 1.0, 2.0))
    return {"hill_q0": h[0.0], "hill_q1": h[1.0], "hill_q2": h[2.0]}


# --- roles: mutual information ------------------------------------------------------------------------


def _mutual_information(ctx):
    P = _distributions(ctx)
    info = dv.mutual_information(P, dv.abundances(ctx.w))
    return {"mutual_information": info, "effective_roles": float(np.exp(info))}


# --- demand modes ------------------------------------------------------------------------------------


@attrs.frozen
class DemandModesParams:
    q: float = params.param(1.0, doc="order of the Hill number", validator=params.non_negative)
    kernel_kappa: float | None = params.param(
        None,
        doc="concentration of the ring kernel that makes nearby tasks one mode (absent: the scenario's task similarity, else the profile kappa, else none)",
        validator=params.positive,
    )


def _demand_modes(ctx):
    prm: DemandModesParams = ctx.params
    if prm.kernel_kappa is None and ctx.model.task_similarity is not None:
        return dv.demand_modes(ctx.D, prm.q, Z=ctx.model.task_similarity)
    return dv.demand_modes(ctx.D, prm.q, ring_kappa=_ring_kappa(ctx, prm.kernel_kappa))


# --- robustness ----------------------------------------------------------------------------------------


@attrs.frozen
class RobustnessParams:
    fraction: float = params.param(0.1, doc="fraction of agents removed", validator=params.in_range(0, 1, hi_open=True))
    trials: int = params.param(3, doc="random removals averaged", validator=params.at_least(1))
    steps: int = params.param(20, doc="re-adaptation steps of the survivors (0: none)", validator=params.non_negative)
    seed: int = params.param(
        0, doc="seed of the removals (its own stream; the run's is untouched)", validator=params.non_negative
    )


def _robustness(ctx):
    prm: RobustnessParams = ctx.params
    return robustness(ctx.simulation, ctx, prm.fraction, prm.trials, prm.steps, prm.seed)


METRICS = (
    MetricSpec("specialisation", _specialisation, doc="1 - mean_i H(s_i) / log K"),
    MetricSpec(
        "hill",
        _hill,
        outputs=("hill_q0", "hill_q1", "hill_q2"),
        params=HillParams,
        doc="heterogeneity: Leinster-Cobbold similarity-sensitive Hill numbers of orders 0, 1, 2 over agents",
    ),
    MetricSpec(
        "mutual_information",
        _mutual_information,
        outputs=("mutual_information", "effective_roles"),
        doc="I(agent; task) in nats and exp(I), the effective number of roles",
    ),
    MetricSpec(
        "demand_modes",
        _demand_modes,
        params=DemandModesParams,
        doc="effective number of demand modes (Hill number of the demand over tasks, similarity-sensitive)",
    ),
    MetricSpec(
        "robustness",
        _robustness,
        params=RobustnessParams,
        outputs=("robust_random", "robust_targeted", "robust_random_adapted", "robust_targeted_adapted"),
        doc="productivity kept after removing agents at random or by contribution, without and with re-adaptation",
    ),
)


@hookimpl
def dps_register_metrics(register):
    for spec in METRICS:
        register(spec)
