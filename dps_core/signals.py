"""Built-in signals: a local utility U(Z, D) and its gradient G = dU/dZ at every node.

- coverage:    U = sum min(Z, D); G is the gradient of the smoothed minimum
               D - tau*softplus((D - Z)/tau), i.e. G = sigmoid((D - Z)/tau)
- residual:    U = -1/2 sum (D - Z)^2, G = D - Z (sparse coding's reconstruction error)
- ces:         u_i = sum_k D_ik * (sum_k theta_ik (Z_ik/D_ik)^rho)^(1/rho), theta = D/sum D;
               rho = 0 is Cobb-Douglas, rho = -inf is Leontief (min_k Z/D), rho = 1 linear
- price:       G = p, prices with memory that follow excess demand (tatonnement); U = coverage
- interaction: G = D - B Z with an explicit agent-by-agent matrix B = self_interaction*I + A (the topology's
               weights): Lotka-Volterra-type competition; U = sum D.Z - 1/2 Z.(B Z)
"""

from __future__ import annotations

import math
from typing import Literal

import attrs
import numpy as np

from . import params as P
from .records import ArraySpec, SignalSpec

__all__ = ["SIGNALS"]


def _demand_scale(D: np.ndarray) -> float:
    pos = D[D > 0]
    return float(pos.mean()) if pos.size else 1.0


# --- coverage --------------------------------------------------------------------------------------


@attrs.frozen
class CoverageParams:
    smoothing: float = P.param(
        0.02,
        doc="width tau of the smoothed minimum, relative to the mean positive demand (0: exact min, subgradient)",
        validator=P.non_negative,
    )


def _tau(ctx) -> float:
    return ctx.params.smoothing * _demand_scale(ctx.D)


def coverage_gradient(ctx):
    tau = _tau(ctx)
    diff = ctx.D - ctx.Z
    if tau == 0:
        return (diff > 0) + 0.5 * (diff == 0)
    diff /= tau
    from scipy.special import expit  # imported where used: `dps --help` stays fast

    return expit(diff, out=diff)


def coverage_utility(ctx):
    return float(np.minimum(ctx.Z, ctx.D).sum())


def coverage_smoothed(ctx):
    tau = _tau(ctx)
    if tau == 0:
        return coverage_utility(ctx)
    D = np.broadcast_to(ctx.D, ctx.Z.shape)
    return float((D - tau * np.logaddexp(0.0, (D - ctx.Z) / tau)).sum())


# --- residual --------------------------------------------------------------------------------------


def residual_gradient(ctx):
    return ctx.D - ctx.Z


def residual_utility(ctx):
    R = ctx.D - ctx.Z
    return -0.5 * float((R * R).sum())


# --- CES with its Leontief limit -------------------------------------------------------------------


@attrs.frozen
class CESParams:
    rho: float = P.param(
        0.5,
        doc="substitution parameter rho = (sigma-1)/sigma: 1 linear, 0 Cobb-Douglas, -inf Leontief",
        validator=P.in_range(None, 1.0),
    )
    floor: float = P.param(1e-12, doc="supply floor that keeps Z^rho finite", validator=P.positive)


def _ces_parts(ctx):
    D = np.broadcast_to(ctx.D, ctx.Z.shape)
    Z = np.maximum(ctx.Z, ctx.params.floor)
    has = D > 0
    dtot = D.sum(axis=1)
    theta = np.divide(D, dtot[:, None], out=np.zeros_like(Z), where=dtot[:, None] > 0)
    r = np.divide(Z, D, out=np.ones_like(Z), where=has)
    return D, has, dtot, theta, r


def _ces(ctx):
    """(u per node, G) for the CES utility, computed stably by scaling r with its min or max."""
    rho = ctx.params.rho
    D, has, dtot, theta, r = _ces_parts(ctx)
    G = np.zeros_like(r)
    if rho == -math.inf:
        rm = np.where(has, r, np.inf).min(axis=1)
        rm = np.where(np.isfinite(rm), rm, 0.0)
        at_min = has & (r == rm[:, None])
        G = np.divide(at_min * dtot[:, None], D * at_min.sum(axis=1, keepdims=True), out=G, where=at_min)
        return dtot * rm, G
    if rho == 0:
        logr = np.where(has, np.log(r), 0.0)
        u = dtot * np.exp((theta * logr).sum(axis=1))
        G = np.divide(u[:, None] * theta, r * D, out=G, where=has)
        return u, G
    rr = np.where(has, r, np.nan)
    s = np.nanmin(rr, axis=1) if rho < 0 else np.nanmax(rr, axis=1)
    s = np.where(np.isfinite(s), s, 1.0)
    q = np.where(has, r / s[:, None], 1.0)
    m = (theta * np.where(has, q**rho, 0.0)).sum(axis=1)
    m = np.where(m > 0, m, 1.0)
    u = np.where(dtot > 0, dtot * s * m ** (1.0 / rho), 0.0)
    G = np.where(has, m[:, None] ** (1.0 / rho - 1.0) * q ** (rho - 1.0), 0.0)
    return u, G


def ces_gradient(ctx):
    return _ces(ctx)[1]


def ces_utility(ctx):
    return float(_ces(ctx)[0].sum())


# --- tatonnement price with memory -----------------------------------------------------------------


@attrs.frozen
class PriceParams:
    rate: float = P.param(0.1, doc="price adjustment speed eta", unit="1/time", validator=P.non_negative)
    rule: Literal["multiplicative", "additive"] = P.param(
        "multiplicative",
        doc="p <- p*exp(eta*dt*(D-Z)/scale) or p <- max(p_min, p + eta*dt*(D-Z)/scale); scale = mean positive demand",
    )
    p_min: float = P.param(1e-9, doc="price floor", validator=P.positive)


def price_gradient(ctx):
    return ctx.arrays["price"]


def price_advance(ctx):
    prm = ctx.params
    excess = (ctx.D - ctx.Z) / _demand_scale(ctx.D)
    p = ctx.arrays["price"]
    if prm.rule == "multiplicative":
        new = p * np.exp(prm.rate * ctx.dt * excess)
    else:
        new = p + prm.rate * ctx.dt * excess
    return {"price": np.maximum(new, prm.p_min)}


# --- explicit interaction matrix (Lotka-Volterra type) ---------------------------------------------


@attrs.frozen
class InteractionParams:
    self_interaction: float = P.param(1.0, doc="diagonal coefficient B_ii (self-limitation)")
    use_topology: bool = P.param(
        True, doc="off-diagonal B_ij from the topology's edge weights (false: B = self_interaction*I)"
    )


def _interaction_matrix(ctx):
    import scipy.sparse as sp  # imported where used: `dps --help` stays fast

    key = ("interaction", ctx.params)
    cache = ctx.model.cache
    if key not in cache:
        n = ctx.n_agents
        topo = ctx.model.topology
        B = ctx.params.self_interaction * sp.identity(n, format="csr")
        if ctx.params.use_topology:
            if topo.kind == "complete":
                B = None  # handled in closed form
            else:
                B = sp.csr_matrix(B + topo.matrix())
        cache[key] = B
    return cache[key]


def _apply_B(ctx, Z):
    B = _interaction_matrix(ctx)
    if B is None:  # self*I + (1 1^T - I)
        return (ctx.params.self_interaction - 1.0) * Z + Z.sum(axis=0, keepdims=True)
    return B @ Z


def interaction_gradient(ctx):
    return ctx.D - _apply_B(ctx, ctx.Z)


def interaction_utility(ctx):
    Z = ctx.Z
    return float((np.broadcast_to(ctx.D, Z.shape) * Z).sum() - 0.5 * (Z * _apply_B(ctx, Z)).sum())


SIGNALS = (
    SignalSpec(
        "coverage",
        coverage_gradient,
        coverage_utility,
        CoverageParams,
        smoothed_utility=coverage_smoothed,
        doc="demand met, sum min(Z, D), with a smoothed minimum for its gradient",
    ),
    SignalSpec(
        "residual", residual_gradient, residual_utility, doc="-1/2 squared residual D - Z (reconstruction error)"
    ),
    SignalSpec(
        "ces",
        ces_gradient,
        ces_utility,
        CESParams,
        doc="CES aggregate of supply relative to demand; Leontief at rho = -inf",
    ),
    SignalSpec(
        "price",
        price_gradient,
        coverage_utility,
        PriceParams,
        arrays=(
            ArraySpec(
                "price",
                ("agents", "tasks"),
                fill=1.0,
                doc="price of each good at each node (a scenario may set initial prices)",
            ),
        ),
        advance=price_advance,
        doc="prices with memory following excess demand (tatonnement); U = demand met",
    ),
    SignalSpec(
        "interaction",
        interaction_gradient,
        interaction_utility,
        InteractionParams,
        doc="G = D - B Z with B = self_interaction*I + topology weights (Lotka-Volterra competition)",
    ),
)
