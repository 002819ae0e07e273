"""The metrics plugin's hooks: one MetricSpec per measurement (formulas in docs/metrics.md)."""

from __future__ import annotations

import weakref
from typing import Literal

import attrs
import numpy as np

from dps_core import MetricSpec, hookimpl, params

from . import diversity as dv
from . import spatial as spt
from .optimum import reference_optimum, total_demand
from .robustness import robustness

# arrays several metrics need, computed once per evaluation: one context is one state
_DERIVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _derived(ctx, key: str, make):
    values = _DERIVED.setdefault(ctx, {})
    if key not in values:
        values[key] = make()
    return values[key]


def _distributions(ctx) -> np.ndarray:
    """The profiles as distributions over tasks (shared by every metric of one evaluation: read only)."""
    return _derived(ctx, "P", lambda: dv.profiles_as_distributions(ctx.S, signed=ctx.model.family.name == "signed"))


def _row_entropy(ctx) -> np.ndarray:
    return _derived(ctx, "H", lambda: dv.entropy(_distributions(ctx)))


def _ring_kappa(ctx, value: float | None) -> float | None:
    """The kernel concentration: the given one, else the profile family's initial kappa for von
    Mises profiles (the breadth of one agent), else None (no kernel)."""
    if value is not None:
        return value
    cfg = ctx.model.config.profile
    return cfg.kappa if cfg.family == "vonmises" else None


# --- specialisation ------------------------------------------------------------------------------------


def _specialisation(ctx):
    return dv.specialisation(_distributions(ctx), _row_entropy(ctx))


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
    info = dv.mutual_information(P, dv.abundances(ctx.w), _row_entropy(ctx))
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
    kappa = _ring_kappa(ctx, prm.kernel_kappa)
    if kappa is None:  # free or signed profiles: one agent can take any shape, so no breadth says what a mode is
        return float("nan")
    return dv.demand_modes(ctx.D, prm.q, ring_kappa=kappa)


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


# --- spatial scale on the communication graph (law 3) ------------------------------------------------

CORR_DISTANCES = (1, 2, 3, 4, 5, 6, 7, 8)


def _sources_param():
    return params.param(
        32,
        doc="source agents sampled for breadth-first search (every agent when N is not larger: exact)",
        validator=params.at_least(1),
    )


def _seed_param():
    return params.param(0, doc="seed of the source sample (its own stream)", validator=params.non_negative)


@attrs.frozen
class CorrelationParams:
    sources: int = _sources_param()
    seed: int = _seed_param()
    max_distance: int = params.param(
        32, doc="largest graph distance at which C(d) is estimated", validator=params.at_least(1)
    )


@attrs.frozen
class LocalHeterogeneityParams:
    sources: int = _sources_param()
    seed: int = _seed_param()
    share: float = params.param(
        0.9, doc="share of the global Hill number the local one must reach", validator=params.in_range(0, 1)
    )
    max_radius: int = params.param(16, doc="largest ball radius tried", validator=params.at_least(1))


@attrs.frozen
class SelfSufficiencyParams:
    sources: int = _sources_param()
    seed: int = _seed_param()
    tolerance: float = params.param(
        0.1,
        doc="a ball is self-sufficient when its demand met is within this fraction of the whole graph's",
        validator=params.in_range(0, 1),
    )
    max_radius: int = params.param(16, doc="largest ball radius tried", validator=params.at_least(1))


@attrs.frozen
class ReachParams:
    sources: int = _sources_param()
    seed: int = _seed_param()


def _roots(ctx) -> np.ndarray:
    return np.sqrt(_distributions(ctx))


def _spatial_correlation(ctx):
    prm: CorrelationParams = ctx.params
    sd = spt.source_distances(ctx.model.topology, prm.sources, prm.seed)
    C, se, _ = spt.similarity_by_distance(_roots(ctx), sd, max(prm.max_distance, max(CORR_DISTANCES)))
    out = {f"corr_d{d}": float(C[d]) for d in CORR_DISTANCES}
    out["corr_se_d1"] = float(se[1])
    out["correlation_length"] = spt.correlation_length(C[: prm.max_distance + 1])
    return out


def _local_heterogeneity(ctx):
    prm: LocalHeterogeneityParams = ctx.params
    sd = spt.source_distances(ctx.model.topology, prm.sources, prm.seed)
    radius, ratios = spt.local_heterogeneity(_roots(ctx), dv.abundances(ctx.w), sd, prm.share, prm.max_radius)
    return {"heterogeneity_radius": radius, "local_hill_ratio_r1": float(ratios[1])}


def _self_sufficiency(ctx):
    prm: SelfSufficiencyParams = ctx.params
    sd = spt.source_distances(ctx.model.topology, prm.sources, prm.seed)
    radius, met = spt.self_sufficiency(ctx.Y, np.abs(ctx.D), sd, prm.tolerance, prm.max_radius)
    return {"self_sufficiency_radius": radius, "local_met_r0": float(met[0])}


def _reach(ctx):
    prm: ReachParams = ctx.params
    mean, se = spt.mean_path_length(spt.source_distances(ctx.model.topology, prm.sources, prm.seed))
    return {"mean_path": mean, "mean_path_se": se}


# --- gap to the reference optimum of the generic scenario (laws 1-2) ---------------------------------


@attrs.frozen
class OptimumGapParams:
    max_splits: int = params.param(
        1_000_000,
        doc="evaluate every split of agents over peaks when there are at most this many, else single-agent exchanges",
        validator=params.at_least(1),
    )
    polish_steps: int = params.param(
        2000, doc="gradient-ascent steps polishing the best split", validator=params.non_negative
    )
    polish_eta: float = params.param(0.01, doc="learning rate of the polish", validator=params.positive)


def _optimum_gap(ctx):
    prm: OptimumGapParams = ctx.params
    ref = reference_optimum(
        ctx.simulation, max_splits=prm.max_splits, polish_steps=prm.polish_steps, polish_eta=prm.polish_eta
    )
    here = _efficacy_here(ctx)
    return {"reference_efficacy": ref.efficacy, "efficacy_gap": (ref.efficacy - here) / ref.efficacy}


def _efficacy_here(ctx) -> float:
    total = total_demand(ctx.D, ctx.n_agents)
    return ctx.utility() / total if total > 0 else float("nan")


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
    MetricSpec(
        "spatial_correlation",
        _spatial_correlation,
        params=CorrelationParams,
        outputs=(*(f"corr_d{d}" for d in CORR_DISTANCES), "corr_se_d1", "correlation_length"),
        doc="C(d): mean profile overlap of agents at graph distance d minus the all-pairs mean; where |C| falls to |C(1)|/e",
    ),
    MetricSpec(
        "local_heterogeneity",
        _local_heterogeneity,
        params=LocalHeterogeneityParams,
        outputs=("heterogeneity_radius", "local_hill_ratio_r1"),
        doc="graph radius whose balls hold a share (0.9) of the global Hill number (q = 1), and the ratio at radius 1",
    ),
    MetricSpec(
        "self_sufficiency",
        _self_sufficiency,
        params=SelfSufficiencyParams,
        outputs=("self_sufficiency_radius", "local_met_r0"),
        doc="graph radius whose balls meet their own demand nearly as well as the whole graph, and one agent's share",
    ),
    MetricSpec(
        "reach",
        _reach,
        params=ReachParams,
        outputs=("mean_path", "mean_path_se"),
        doc="the topology's reach: mean shortest path (hops) over reachable pairs, with its sampling error",
    ),
    MetricSpec(
        "optimum_gap",
        _optimum_gap,
        params=OptimumGapParams,
        outputs=("reference_efficacy", "efficacy_gap"),
        doc="generic scenario: efficacy of the reference optimum (best split of agents over peaks, polished) and the relative gap to it",
    ),
)


@hookimpl
def dps_register_metrics(register):
    for spec in METRICS:
        register(spec)
