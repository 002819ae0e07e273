"""Built-in coordination modes: how agents update their profiles and resources each step.

- gradient:    projected ascent on J (profiles, and resources when eta_w > 0)
- selfish:     the same with each agent's own node's signal G instead of the scattered H
- replicator:  w_i grows with its revenue minus upkeep, dw/dt = w (dJ/dw - upkeep)
- lca:         leaky integration of a drive with soft or hard threshold (Rozell et al. 2008)
- imitation:   copy a better-paid random neighbour's profile (the homogenising force)
- tatonnement: smoothed (logit) best response of labour shares to prices (free profiles)

Random numbers are drawn by each mode's `draw` before the step (outside any kernel) from the
run's generator and read by `update`, so compiled and reference kernels see the same draws.
The engine applies budgets and profile constraints after every update.
"""

from __future__ import annotations

import math
from typing import Literal

import attrs
import numpy as np

from . import params as P
from .profiles import softmax_rows
from .records import ArraySpec, ModeSpec

__all__ = ["MODES"]


# exploration options shared by the ascent modes and the replicator (global search): they only scale
# the random draws made before each step, so every kernel applies them unchanged
def _noise():
    return P.param(0.0, doc="exploration noise on profile parameters, std per sqrt(time)", validator=P.non_negative)


def _anneal():
    return P.param(
        0.0,
        doc="annealing time: the noise falls linearly from `noise` at t = 0 to zero at t = anneal (0: constant noise)",
        unit="time",
        validator=P.non_negative,
    )


def _explore():
    return P.param(
        "uniform",
        doc="who explores: every agent alike, or agents in proportion to how poorly paid they are (1 - v_i / max v, v = dJ/dw)",
    )


@attrs.frozen
class AscentParams:
    eta: float = P.param(0.1, doc="learning rate of profile parameters (logits, mu, atoms)", validator=P.non_negative)
    eta_kappa: float = P.param(
        0.0, doc="learning rate of von Mises concentrations (0: fixed breadth)", validator=P.non_negative
    )
    eta_w: float = P.param(0.0, doc="learning rate of resources (0: resources fixed)", validator=P.non_negative)
    noise: float = _noise()
    anneal: float = _anneal()
    explore: Literal["uniform", "payoff"] = _explore()


@attrs.frozen
class ReplicatorParams:
    eta: float = P.param(0.0, doc="learning rate of profile parameters", validator=P.non_negative)
    eta_kappa: float = P.param(0.0, doc="learning rate of von Mises concentrations", validator=P.non_negative)
    upkeep: float = P.param(
        0.0,
        doc="per-capita upkeep (mortality) m in dw/dt = w (revenue - m), the same for every agent unless the scenario sets 'mode.upkeep' per agent",
        unit="1/time",
        validator=P.non_negative,
    )
    noise: float = _noise()
    anneal: float = _anneal()
    explore: Literal["uniform", "payoff"] = _explore()


@attrs.frozen
class LCAParams:
    tau: float = P.param(
        10.0, doc="membrane time constant; the update is stable for dt/tau <= 1", unit="time", validator=P.positive
    )
    threshold: float = P.param(0.1, doc="threshold lambda of the activation function", validator=P.non_negative)
    kind: Literal["soft", "hard"] = P.param("soft", doc="soft threshold (LASSO) or hard threshold (L0-like)")
    nonnegative: bool = P.param(False, doc="rectified activations (a >= 0)")
    eta: float = P.param(0.0, doc="dictionary learning rate of the atoms (0: fixed tuning)", validator=P.non_negative)


@attrs.frozen
class ImitationParams:
    rate: float = P.param(
        0.1, doc="imitation attempts per agent per unit time (rate*dt <= 1)", unit="1/time", validator=P.non_negative
    )
    temperature: float = P.param(
        0.0, doc="Fermi-rule temperature (0: copy only a strictly better neighbour)", validator=P.non_negative
    )
    noise: float = P.param(
        0.0, doc="mutation noise on profile parameters, std per sqrt(time)", validator=P.non_negative
    )


@attrs.frozen
class TatonnementParams:
    rate: float = P.param(
        0.5,
        doc="relaxation rate of labour shares toward the logit best response (rate*dt <= 1)",
        unit="1/time",
        validator=P.non_negative,
    )
    beta: float = P.param(
        10.0,
        doc="logit response sharpness to revenue per unit resource relative to the agent's best task (large: near best response)",
        validator=P.positive,
    )
    noise: float = P.param(0.0, doc="noise on logits, std per sqrt(time)", validator=P.non_negative)


# --- draws -----------------------------------------------------------------------------------------


def noise_factor(params, time: float) -> float:
    """The annealing schedule: 1 without annealing, else max(0, 1 - t / anneal) at the start of
    the step taken from time t."""
    anneal = getattr(params, "anneal", 0.0)
    return 1.0 if anneal == 0.0 else max(0.0, 1.0 - time / anneal)


def _noise_draw(ctx) -> dict:
    """Normals for exploration noise on the profile parameters that take noise, scaled by the
    annealing schedule here (outside any kernel), so every kernel applies noise * sqrt(dt) * draw
    unchanged. Once annealed to zero nothing is drawn."""
    factor: float | np.ndarray = noise_factor(ctx.params, ctx.time)
    if getattr(ctx.params, "noise", 0.0) == 0.0 or factor == 0.0:
        return {}
    fam = ctx.model.family
    name = "mu" if fam.name == "vonmises" else fam.params[0]
    xi = ctx.rng.standard_normal(ctx.profile[name].shape)
    if getattr(ctx.params, "explore", "uniform") == "payoff":
        factor = factor * _poorly_paid(ctx).reshape((-1,) + (1,) * (xi.ndim - 1))
    return {f"noise/{name}": xi if np.isscalar(factor) and factor == 1.0 else factor * xi}


def _poorly_paid(ctx) -> np.ndarray:
    """1 - v_i / max_j v_j with v = dJ/dw (the value of a unit of resource in agent i's hands),
    clipped to [0, 1]: 0 for the best-paid agent, 1 for one whose output is worth nothing
    (win-stay, lose-shift; Nowak & Sigmund 1993, Nature 364:56)."""
    _, v = ctx.gradients()
    v = np.maximum(np.asarray(v, dtype=np.float64), 0.0)
    top = v.max() if v.size else 0.0
    return np.clip(1.0 - v / top, 0.0, 1.0) if top > 0 else np.ones_like(v)


def _partner_draw(ctx) -> dict:
    """A random neighbour for each agent (itself if isolated), a uniform number, and noise."""
    n = ctx.n_agents
    topo = ctx.model.topology
    u = ctx.rng.random(n)
    pick = ctx.rng.random(n)
    if topo.kind == "complete":
        partner = (np.arange(n) + 1 + np.floor(pick * (n - 1)).astype(np.int64)) % max(n, 1)
    else:
        deg = np.diff(topo.indptr)
        has = deg > 0
        partner = np.arange(n, dtype=np.int64)
        partner[has] = topo.indices[(topo.indptr[:-1] + np.floor(pick * deg).astype(np.int64))[has]]
    out = {"partner": partner.astype(np.int64), "u": u}
    out.update(_noise_draw(ctx))
    return out


# --- updates -----------------------------------------------------------------------------------------


def _add_noise(ctx, new: dict) -> dict:
    for key, xi in ctx.draws.items():
        if key.startswith("noise/"):
            name = key.split("/", 1)[1]
            new[name] = new[name] + ctx.params.noise * math.sqrt(ctx.dt) * xi
    return new


def _ascend_profile(ctx, g: dict, eta: float, eta_kappa: float) -> dict:
    new = {}
    for name, value in ctx.profile.items():
        rate = eta_kappa if name == "kappa" else eta
        if rate:  # value + (dt rate) g, written into g (a fresh array): the same arithmetic
            step = g[name]
            step *= ctx.dt * rate
            new[name] = np.add(value, step, out=step)
        else:
            new[name] = value.copy()
    return _add_noise(ctx, new)


def _rates(ctx, eta: float, eta_kappa: float) -> list[str]:
    """The profile parameters that move (their gradients are needed)."""
    return [name for name in ctx.profile if (eta_kappa if name == "kappa" else eta)]


def gradient_update(ctx):
    p = ctx.params
    g, gw = ctx.gradients(names=_rates(ctx, p.eta, p.eta_kappa), resources=bool(p.eta_w))
    new = _ascend_profile(ctx, g, p.eta, p.eta_kappa)
    new["w"] = ctx.w + ctx.dt * p.eta_w * gw if p.eta_w else ctx.w.copy()
    return new


def replicator_update(ctx):
    p = ctx.params
    g, gw = ctx.gradients(names=_rates(ctx, p.eta, p.eta_kappa))
    new = _ascend_profile(ctx, g, p.eta, p.eta_kappa)
    new["w"] = ctx.w * (1.0 + ctx.dt * (gw - ctx.arrays["upkeep"]))
    return new


def _self_overlap(ctx, P_):
    """M_ii * ||C_i s_i^alpha||^2: how an agent's own output feeds back into its drive."""
    return ctx.model.mixing.diagonal() * (P_ * P_).sum(axis=1)


def lca_update(ctx):
    p = ctx.params
    S = ctx.S
    Sa = S if ctx.model.alpha == 1.0 else S**ctx.model.alpha
    P_ = ctx.C * Sa
    Hn = ctx.model.net_price(ctx.H)
    drive = (Hn * P_).sum(axis=1)
    u = ctx.arrays["u"]
    u_new = u + (ctx.dt / p.tau) * (-u + drive + _self_overlap(ctx, P_) * ctx.w)
    lam = p.threshold
    if p.kind == "soft":
        a = np.maximum(u_new - lam, 0.0) if p.nonnegative else np.sign(u_new) * np.maximum(np.abs(u_new) - lam, 0.0)
    else:
        a = np.where(u_new > lam, u_new, 0.0) if p.nonnegative else np.where(np.abs(u_new) > lam, u_new, 0.0)
    new = {"u": u_new, "w": a}
    if p.eta:  # tuning learns its shape (atoms, logits, centres); von Mises breadth stays fixed
        g, _ = ctx.gradients(names=[name for name in ctx.profile if name != "kappa"], resources=False)
        for name, value in ctx.profile.items():
            if name != "kappa":
                new[name] = value + ctx.dt * p.eta * g[name]
    return new


def imitation_update(ctx):
    p = ctx.params
    _, payoff = ctx.gradients(names=())  # value of one more unit of resource in each agent's hands
    j = ctx.draws["partner"]
    diff = payoff[j] - payoff
    if p.temperature == 0:
        prob = (diff > 0).astype(np.float64)
    else:
        from scipy.special import expit  # imported where used: `dps --help` stays fast

        prob = expit(diff / p.temperature)
    copy = ctx.draws["u"] < ctx.dt * p.rate * prob
    new = {name: np.where(copy.reshape((-1,) + (1,) * (v.ndim - 1)), v[j], v) for name, v in ctx.profile.items()}
    new["w"] = ctx.w.copy()
    return _add_noise(ctx, new)


def tatonnement_update(ctx):
    p = ctx.params
    v = ctx.model.net_price(ctx.H) * ctx.C
    top = np.abs(v).max(axis=1, keepdims=True)
    target = softmax_rows(p.beta * v / np.where(top > 0, top, 1.0))  # scale-free: only relative prices matter
    s = (1.0 - ctx.dt * p.rate) * ctx.S + ctx.dt * p.rate * target
    new = {"logits": np.log(np.maximum(s, 1e-300)), "w": ctx.w.copy()}
    return _add_noise(ctx, new)


MODES = (
    ModeSpec("gradient", gradient_update, AscentParams, draw=_noise_draw, doc="projected gradient ascent on J"),
    ModeSpec(
        "selfish",
        gradient_update,
        AscentParams,
        scatter=False,
        draw=_noise_draw,
        doc="gradient ascent on the own node's signal only (no scatter)",
    ),
    ModeSpec(
        "replicator",
        replicator_update,
        ReplicatorParams,
        draw=_noise_draw,
        arrays=(
            ArraySpec(
                "upkeep",
                ("agents",),
                init=lambda ctx: np.full(ctx.n_agents, ctx.params.upkeep),
                doc="per-agent upkeep (mortality); a scenario may set it per agent",
            ),
        ),
        doc="dw/dt = w (revenue - upkeep); profiles by gradient ascent",
    ),
    ModeSpec(
        "lca",
        lca_update,
        LCAParams,
        scatter=False,
        signed_resources=True,
        arrays=(ArraySpec("u", ("agents",), doc="membrane potential"),),
        doc="locally competitive algorithm: leaky integration and threshold; activations are w",
    ),
    ModeSpec(
        "imitation",
        imitation_update,
        ImitationParams,
        draw=_partner_draw,
        doc="copy the profile of a better-paid random neighbour",
    ),
    ModeSpec(
        "tatonnement",
        tatonnement_update,
        TatonnementParams,
        families=("free",),
        draw=_noise_draw,
        doc="labour shares relax toward the logit best response to prices",
    ),
)
