"""The division of labour: identical workers who get better at what they practise.

Workers (agents) split their time (free profiles s) over K tasks; learning by doing raises a
worker's capability in a task with practice, dC/dt = rate * s - forget * (C - 1), up to a cap
(Arrow 1962; Rosen 1983), so output s_k C_k(s_k) has increasing returns and specialists out-produce
generalists. Each worker's household demands every good; goods are rival and reach the neighbours
on the graph (conservative mixing): the graph is the extent of the market (Smith 1776, ch. 3).

Also the steady state of a homogeneous population (every worker the same split), the benchmark
the divided labour is judged against.
"""

from __future__ import annotations

import attrs
import numpy as np

from dps_core import ScenarioSpec, Setup, params

__all__ = ["DivisionParams", "DIVISION", "steady_capability", "best_homogeneous_efficacy"]


@attrs.frozen
class DivisionParams:
    workers: int = params.param(60, doc="number of workers N", validator=params.at_least(2))
    tasks: int = params.param(4, doc="number of tasks (goods) K", validator=params.at_least(2))
    demand: float = params.param(
        1.2, doc="each household's demand for each good", unit="goods per time", validator=params.positive
    )


def steady_capability(s: np.ndarray, rate: float, forget: float, cap: float) -> np.ndarray:
    """The fixed point of dC/dt = rate * w * s - forget * (C - 1) with w = 1, capped."""
    return np.minimum(cap, 1.0 + rate * s / forget) if forget > 0 else np.full_like(s, cap)


def best_homogeneous_efficacy(
    K: int, demand: float, rate: float, forget: float, cap: float, starts: int = 60, seed: int = 0
) -> tuple[float, np.ndarray]:
    """Best demand met when every worker has the same split s (so every node sees the same supply
    s_k C_k(s_k)), at the learning steady state: max over the simplex of
    sum_k min(s_k C_k, demand) / (K demand), by multi-start SLSQP. Returns (efficacy, s)."""
    rng = np.random.default_rng(seed)

    def neg(s):
        y = s * steady_capability(s, rate, forget, cap)
        return -np.minimum(y, demand).sum() / (K * demand)

    best, best_s = -np.inf, None
    candidates = [np.full(K, 1.0 / K)] + [np.eye(K)[:m].sum(axis=0) / m for m in range(1, K + 1)]
    candidates += list(rng.dirichlet(np.ones(K), size=starts))
    for s0 in candidates:
        from scipy.optimize import minimize  # imported where used: `dps --help` stays fast

        res = minimize(
            neg,
            s0,
            method="SLSQP",
            bounds=[(0, 1)] * K,
            constraints=[{"type": "eq", "fun": lambda s: s.sum() - 1.0}],
            options={"ftol": 1e-12},
        )
        if res.success and -res.fun > best:
            best, best_s = -res.fun, res.x
    return float(best), best_s


def _size(p: DivisionParams) -> tuple[int, int]:
    return p.workers, p.tasks


def _build(ctx) -> Setup:
    p: DivisionParams = ctx.params
    return Setup(
        demand=np.full((1, p.tasks), p.demand),
        n_agents=p.workers,
        task_labels=tuple(f"task {k}" for k in range(p.tasks)),
    )


DIVISION = ScenarioSpec(
    "division_of_labour",
    _build,
    _size,
    DivisionParams,
    defaults={
        "run": {"steps": 3000, "dt": 0.2, "record_every": 100},
        "profile": {"family": "free"},
        "topology": {"name": "ring", "k": 4},
        "mixing": {"name": "conservative", "gamma": 0.8},
        "signal": {"name": "coverage", "smoothing": 0.05},
        "mode": {"name": "gradient", "eta": 1.0},
        "learn": {"rate": 0.5, "forget": 0.1, "max": 5.0},
        "metrics": {"names": ["efficacy", "specialisation", "hill", "mutual_information"]},
    },
    doc="identical workers with learning by doing on a graph (the extent of the market)",
)
