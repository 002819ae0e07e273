"""Consumer-resource communities: MacArthur's model, Tilman's biodiversity-productivity
experiment, adaptive radiation, and a metacommunity on a graph (spatial insurance).

All four use the `ecology.resources` signal and the core's `replicator` mode with per-species
mortality (`mode.upkeep`); consumers are agents, resources are tasks, the resource supply is the
demand. The reduction of MacArthur's model to Lotka-Volterra competition and the Loreau-Hector
partition of a mixture's yield are here too.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

import dps_core
from dps_core import ConfigError, ScenarioSpec, Setup, params

__all__ = [
    "ConsumerResourceParams",
    "CONSUMER_RESOURCE",
    "macarthur_to_lotka_volterra",
    "BiodiversityParams",
    "BIODIVERSITY",
    "expected_productivity",
    "RadiationParams",
    "RADIATION",
    "homogeneous_productivity",
    "MetacommunityParams",
    "METACOMMUNITY",
    "loreau_hector",
    "pianka_overlap",
]

_BASE = {
    "profile": {"family": "free"},
    "topology": {"name": "complete"},
    "mixing": {"name": "mean_field", "gamma": 0.0},
    "signal": {"name": "ecology.resources"},
    "mode": {"name": "replicator", "eta": 0.0},
}


# --- MacArthur's consumer-resource model --------------------------------------------------------------


@attrs.frozen
class ConsumerResourceParams:
    consumption: tuple[tuple[float, ...], ...] = params.param(
        ((1.0, 0.2), (0.3, 0.9), (0.6, 0.6)),
        unit="1/(biomass time)",
        doc="c_ik: uptake rate of resource k by consumer i (consumers x resources)",
    )
    mortality: tuple[float, ...] = params.param((0.3, 0.3, 0.3), doc="m_i of each consumer", unit="1/time")
    capacity: tuple[float, ...] = params.param(
        (1.0, 1.0), doc="carrying capacity K_k of each resource (logistic supply)"
    )
    initial: float = params.param(0.05, doc="initial biomass of every consumer", validator=params.positive)

    def __attrs_post_init__(self):
        c = self.consumption
        if not c or any(len(row) != len(c[0]) for row in c):
            raise ValueError("consumption must be a consumers x resources table with rows of equal length")
        if any(x < 0 for row in c for x in row) or any(sum(row) <= 0 for row in c):
            raise ValueError("consumption rates must be non-negative, each consumer eating something")
        if len(self.mortality) != len(c) or any(m < 0 for m in self.mortality):
            raise ValueError(f"mortality must hold {len(c)} non-negative rates (one per consumer)")
        if len(self.capacity) != len(c[0]) or any(k <= 0 for k in self.capacity):
            raise ValueError(f"capacity must hold {len(c[0])} positive capacities (one per resource)")


def _niche_setup(c: np.ndarray, n_agents: int, demand: np.ndarray, w0, **kw) -> Setup:
    """Consumption rates c as a niche profile s = c / sum_k c and a total rate C = sum_k c."""
    total = c.sum(axis=1, keepdims=True)
    profile = {"logits": np.log(np.maximum(c / total, 1e-300))}
    return Setup(
        demand=demand,
        n_agents=n_agents,
        profile=profile,
        capability=np.broadcast_to(total, c.shape).copy(),
        resources=np.broadcast_to(np.asarray(w0, dtype=float), (n_agents,)).copy(),
        **kw,
    )


def _cr_build(ctx) -> Setup:
    p: ConsumerResourceParams = ctx.params
    c = np.asarray(p.consumption, dtype=float)
    n, k = c.shape
    return _niche_setup(
        c,
        n,
        np.asarray(p.capacity, dtype=float)[None, :],
        p.initial,
        extras={"mode.upkeep": np.asarray(p.mortality, dtype=float)},
        agent_labels=tuple(f"consumer {i}" for i in range(n)),
        task_labels=tuple(f"resource {j}" for j in range(k)),
    )


def macarthur_to_lotka_volterra(c: np.ndarray, m: np.ndarray, K: np.ndarray, r: float, e: float = 1.0):
    """MacArthur (1970): with resources at their quasi-equilibrium R_k = K_k (1 - sum_i c_ik N_i / r),
    consumers follow Lotka-Volterra competition dN_i/dt = N_i (r'_i - sum_j beta_ij N_j) with
    r'_i = e sum_k c_ik K_k - m_i and beta_ij = e sum_k c_ik c_jk K_k / r. Returns (r', beta)."""
    return e * c @ K - m, e * (c * K[None, :]) @ c.T / r


def pianka_overlap(c: np.ndarray) -> np.ndarray:
    """Pianka's (1973) niche overlap O_ij = sum_k c_ik c_jk / sqrt(sum_k c_ik^2 sum_k c_jk^2)."""
    norm = np.sqrt((c * c).sum(axis=1))
    return (c @ c.T) / np.outer(norm, norm)


def _cr_summary(sim) -> dict[str, str]:
    """Surviving consumers and their densities, and the niche overlap among them."""
    labels = sim.agent_labels or tuple(f"consumer {i}" for i in range(sim.model.n_agents))
    w = np.abs(sim.state.w)
    alive = np.flatnonzero(w > 1e-4 * w.sum()) if w.sum() > 0 else np.array([], dtype=int)
    c = np.asarray(sim.state.C) * sim.S  # consumption rates c_ik back from capability x profile
    overlap = pianka_overlap(c[alive])
    pairs = [
        f"{labels[a]}/{labels[b]} {overlap[i, j]:.3f}"
        for i, a in enumerate(alive)
        for j, b in enumerate(alive)
        if i < j
    ]
    return {
        "survivors": ", ".join(f"{labels[i]} {w[i]:.4g}" for i in alive) or "none",
        "niche overlap (Pianka) of survivors": ", ".join(pairs) or "n/a (fewer than two survivors)",
    }


CONSUMER_RESOURCE = ScenarioSpec(
    "consumer_resource",
    _cr_build,
    lambda p: (len(p.consumption), len(p.consumption[0])),
    ConsumerResourceParams,
    defaults={
        **_BASE,
        "run": {"steps": 40000, "dt": 0.01, "record_every": 500, "tolerance": 1e-10},
        "signal": {"name": "ecology.resources", "supply": "logistic", "growth": 1.0},
        "metrics": {"names": ["productivity", "biomass", "richness", "hill"]},
        "archive": {"snapshots": ["w", "signal.R"]},
    },
    doc="MacArthur consumers on logistically renewing resources (reduces to Lotka-Volterra)",
    summary=_cr_summary,
)


# --- Tilman's biodiversity-productivity experiment ------------------------------------------------------


@attrs.frozen
class BiodiversityParams:
    richness: tuple[int, ...] = params.param((1, 2, 4, 8, 16), doc="species per community, one set of plots per value")
    plots: int = params.param(40, doc="communities (plots) per richness level", validator=params.at_least(1))
    rstar_low: float = params.param(1.0, doc="smallest R* in the species pool", validator=params.positive)
    rstar_high: float = params.param(9.0, doc="largest R* in the species pool", validator=params.positive)
    inflow: float = params.param(20.0, doc="resource supply rate I of every plot", validator=params.positive)
    uptake: float = params.param(0.2, doc="uptake rate c of every species", validator=params.positive)

    def __attrs_post_init__(self):
        if not self.richness or any(s < 1 for s in self.richness):
            raise ValueError("richness must list positive numbers of species")
        if not self.rstar_low < self.rstar_high:
            raise ValueError("need rstar_low < rstar_high")


def expected_productivity(S: int, inflow: float, loss: float, lo: float, hi: float, conversion: float = 1.0) -> float:
    """Tilman, Lehman & Thomson (1997), sampling effect: a plot of S species drawn with R* uniform
    on [lo, hi] is taken over by its lowest R* (R* rule, Tilman 1982), which draws the resource to
    R*_min; productivity e (I - l R*_min) has expectation e (I - l (lo + (hi - lo)/(S + 1)))."""
    return conversion * (inflow - loss * (lo + (hi - lo) / (S + 1)))


def _bd_build(ctx) -> Setup:
    p: BiodiversityParams = ctx.params
    loss = ctx.config.signal.params.get("loss", 1.0)
    e = ctx.config.signal.params.get("conversion", 1.0)
    if p.inflow - loss * p.rstar_high < 0:
        raise ConfigError(
            "config key 'scenario.inflow' must be at least loss * rstar_high: every species must be able to persist alone"
        )
    patches, rstar = [], []
    for plot, S in enumerate(s for s in p.richness for _ in range(p.plots)):
        patches += [plot] * S
        rstar += list(ctx.rng.uniform(p.rstar_low, p.rstar_high, S))
    rstar = np.asarray(rstar)
    n = len(rstar)
    c = np.full((n, 1), p.uptake)
    setup = _niche_setup(
        c,
        n,
        np.full((1, 1), p.inflow),
        p.inflow / (10 * p.uptake * p.rstar_low * max(p.richness)),
        extras={
            "mode.upkeep": e * p.uptake * rstar,  # m_i = e c R*_i
            "signal.patch": np.asarray(patches, dtype=np.int64),
            "signal.R": np.full((n, 1), p.inflow / loss),
        },
        task_labels=("resource",),
    )
    setup.info = {"richness": [int(s) for s in p.richness for _ in range(p.plots)], "rstar": rstar.tolist()}
    return setup


def _bd_size(p: BiodiversityParams) -> tuple[int, int]:
    return int(sum(p.richness) * p.plots), 1


def _bd_summary(sim) -> dict[str, str]:
    """Mean plot productivity e (I - l R) by richness, beside Tilman's sampling-effect expectation."""
    prm: BiodiversityParams = params.build(BiodiversityParams, sim.config.scenario.params, "scenario")
    loss = sim.config.signal.params.get("loss", 1.0)
    e = sim.config.signal.params.get("conversion", 1.0)
    rich = np.asarray(sim.setup_info["richness"])
    R = np.zeros(len(rich))
    R[sim.state.extras["signal.patch"]] = sim.state.extras["signal.R"][:, 0]
    prod = e * (prm.inflow - loss * R)
    parts = []
    for S in prm.richness:
        got = prod[rich == S].mean()
        want = expected_productivity(S, prm.inflow, loss, prm.rstar_low, prm.rstar_high, e)
        parts.append(f"{S}: {got:.3g} (expected {want:.3g})")
    return {"productivity by richness": ", ".join(parts)}


BIODIVERSITY = ScenarioSpec(
    "biodiversity",
    _bd_build,
    _bd_size,
    BiodiversityParams,
    defaults={
        **_BASE,
        "run": {"steps": 6000, "dt": 0.05, "record_every": 500},
        "signal": {"name": "ecology.resources", "supply": "chemostat", "loss": 1.0},
        "metrics": {"names": ["productivity", "biomass", "richness"]},
        "archive": {"snapshots": ["w", "signal.R"]},
    },
    doc="Tilman's experiment: plots of 1, 2, 4, ... species drawn from a pool, one limiting resource",
    summary=_bd_summary,
)


# --- adaptive radiation ----------------------------------------------------------------------------------


@attrs.frozen
class RadiationParams:
    consumers: int = params.param(
        40, doc="consumer lineages (all descend from one ancestor)", validator=params.at_least(2)
    )
    resources: int = params.param(64, doc="resources on the niche axis (a ring)", validator=params.at_least(3))
    niches: int = params.param(4, doc="resource peaks (niches) on the axis", validator=params.at_least(1))
    niche_width: float = params.param(
        0.5, doc="width (std) of each resource peak", unit="rad", validator=params.positive
    )
    uptake: float = params.param(2.0, doc="total uptake rate of a consumer", validator=params.positive)
    mortality: float = params.param(
        0.3, doc="mortality of every consumer", unit="1/time", validator=params.non_negative
    )
    capacity: float = params.param(1.0, doc="mean carrying capacity per resource", validator=params.positive)


def _rad_build(ctx) -> Setup:
    from dps_core import peak_mixture, ring_positions

    p: RadiationParams = ctx.params
    x = ring_positions(p.resources)
    centres = [2 * math.pi * m / p.niches for m in range(p.niches)]
    cap = peak_mixture(x, centres, [p.niche_width] * p.niches, [1.0] * p.niches) * p.resources * p.capacity
    return Setup(
        demand=cap[None, :],
        n_agents=p.consumers,
        task_positions=x,
        capability=np.full((p.consumers, p.resources), p.uptake),
        resources=np.full(p.consumers, 0.05),
        extras={"mode.upkeep": np.full(p.consumers, p.mortality)},
        info={"niche_centres": centres},
    )


def homogeneous_productivity(
    capacity: np.ndarray, consumption: np.ndarray, growth: float, conversion: float, mortality: float
) -> float:
    """Equilibrium productivity of a population of identical consumers (one trait, any number of
    lineages: the replicator is linear in biomass, so they act as one consumer of total biomass N).
    With logistic resources R_k = K_k max(0, 1 - c_k N / r), N solves e sum_k c_k R_k(N) = m (the
    left side falls with N: bisection); productivity is e sum_k c_k R_k N = m N."""
    K, c = np.asarray(capacity, dtype=float), np.asarray(consumption, dtype=float)

    def growth_rate(N):
        return conversion * (c * K * np.maximum(0.0, 1.0 - c * N / growth)).sum() - mortality

    if growth_rate(0.0) <= 0:
        return 0.0
    lo, hi = 0.0, growth / c[c > 0].min()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if growth_rate(mid) > 0 else (lo, mid)
    return float(mortality * 0.5 * (lo + hi))


RADIATION = ScenarioSpec(
    "radiation",
    _rad_build,
    lambda p: (p.consumers, p.resources),
    RadiationParams,
    defaults={
        **_BASE,
        "run": {"steps": 20000, "dt": 0.05, "record_every": 500},
        "profile": {"family": "vonmises", "kappa": 8.0},
        "signal": {"name": "ecology.resources", "supply": "logistic", "growth": 1.0},
        "mode": {"name": "replicator", "eta": 5.0, "noise": 0.02},
        "init": {"kind": "homogeneous", "perturbation": 0.01, "mu": 0.3},
        "metrics": {"names": ["productivity", "biomass", "hill", "demand_modes"]},
        "archive": {"snapshots": ["w", "mu"]},
    },
    doc="one ancestor's descendants spread over a many-niche resource axis (trait evolution by selection)",
)


# --- metacommunity: spatial insurance ---------------------------------------------------------------------


@attrs.frozen
class MetacommunityParams:
    patches: int = params.param(10, doc="patches of the landscape", validator=params.at_least(2))
    species: int = params.param(
        10, doc="species, each present in every patch at the start", validator=params.at_least(2)
    )
    dispersal_graph: str = params.param("complete", doc="patches a disperser can reach: 'complete' or 'ring'")
    inflow: float = params.param(4.0, doc="resource inflow I of every patch", validator=params.positive)
    mortality: float = params.param(
        0.2, doc="mortality m of every species", unit="1/time", validator=params.non_negative
    )

    def __attrs_post_init__(self):
        if self.dispersal_graph not in ("complete", "ring"):
            raise ValueError(f"dispersal_graph must be 'complete' or 'ring', got {self.dispersal_graph!r}")


def dispersal_topology(patches: int, species: int, graph: str) -> dps_core.Topology:
    """Agent (species s, patch p) = s + species * p, linked to the same species in the patches a
    disperser reaches: every other patch, or the two neighbouring patches on a ring."""
    edges = []
    for p in range(patches):
        targets = (
            [q for q in range(patches) if q != p] if graph == "complete" else [(p - 1) % patches, (p + 1) % patches]
        )
        for q in set(targets) - {p}:
            for s in range(species):
                edges.append((s + species * p, s + species * q))
    return dps_core.Topology.from_edges(
        patches * species,
        np.array(edges),
        directed=True,
        name=f"dispersal_{graph}",
        params={"patches": patches, "species": species, "graph": graph},
    )


def _meta_build(ctx) -> Setup:
    p: MetacommunityParams = ctx.params
    n = p.patches * p.species
    species = np.tile(np.arange(p.species), p.patches)
    patch = np.repeat(np.arange(p.patches), p.species)
    optimum = species / (p.species - 1)  # H_i spread over [0, 1]
    phase = 2 * math.pi * patch / p.patches  # patches out of phase
    return Setup(
        demand=np.full((1, 1), p.inflow),
        n_agents=n,
        topology=dispersal_topology(p.patches, p.species, p.dispersal_graph),
        resources=np.full(n, 10.0),
        extras={
            "mode.upkeep": np.full(n, p.mortality),
            "signal.patch": patch,
            "signal.optimum": optimum,
            "signal.phase": phase,
        },
        agent_labels=tuple(f"species {s} @ patch {q}" for q, s in zip(patch, species, strict=False)),
        task_labels=("resource",),
    )


METACOMMUNITY = ScenarioSpec(
    "metacommunity",
    _meta_build,
    lambda p: (p.patches * p.species, 1),
    MetacommunityParams,
    defaults={
        **_BASE,
        "run": {"steps": 40000, "dt": 0.02, "record_every": 100},
        "mixing": {"name": "shared", "gamma": 0.0},
        "signal": {
            "name": "ecology.resources",
            "supply": "chemostat",
            "loss": 1.0,
            "conversion": 0.2,
            "environment": "cycle",
            "period": 200.0,
        },
        "disperse": {"rate": 0.01},
        "metrics": {"names": ["productivity", "biomass", "richness"]},
        "archive": {"snapshots": ["w"]},
    },
    doc="species in patches with cycling environments, dispersing along a graph (Loreau, Mouquet & Gonzalez 2003)",
)


# --- the Loreau-Hector partition ------------------------------------------------------------------------


def loreau_hector(monoculture: np.ndarray, mixture: np.ndarray, planted: np.ndarray) -> dict[str, float]:
    """Loreau & Hector (2001): net biodiversity effect dY = Y_O - sum_i p_i M_i splits exactly into
    complementarity N mean(dRY) mean(M) and selection N cov(dRY, M), with dRY_i = Y_i/M_i - p_i
    (covariance over species with divisor N). Also the relative yield total sum_i Y_i / M_i."""
    M, Y, p = (np.asarray(a, dtype=float) for a in (monoculture, mixture, planted))
    n = len(M)
    dRY = Y / M - p
    net = Y.sum() - (p * M).sum()
    comp = n * dRY.mean() * M.mean()
    sel = n * ((dRY - dRY.mean()) * (M - M.mean())).mean()
    return {
        "net": float(net),
        "complementarity": float(comp),
        "selection": float(sel),
        "relative_yield_total": float((Y / M).sum()),
    }
