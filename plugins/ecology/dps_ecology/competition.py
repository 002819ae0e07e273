"""Lotka-Volterra competition with an explicit interaction matrix, and its closed forms.

dN_i/dt = r_i N_i (1 - sum_j alpha_ij N_j / K_i), i.e. dN_i/dt = N_i (r_i - sum_j beta_ij N_j)
with beta_ij = r_i alpha_ij / K_i. In dps: species are agents (biomass w = N), one task, the
growth rates are the demand rows (D_i = r_i), the core's `interaction` signal gives
G_i = r_i - sum_j beta_ij N_j with beta as the topology's weights (self-interaction on the
diagonal), mixing is the identity (`shared`, gamma = 0), and the core's `replicator` mode is the
Lotka-Volterra equation. Any alpha is reachable, so coexistence, exclusion and bistability are.
"""

from __future__ import annotations

import attrs
import numpy as np

import dps_core
from dps_core import ScenarioSpec, Setup, params

__all__ = ["LVParams", "LOTKA_VOLTERRA", "two_species_equilibrium", "two_species_outcome", "lv_equilibrium"]


@attrs.frozen
class LVParams:
    growth: tuple[float, ...] = params.param((1.0, 1.0), doc="intrinsic growth rates r_i", unit="1/time")
    capacity: tuple[float, ...] = params.param((1.0, 1.0), doc="carrying capacities K_i", unit="biomass")
    alpha: tuple[tuple[float, ...], ...] = params.param(
        ((1.0, 0.5), (0.5, 1.0)), doc="competition coefficients alpha_ij (effect of j on i); alpha_ii usually 1"
    )
    initial: tuple[float, ...] = params.param(
        (), doc="initial biomass of each species (default 0.1 K_i)", unit="biomass"
    )

    def __attrs_post_init__(self):
        n = len(self.growth)
        if n < 1 or any(not r > 0 for r in self.growth):
            raise ValueError("growth rates must be positive")
        if len(self.capacity) != n or any(not k > 0 for k in self.capacity):
            raise ValueError(f"capacity must hold {n} positive carrying capacities (one per species)")
        if len(self.alpha) != n or any(len(row) != n for row in self.alpha):
            raise ValueError(f"alpha must be a {n} x {n} matrix (species x species)")
        if any(a < 0 for row in self.alpha for a in row):
            raise ValueError(
                "alpha must be non-negative: this scenario models competition (facilitation would be negative)"
            )
        if self.initial and (len(self.initial) != n or any(x < 0 for x in self.initial)):
            raise ValueError(f"initial must hold {n} non-negative biomasses")


def beta(prm: LVParams) -> np.ndarray:
    """beta_ij = r_i alpha_ij / K_i."""
    r, K, a = np.asarray(prm.growth), np.asarray(prm.capacity), np.asarray(prm.alpha, dtype=float)
    return r[:, None] * a / K[:, None]


def two_species_equilibrium(K1, K2, a12, a21) -> tuple[float, float]:
    """The interior equilibrium N1* = (K1 - a12 K2)/(1 - a12 a21), N2* = (K2 - a21 K1)/(1 - a12 a21)."""
    den = 1.0 - a12 * a21
    return (K1 - a12 * K2) / den, (K2 - a21 * K1) / den


def two_species_outcome(K1, K2, a12, a21) -> str:
    """'coexistence' (a12 < K1/K2 and a21 < K2/K1), '1 wins', '2 wins' or 'bistable'
    (a12 > K1/K2 and a21 > K2/K1: the winner depends on where the system starts)."""
    one_invades = a12 < K1 / K2  # species 1 can grow when 2 is at its capacity
    two_invades = a21 < K2 / K1
    if one_invades and two_invades:
        return "coexistence"
    if one_invades:
        return "1 wins"
    if two_invades:
        return "2 wins"
    return "bistable"


def lv_equilibrium(r: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The interior equilibrium of dN/dt = N (r - B N): B N = r."""
    return np.linalg.solve(B, r)


def _size(p: LVParams) -> tuple[int, int]:
    return len(p.growth), 1


def _build(ctx) -> Setup:
    p: LVParams = ctx.params
    n = len(p.growth)
    K = np.asarray(p.capacity, dtype=float)
    N0 = np.asarray(p.initial, dtype=float) if p.initial else 0.1 * K
    topo = dps_core.Topology.from_scipy(beta(p), name="interaction", params={"alpha": [list(r) for r in p.alpha]})
    return Setup(
        demand=np.asarray(p.growth, dtype=float)[:, None],
        n_agents=n,
        resources=N0,
        topology=topo,
        agent_labels=tuple(f"species {i}" for i in range(n)),
        task_labels=("space",),
    )


def _lv_summary(sim) -> dict[str, str]:
    """Each species' density, and the interior equilibrium B N = r it is compared with."""
    labels = sim.agent_labels or tuple(f"species {i}" for i in range(sim.model.n_agents))
    out = {"densities": ", ".join(f"{a} {v:.4g}" for a, v in zip(labels, sim.state.w, strict=True))}
    p: LVParams = params.build(LVParams, sim.config.scenario.params, "scenario")
    try:
        eq = lv_equilibrium(np.asarray(p.growth, dtype=float), beta(p))
        out["interior equilibrium"] = ", ".join(f"{v:.4g}" for v in eq)
    except np.linalg.LinAlgError:
        out["interior equilibrium"] = "none (singular interaction matrix)"
    return out


LOTKA_VOLTERRA = ScenarioSpec(
    "lotka_volterra",
    _build,
    _size,
    LVParams,
    defaults={
        "run": {"steps": 20000, "dt": 0.01, "record_every": 200, "tolerance": 1e-10},
        "profile": {"family": "free"},
        "mixing": {"name": "shared", "gamma": 0.0},
        "signal": {"name": "interaction", "self_interaction": 0.0},
        "mode": {"name": "replicator", "eta": 0.0, "upkeep": 0.0},
        "metrics": {"names": ["biomass", "richness", "hill"], "hill": {"similarity": "none"}},
        "archive": {"snapshots": ["w"]},
    },
    doc="Lotka-Volterra competition with an explicit interaction matrix (coexistence, exclusion, bistability)",
    summary=_lv_summary,
)
