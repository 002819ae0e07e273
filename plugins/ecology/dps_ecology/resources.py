"""Consumers and their resources (MacArthur 1970; Tilman 1982; Loreau, Mouquet & Gonzalez 2003).

Consumers are agents (biomass w_i), resources are tasks. Consumer i takes resource k at rate
c_ik(t) = C_ik s_ik f_i(t) per unit of biomass and of resource (C the consumption rates, s the
niche profile, f an environmental factor), and grows with the converted uptake (the replicator
mode: dw_i/dt = w_i (e sum_k c_ik R_k - m_i)). Resources live in patches; each patch's levels
follow their supply, the demand row D of the patch's consumers (capacity or inflow):

- logistic (MacArthur):  dR_k/dt = r R_k (1 - R_k / D_k) - R_k sum_i c_ik w_i
- chemostat (Tilman; Loreau et al.): dR_k/dt = D_k - l R_k - R_k sum_i c_ik w_i

The environmental factor (Loreau et al. 2003): patch p's environment cycles,
E_p(t) = (sin(phase_p + 2 pi t / period) + 1) / 2, and a consumer with optimum H_i takes up
resources at f_i(t) = 1.5 - |H_i - E_p(t)| (1 at every time without an environment).

The signal G_ik = e f_i(t) R_k (what a unit of consumption is worth to consumer i). State kept as
declared arrays: R (one row per consumer, equal within a patch), the patch of each consumer, its
environmental optimum and its patch's phase.
"""

from __future__ import annotations

import math
from typing import Literal

import attrs
import numpy as np

from dps_core import ArraySpec, SignalSpec, params

__all__ = ["ResourceParams", "RESOURCES", "environment_factor"]


@attrs.frozen
class ResourceParams:
    supply: Literal["logistic", "chemostat"] = params.param(
        "logistic", doc="resource renewal: logistic growth to the capacity D, or a chemostat with inflow D"
    )
    growth: float = params.param(
        1.0, doc="logistic: intrinsic growth rate r of the resources", unit="1/time", validator=params.positive
    )
    loss: float = params.param(
        0.1, doc="chemostat: loss (outflow) rate l of the resources", unit="1/time", validator=params.non_negative
    )
    conversion: float = params.param(1.0, doc="e: biomass made from one unit of resource", validator=params.positive)
    environment: Literal["none", "cycle"] = params.param(
        "none", doc="uptake efficiency constant, or following a cycling patch environment (Loreau et al. 2003)"
    )
    period: float = params.param(
        40000.0, doc="cycle: period of the environmental fluctuation", unit="time", validator=params.positive
    )


def environment_factor(optimum: np.ndarray, phase: np.ndarray, t: float, period: float) -> np.ndarray:
    """f_i(t) = 1.5 - |H_i - E_p(t)| with E_p(t) = (sin(phase_p + 2 pi t / period) + 1) / 2."""
    E = 0.5 * (np.sin(phase + 2 * math.pi * t / period) + 1.0)
    return 1.5 - np.abs(optimum - E)


def _factor(ctx) -> np.ndarray:
    if ctx.params.environment == "none":
        return np.ones(ctx.n_agents)
    return environment_factor(ctx.arrays["optimum"], ctx.arrays["phase"], ctx.time, ctx.params.period)


def _gradient(ctx):
    return ctx.params.conversion * _factor(ctx)[:, None] * ctx.arrays["R"]


def _per_patch_uptake(ctx, f: np.ndarray) -> np.ndarray:
    """sum over the consumers of each agent's patch of c_ik w_i, one row per agent."""
    patch = ctx.arrays["patch"]
    uptake = ctx.Y * f[:, None]
    n_patches = int(patch.max()) + 1 if len(patch) else 0
    total = np.zeros((n_patches, ctx.n_tasks))
    np.add.at(total, patch, uptake)
    return total[patch]


def _advance(ctx):
    prm: ResourceParams = ctx.params
    R = ctx.arrays["R"]
    D = np.broadcast_to(ctx.D, R.shape)
    uptake = _per_patch_uptake(ctx, _factor(ctx))
    if prm.supply == "logistic":
        renewal = prm.growth * R * (1.0 - np.divide(R, D, out=np.zeros_like(R), where=D > 0))
    else:
        renewal = D - prm.loss * R
    return {"R": np.maximum(R + ctx.dt * (renewal - R * uptake), 0.0)}


def _utility(ctx):
    """Secondary productivity: biomass made per unit time, e sum_ik f_i R_k c_ik w_i."""
    return float((_gradient(ctx) * ctx.Y).sum())


RESOURCES = SignalSpec(
    "resources",
    _gradient,
    _utility,
    ResourceParams,
    arrays=(
        ArraySpec(
            "R",
            ("agents", "tasks"),
            doc="resource levels of each consumer's patch",
            init=lambda ctx: np.broadcast_to(ctx.D, (ctx.n_agents, ctx.n_tasks)).copy(),
        ),
        ArraySpec("patch", ("agents",), dtype="int64", doc="patch of each consumer"),
        ArraySpec("optimum", ("agents",), doc="environmental optimum H_i of each consumer"),
        ArraySpec("phase", ("agents",), doc="phase of the environment of each consumer's patch"),
    ),
    advance=_advance,
    doc="consumers and renewing resources in patches (MacArthur / Tilman / Loreau); G = e f R",
)
