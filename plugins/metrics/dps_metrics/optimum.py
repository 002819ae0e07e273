"""Reference optimum of the generic scenario (laws 1-2): the best integer split of the agents over
the demand peaks, each agent at its peak's centre, then polished by gradient ascent.

A run's gap to it says whether an optimiser stopped in a local optimum; it may be negative (the
polished split is a good reference, not a proven global optimum). Defined for the generic scenario
(its peak centres are in the simulation's setup info) with von Mises profiles of one breadth, equal
resources and capabilities, and mean-field mixing, where only how many agents sit at each peak
matters. Formulas in docs/metrics.md.
"""

from __future__ import annotations

import itertools
import math
import weakref
from typing import TYPE_CHECKING

import attrs
import numpy as np

import dps_core

if TYPE_CHECKING:  # the engine loads on first use: `dps --help` stays fast
    from dps_core import Simulation

__all__ = ["ReferenceOptimum", "reference_optimum", "split_count", "efficacy_of"]

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@attrs.frozen
class ReferenceOptimum:
    """The best split found, its efficacy with agents exactly at the centres, and after polishing."""

    split: tuple[int, ...]
    split_efficacy: float
    efficacy: float
    method: str  # 'exhaustive' or 'exchange'
    candidates: int  # splits evaluated


def split_count(agents: int, peaks: int) -> int:
    """Number of ways to put `agents` identical agents on `peaks` peaks: C(N + P - 1, P - 1)."""
    return math.comb(agents + peaks - 1, peaks - 1)


def _split_batches(n: int, p: int, batch: int = 100_000):
    """Every composition of n into p non-negative parts (stars and bars), in batches of rows."""
    if p == 1:
        yield np.array([[n]], dtype=np.int64)
        return
    combos = itertools.combinations(range(n + p - 1), p - 1)
    while True:
        flat = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, batch)), dtype=np.int64)
        if flat.size == 0:
            return
        bars = flat.reshape(-1, p - 1)
        edges = np.hstack([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), n + p - 1)])
        yield np.diff(edges, axis=1) - 1


def _all_splits(n: int, p: int) -> np.ndarray:
    """Every composition of n into p non-negative parts, one per row (small cases)."""
    return np.vstack(list(_split_batches(n, p)))


def total_demand(D: np.ndarray, n_agents: int) -> float:
    """Demand summed over nodes; a single global row counts once per node."""
    return float(np.abs(D).sum() * (n_agents if D.shape[0] == 1 else 1))


class _MeanField:
    """Utility of a split under mean-field mixing Z_i = (1 - g) Y_i + g c sum_j Y_j, with y_p the
    output of one agent at peak p: U(n) = sum_p n_p sum_k min((1 - g) y_pk + g c T_k, D_k), T = n Y_peaks."""

    def __init__(self, Yp: np.ndarray, D: np.ndarray, gamma: float, c: float):
        self.Yp, self.D, self.g, self.c = Yp, D[0], gamma, c

    def utility(self, splits: np.ndarray, chunk: int = 20000) -> np.ndarray:
        out = np.empty(len(splits))
        for a in range(0, len(splits), chunk):
            n = splits[a : a + chunk].astype(np.float64)
            T = self.g * self.c * (n @ self.Yp)  # what every node receives from the market
            own = (1.0 - self.g) * self.Yp  # P x K
            met = np.minimum(own[None, :, :] + T[:, None, :], self.D[None, None, :]).sum(axis=2)
            out[a : a + chunk] = (n * met).sum(axis=1)
        return out


def _exchange(model: _MeanField, start: np.ndarray) -> tuple[np.ndarray, int]:
    """Best-improvement single-agent moves (one agent from peak a to peak b) until none helps."""
    cur = start.copy()
    best = model.utility(cur[None])[0]
    evaluated = 1
    P = len(cur)
    while True:
        moves = [(a, b) for a in range(P) for b in range(P) if a != b and cur[a] > 0]
        cand = np.repeat(cur[None], len(moves), axis=0)
        for r, (a, b) in enumerate(moves):
            cand[r, a] -= 1
            cand[r, b] += 1
        u = model.utility(cand)
        evaluated += len(moves)
        r = int(np.argmax(u))
        if u[r] <= best * (1 + 1e-12):
            return cur, evaluated
        cur, best = cand[r], u[r]


def _proportional(n: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder split of n in proportion to the weights."""
    q = n * weights / weights.sum()
    out = np.floor(q).astype(np.int64)
    out[np.argsort(-(q - out), kind="stable")[: n - out.sum()]] += 1
    return out


def _check(sim: Simulation) -> None:
    cfg = sim.config
    st = sim.state
    if "centres" not in sim.setup_info:
        raise ValueError("a reference optimum needs the generic scenario (peak centres in the setup info)")
    if cfg.profile.family != "vonmises":
        raise ValueError(f"a reference optimum needs von Mises profiles, got profile.family = '{cfg.profile.family}'")
    if cfg.mixing.name != "mean_field":
        raise ValueError(f"a reference optimum needs mean-field mixing, got mixing '{cfg.mixing.name}'")
    for name, arr in (("w", st.w), ("kappa", st.profile["kappa"]), ("C", st.C)):
        if not np.allclose(arr, arr[:1], rtol=1e-12, atol=0.0):
            raise ValueError(f"a reference optimum needs every agent alike in {name}")


def efficacy_of(sim: Simulation) -> float:
    """U / total demand at the simulation's current state."""
    ctx = dps_core.StepContext(sim.model, sim.state)
    total = total_demand(sim.state.demand, sim.model.n_agents)
    return ctx.utility() / total if total > 0 else math.nan


def reference_optimum(
    sim: Simulation,
    *,
    max_splits: int = 1_000_000,
    polish_steps: int = 2000,
    polish_eta: float = 0.01,
    seed: int = 0,
) -> ReferenceOptimum:
    """The reference optimum of the generic scenario `sim` describes (its state is not touched).

    Every split of the N agents over the P peaks is evaluated exactly when there are at most
    `max_splits` of them; otherwise best-improvement single-agent exchanges start from the split
    proportional to the peak weights. The best split's agents are put at the peak centres (plus
    a perturbation of std 1e-3 from `seed`, which breaks the tie between identical agents) and
    polished by `polish_steps` steps of plain gradient ascent at learning rate `polish_eta`."""
    _check(sim)
    key = (max_splits, polish_steps, polish_eta, seed)
    per_sim = _CACHE.setdefault(sim.model, {})
    if key in per_sim:
        return per_sim[key]
    centres = np.asarray(sim.setup_info["centres"], dtype=np.float64)
    weights = np.asarray(sim.setup_info.get("weights") or np.ones(len(centres)), dtype=np.float64)
    n, p = sim.model.n_agents, len(centres)
    D = np.asarray(sim.state.demand, dtype=np.float64)

    # one agent's output at each centre, through the simulation's own production pipeline
    probe = sim.clone()
    rows = np.arange(n) % p
    probe.state.profile["mu"][:] = centres[rows]
    Yp = np.asarray(dps_core.StepContext(probe.model, probe.state).Y)[:p]
    mix = sim.model.mixing
    model = _MeanField(Yp, D if D.shape[0] == 1 else D[:1], mix.gamma, mix.c)
    total = total_demand(D, n)

    count = split_count(n, p)
    if count <= max_splits:
        best, top = None, -np.inf
        for splits in _split_batches(n, p):
            u = model.utility(splits)
            r = int(np.argmax(u))
            if u[r] > top:
                best, top = splits[r].copy(), u[r]
        method, evaluated = "exhaustive", count
    else:
        best, evaluated = _exchange(model, _proportional(n, weights))
        method = "exchange"
    split_eff = float(model.utility(best[None])[0] / total)

    # polish: plain gradient ascent from the split, on a fresh copy of the same system
    data = sim.config.to_dict()
    data["mode"] = {"name": "gradient", "eta": polish_eta}
    data["metrics"] = {"names": []}
    data["demand"] = {"name": "static"}
    polish = dps_core.Simulation.from_config(data)
    jitter = np.random.default_rng(seed).normal(0.0, 1e-3, n)
    polish.state.profile["mu"][:] = np.repeat(centres, best) + jitter
    polish.step(polish_steps)
    out = ReferenceOptimum(tuple(int(v) for v in best), split_eff, efficacy_of(polish), method, int(evaluated))
    per_sim[key] = out
    return out
