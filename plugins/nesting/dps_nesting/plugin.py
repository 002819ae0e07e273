"""The nesting plugin's hooks: the `nested` scenario, the `nesting.coordination` demand process,
the per-layer metrics `layer2` ... `layer8` and `system_efficacy`, and the archive group that
stores the hierarchy (docs/nesting.md)."""

from __future__ import annotations

import math
from typing import Literal

import attrs
import numpy as np
from dps_metrics import demand_modes

from dps_core import (
    ArchiveGroupSpec,
    ArraySpec,
    DemandSpec,
    MetricSpec,
    ScenarioSpec,
    Setup,
    Topology,
    hookimpl,
    params,
    peak_mixture,
    ring_positions,
)

from .coordination import coordinate
from .correlation import layer_correlation, layer_distances
from .fit import fit_vonmises
from .hierarchy import Hierarchy, clique_blocks
from .partition import between_modules, reeve_partition

MAX_LAYER = 8

# --- the scenario -------------------------------------------------------------------------------------


@attrs.frozen
class NestedParams:
    branching: tuple[int, ...] = params.param(
        (2, 3, 4),
        doc="units per module from the agents up: b_1 agents per layer-2 module, b_2 of those per layer-3 module, ...; the last is the number of top-layer units",
    )
    tasks: int = params.param(64, doc="number of tasks K on the ring", validator=params.in_range(2, None))
    peaks: int = params.param(5, doc="number of peaks of the environment's demand", validator=params.positive)
    width: float = params.param(0.3, doc="std of each demand peak", unit="rad", validator=params.positive)
    offset: float = params.param(0.0, doc="centre of the arc of peaks", unit="rad")
    spacing: float = params.param(
        1.0,
        doc="angle between neighbouring peaks (2 pi / peaks puts them evenly around the ring)",
        unit="rad",
        validator=params.positive,
    )
    floor: float = params.param(
        0.0, doc="fraction of demand spread uniformly over all tasks", validator=params.probability
    )

    def __attrs_post_init__(self):
        if not self.branching or any(b < 1 for b in self.branching):
            raise ValueError(f"branching must be one or more positive integers, got {list(self.branching)}")
        if len(self.branching) > MAX_LAYER:
            raise ValueError(f"branching has {len(self.branching)} layers; at most {MAX_LAYER} are supported")


def hierarchy_of(config) -> Hierarchy:
    """The hierarchy of a run of the `nested` scenario, from its config."""
    if config.scenario.name != "nested":
        raise ValueError(f"needs scenario 'nested' (the hierarchy is its branching), got '{config.scenario.name}'")
    prm = params.build(NestedParams, config.scenario.params, "scenario")
    return Hierarchy(prm.branching)


def _size(p: NestedParams) -> tuple[int, int]:
    return math.prod(p.branching), p.tasks


def _build(ctx) -> Setup:
    p: NestedParams = ctx.params
    h = Hierarchy(p.branching)
    x = ring_positions(p.tasks)
    centres = [p.offset + p.spacing * (m - (p.peaks - 1) / 2) for m in range(p.peaks)]
    env = peak_mixture(x, centres, [p.width] * p.peaks, [1.0] * p.peaks, p.floor) * h.n_agents * ctx.config.init.w
    topo = Topology.from_scipy(clique_blocks(h.n_agents // h.group(1), h.group(1)), name="modules")
    return Setup(
        demand=np.tile(env / h.n_agents, (h.n_agents, 1)),  # equal asks until coordination re-apportions them
        n_agents=h.n_agents,
        task_positions=x,
        topology=topo,
        info={**h.info(), "centres": centres, "width": p.width},
    )


NESTED = ScenarioSpec(
    "nested",
    _build,
    _size,
    NestedParams,
    defaults={
        "profile": {"family": "vonmises", "kappa": 8.0},
        "mixing": {"name": "conservative", "gamma": 1.0},
        "demand": {"name": "nesting.coordination"},
    },
    doc="agents in modules of modules (branching); the environment's demand is a ring of peaks; every layer-2 module a clique facing its ask",
)

# --- the coordination of the layers above --------------------------------------------------------------


@attrs.frozen
class CoordinationParams:
    asks: Literal["planned", "equal"] = params.param(
        "planned",
        doc="'planned': each parent apportions its ask by its children's coordinated plans; 'equal': every ask is split equally (the control without coordination)",
    )
    every: int = params.param(
        50, doc="agent steps per round of coordination (the slow time scale)", validator=params.positive
    )
    steps: int = params.param(20, doc="coordination steps of each layer per round", validator=params.non_negative)
    eta: float = params.param(0.1, doc="learning rate of the modules' planned centres", validator=params.non_negative)
    noise: float = params.param(
        0.0, doc="exploration noise of the planned centres, std per sqrt(time)", validator=params.non_negative
    )

    def check(self, config):
        hierarchy_of(config)
        if "." in config.signal.name:  # plugin signals are namespaced 'plugin.name'
            raise ValueError(
                f"the layers coordinate with the agents' signal, which must be one of the core's built-in signals; "
                f"'{config.signal.name}' is a plugin's"
            )


def _coordination(ctx):
    prm: CoordinationParams = ctx.params
    if prm.asks == "equal" or ctx.step == 0 or ctx.step % prm.every:
        return {}  # the agents first adapt to the equal asks; the organisation re-plans every `every` steps
    cfg = ctx.model.config
    asks = coordinate(
        hierarchy_of(cfg),
        ctx.Y,
        ctx.w,
        ctx.arrays["env"],
        ctx.model.task_positions,
        cfg.to_dict(),
        prm.steps,
        prm.eta,
        (cfg.profile.kappa_min, cfg.profile.kappa_max),
        prm.noise,
        int(np.random.SeedSequence([cfg.run.seed, ctx.step]).generate_state(1)[0]),
    )
    return {"D": asks}


COORDINATION = DemandSpec(
    "coordination",
    _coordination,
    CoordinationParams,
    arrays=(
        ArraySpec(
            "env",
            ("tasks",),
            doc="the environment's demand on the whole system (the sum of the agents' asks at the start)",
            init=lambda ctx: ctx.D.sum(axis=0),
        ),
    ),
    doc="every `every` steps the layers above coordinate their modules and re-apportion the asks (scenario 'nested')",
)

# --- metrics ------------------------------------------------------------------------------------------


@attrs.frozen
class LayerParams:
    q: float = params.param(1.0, doc="order of the Hill numbers and of the partition", validator=params.non_negative)
    sources: int = params.param(
        256,
        doc="modules sampled as sources of the distances of the correlation length (all when there are no more)",
        validator=params.positive,
    )


def _environment(ctx) -> np.ndarray:
    env = ctx.extras.get("demand.env")
    return env if env is not None else ctx.D.sum(axis=0)  # asks always sum to the environment's demand


def _layer_metric(layer: int):
    def compute(ctx):
        h = hierarchy_of(ctx.model.config)
        if layer > h.depth:
            raise ValueError(f"metric 'layer{layer}' needs at least {layer} layers; branching has {h.depth}")
        q = ctx.params.q
        Y, w = ctx.Y, np.abs(ctx.w)
        members = h.aggregate(Y, layer - 1)
        part = reeve_partition(members, h.aggregate(w, layer - 1), h.parents(layer - 1), q)
        modules = h.aggregate(Y, layer)
        cfg = ctx.model.config.profile
        _, kappa = fit_vonmises(modules, ctx.model.task_positions, cfg.kappa_min, cfg.kappa_max)
        sd, _ = layer_distances(ctx.model.topology, h, layer, ctx.params.sources)
        corr_length, corr_near = layer_correlation(modules, sd)
        return {
            f"layer{layer}_within": part["within"],
            f"layer{layer}_between": between_modules(modules, h.aggregate(w, layer), q),
            f"layer{layer}_beta": part["beta"],
            f"layer{layer}_gamma": part["gamma"],
            f"layer{layer}_demand_modes": demand_modes(_environment(ctx), q, ring_kappa=float(np.mean(kappa))),
            f"layer{layer}_corr_length": corr_length,
            f"layer{layer}_corr_near": corr_near,
        }

    return MetricSpec(
        f"layer{layer}",
        compute,
        outputs=tuple(
            f"layer{layer}_{m}"
            for m in ("within", "between", "beta", "gamma", "demand_modes", "corr_length", "corr_near")
        ),
        params=LayerParams,
        doc=f"heterogeneity at layer {layer} (scenario 'nested'): within modules, between module aggregates, Reeve beta and gamma, demand modes at the modules' breadth, correlation length of the modules and C(1)",
    )


def _system_efficacy(ctx):
    env = _environment(ctx)
    return float(np.minimum(ctx.Y.sum(axis=0), env).sum() / env.sum())


# --- archive ------------------------------------------------------------------------------------------


def _declare(group, sim):
    if sim.config.scenario.name != "nested":
        group.attrs["branching"] = "[]"
        return
    h = hierarchy_of(sim.config)
    group.attrs["branching"] = str(list(h.branching))
    for layer in range(1, h.depth + 1):
        group.create_dataset(f"parent_layer{layer}", data=h.parents(layer))


@hookimpl
def dps_register_scenarios(register):
    register(NESTED)


@hookimpl
def dps_register_demands(register):
    register(COORDINATION)


@hookimpl
def dps_register_metrics(register):
    for layer in range(2, MAX_LAYER + 1):
        register(_layer_metric(layer))
    register(
        MetricSpec(
            "system_efficacy",
            _system_efficacy,
            doc="the whole system's demand met: sum_k min(sum_i Y_ik, D_env,k) / sum D_env",
        )
    )


@hookimpl
def dps_register_archive_groups(register):
    register(
        ArchiveGroupSpec(
            "hierarchy",
            "1.0",
            _declare,
            doc="branching and, per layer, the index of every unit's module one layer up (scenario 'nested')",
        )
    )
