"""Ricardian trade: countries (agents) with labour endowments and labour requirements per unit of
each good (tasks) allocate labour shares; a world market (mean-field mixing) pools supply; prices
follow excess demand (tatonnement) and demand comes from prices and incomes.

Mapping: w_i = labour L_i (fixed), C_ik = 1 / a_ik (units per hour), s_ik = labour share of good k,
Y_ik = L_i s_ik / a_ik, Z = world output per country, G = prices, mode = smoothed best response.
Also the two benchmarks the market is judged against: autarky, and the planner's optimum.
"""

from __future__ import annotations

import attrs
import numpy as np

import dps_core
from dps_core import ConfigError, ScenarioSpec, Setup, params

from .demand import consumer_demand

__all__ = ["RicardoParams", "RICARDO", "autarky", "world_output", "planner_optimum"]


@attrs.frozen
class RicardoParams:
    labour_requirements: tuple[tuple[float, ...], ...] = params.param(
        ((100.0, 120.0), (90.0, 80.0)),
        unit="hours per unit",
        doc="a_ik: labour needed for one unit of good k in country i (countries x goods); default Ricardo's "
        "England and Portugal, cloth and wine (Principles, 1817, ch. 7)",
    )
    labour: tuple[float, ...] = params.param(
        (),
        unit="hours",
        doc="labour endowment of each country (default: enough for one unit of every good, sum_k a_ik)",
    )
    countries: tuple[str, ...] = params.param((), doc="country names (default England, Portugal for the default table)")
    goods: tuple[str, ...] = params.param((), doc="good names (default cloth, wine for the default table)")

    def __attrs_post_init__(self):
        a = self.labour_requirements
        if not a or any(len(row) != len(a[0]) for row in a) or len(a[0]) < 2:
            raise ValueError(
                "labour_requirements must be a table of countries x goods with at least 2 goods and rows of equal length"
            )
        if any(not (x > 0 and np.isfinite(x)) for row in a for x in row):
            raise ValueError("labour_requirements must be positive and finite (hours per unit of a good)")
        if self.labour and (len(self.labour) != len(a) or any(not x > 0 for x in self.labour)):
            raise ValueError(f"labour must hold one positive endowment per country ({len(a)})")
        if self.countries and len(self.countries) != len(a):
            raise ValueError(f"countries must name all {len(a)} countries")
        if self.goods and len(self.goods) != len(a[0]):
            raise ValueError(f"goods must name all {len(a[0])} goods")

    @property
    def a(self) -> np.ndarray:
        return np.asarray(self.labour_requirements, dtype=np.float64)

    @property
    def L(self) -> np.ndarray:
        return np.asarray(self.labour, dtype=np.float64) if self.labour else self.a.sum(axis=1)


def world_output(a: np.ndarray, L: np.ndarray, s: np.ndarray) -> np.ndarray:
    """X_k = sum_i L_i s_ik / a_ik."""
    return (L[:, None] * s / a).sum(axis=0)


def autarky(a: np.ndarray, L: np.ndarray, b: np.ndarray) -> dict:
    """Each country alone with Cobb-Douglas shares b: labour shares s_ik = b_k, consumption
    x_ik = L_i b_k / a_ik, utility u_i = sum_k b_k log x_ik."""
    s = np.tile(b, (len(L), 1))
    x = L[:, None] * s / a
    return {"shares": s, "consumption": x, "utility": (b * np.log(x)).sum(axis=1), "world": x.sum(axis=0)}


def planner_optimum(
    a: np.ndarray, L: np.ndarray, b: np.ndarray, preferences: str = "cobb_douglas", sigma: float = 1.0
) -> dict:
    """The world planner's allocation: max U(X) over labour shares, X_k = sum_i L_i s_ik / a_ik,
    with U = sum_k b_k log X_k (Cobb-Douglas) or (sum_k b_k X_k^rho)^(1/rho) (CES) - a concave
    problem, solved independently of the market by SLSQP. Returns shares, outputs, the shadow
    prices dU/dX_k scaled to sum to one, and the utility."""
    n, k = a.shape
    rho = (sigma - 1.0) / sigma if preferences == "ces" else 0.0

    def unpack(v):
        return v.reshape(n, k)

    def utility_and_gradient(v):
        X = np.maximum(world_output(a, L, unpack(v)), 1e-300)
        if preferences == "cobb_douglas":
            u, dX = (b * np.log(X)).sum(), b / X
        else:  # maximise log U, which has the same optimum and a better scale
            m = (b * X**rho).sum()
            u, dX = np.log(m) / rho, b * X ** (rho - 1.0) / m
        return -u, -(dX[None, :] * L[:, None] / a).ravel()

    cons = [
        {"type": "eq", "fun": (lambda v, i=i: unpack(v)[i].sum() - 1.0), "jac": (lambda v, i=i: np.eye(n)[i].repeat(k))}
        for i in range(n)
    ]
    from scipy.optimize import minimize  # imported where used: `dps --help` stays fast

    res = minimize(
        utility_and_gradient,
        np.full(n * k, 1.0 / k),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * (n * k),
        constraints=cons,
        options={"ftol": 1e-15, "maxiter": 5000},
    )
    s = np.clip(unpack(res.x), 0.0, 1.0)
    s /= s.sum(axis=1, keepdims=True)
    X = world_output(a, L, s)
    shadow = b / X if preferences == "cobb_douglas" else b * X ** (rho - 1.0)
    return {"shares": s, "output": X, "prices": shadow / shadow.sum(), "success": bool(res.success)}


def _size(p: RicardoParams) -> tuple[int, int]:
    return len(p.labour_requirements), len(p.labour_requirements[0])


def _labels(p: RicardoParams):
    default = p.labour_requirements == RicardoParams().labour_requirements
    n, k = _size(p)
    countries = p.countries or (("England", "Portugal") if default else tuple(f"country {i}" for i in range(n)))
    goods = p.goods or (("cloth", "wine") if default else tuple(f"good {j}" for j in range(k)))
    return countries, goods


def _build(ctx) -> Setup:
    p: RicardoParams = ctx.params
    a, L = p.a, p.L
    n, k = a.shape
    dem = ctx.config.demand
    shares = dem.params.get("shares") or ()
    if shares and len(shares) != k:
        raise ConfigError(f"config key 'demand.shares' needs one value per good (K = {k}), got {len(shares)}")
    b = np.asarray(shares, dtype=np.float64) if shares else np.full(k, 1.0 / k)
    b = b / b.sum()
    # the demand at the start: equal labour shares, unit prices (the demand process takes over)
    Y0 = L[:, None] / k / a
    demand = consumer_demand(np.ones(k), float(Y0.sum()), b, "cobb_douglas", 1.0) / n
    countries, goods = _labels(p)
    return Setup(
        demand=demand[None, :],
        n_agents=n,
        capability=1.0 / a,
        resources=L,
        agent_labels=countries,
        task_labels=goods,
        info={"labour_requirements": a.tolist(), "labour": L.tolist(), "shares": b.tolist()},
    )


def _summary(sim) -> dict[str, str]:
    """Relative prices, world output of each good, and each country's labour shares."""
    goods = sim.task_labels or tuple(f"good {j}" for j in range(sim.model.n_tasks))
    countries = sim.agent_labels or tuple(f"country {i}" for i in range(sim.model.n_agents))
    price = sim.state.extras["signal.price"].mean(axis=0)
    price = price / price.sum()
    output = np.asarray(dps_core.StepContext(sim.model, sim.state).Y).sum(axis=0)
    S = sim.S
    shares = "; ".join(
        f"{c} " + ", ".join(f"{g} {S[i, j]:.2f}" for j, g in enumerate(goods)) for i, c in enumerate(countries)
    )
    return {
        "relative prices": ", ".join(f"{g} {v:.4g}" for g, v in zip(goods, price, strict=True)),
        "world output": ", ".join(f"{g} {v:.4g}" for g, v in zip(goods, output, strict=True)),
        "labour shares": shares,
    }


RICARDO = ScenarioSpec(
    "ricardo",
    _build,
    _size,
    RicardoParams,
    defaults={
        "run": {"steps": 4000, "dt": 0.1, "record_every": 100, "tolerance": 1e-7},
        "profile": {"family": "free"},
        "topology": {"name": "complete"},
        "mixing": {"name": "mean_field", "gamma": 1.0, "pool": "mean"},
        "signal": {"name": "price", "rate": 0.5},
        "mode": {"name": "tatonnement", "rate": 0.5, "beta": 40.0},
        "demand": {"name": "economics.consumers"},
        "metrics": {"names": ["welfare", "efficacy", "specialisation", "hill", "mutual_information"]},
        "archive": {"snapshots": ["S", "signal.price"]},
    },
    doc="Ricardian trade: countries x goods, labour requirements, a world market with tatonnement prices",
    summary=_summary,
)
