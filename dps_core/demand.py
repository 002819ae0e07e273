"""Built-in demand processes, applied before each step outside the kernel.

- static: D never changes.
- drift:  the demand rotates around the task ring, D(t)(x) = D0(x - phi(t)), with
          phi' = speed + noise * white noise (a deterministic drift plus a random walk).
- shock:  at given steps, or at random times (Poisson rate), the demand jumps by a rotation of
          `angle` (or a uniformly random angle).
Rotations by a fraction of the task spacing use the Fourier shift of each demand row (exact for
band-limited rows; negative ringing is clipped and the row total kept). Both need the default
evenly spaced task ring.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from . import params as P
from .errors import ConfigError
from .records import ArraySpec, DemandSpec

__all__ = ["DEMANDS", "rotate_rows"]


def rotate_rows(D0: np.ndarray, phi: float) -> np.ndarray:
    """Rows of D0 (periodic over K tasks on a ring) rotated by angle phi (radians)."""
    K = D0.shape[-1]
    shift = phi * K / (2 * math.pi)
    if abs(shift - round(shift)) < 1e-12:
        return np.roll(D0, round(shift) % K, axis=-1)
    F = np.fft.rfft(D0, axis=-1)
    m = np.arange(F.shape[-1])
    D = np.fft.irfft(F * np.exp(-2j * math.pi * m * shift / K), n=K, axis=-1)
    D = np.maximum(D, 0.0)
    total0 = D0.sum(axis=-1, keepdims=True)
    total = D.sum(axis=-1, keepdims=True)
    return D * np.divide(total0, total, out=np.ones_like(total), where=total > 0)


def _check_ring(ctx, name):
    x = ctx.model.task_positions
    K = len(x)
    if not np.allclose(x, 2 * math.pi * np.arange(K) / K, atol=1e-12):
        raise ConfigError(
            f"demand '{name}' rotates demand around the task ring, but the scenario's tasks are not "
            "the evenly spaced ring x_k = 2*pi*k/K; use demand 'static' or a plugin's process"
        )


def static_update(ctx):
    return {}


@attrs.frozen
class DriftParams:
    speed: float = P.param(0.01, doc="angular speed of the demand around the ring", unit="rad/time")
    noise: float = P.param(
        0.0, doc="std of the random walk of the demand's phase", unit="rad/sqrt(time)", validator=P.non_negative
    )


def drift_update(ctx):
    _check_ring(ctx, "drift")
    base = ctx.arrays["base"]
    prm = ctx.params
    step = prm.speed * ctx.dt
    if prm.noise:
        step += prm.noise * math.sqrt(ctx.dt) * ctx.rng.standard_normal()
    phase = ctx.arrays["phase"] + step
    return {"D": rotate_rows(base, phase[0]), "phase": phase}


@attrs.frozen
class ShockParams:
    at: tuple[int, ...] = P.param((), doc="steps at which a shock happens")
    rate: float = P.param(0.0, doc="rate of random shocks (Poisson)", unit="1/time", validator=P.non_negative)
    angle: float | None = P.param(None, doc="rotation of each shock; absent: uniformly random in [0, 2*pi)", unit="rad")


def shock_update(ctx):
    _check_ring(ctx, "shock")
    base = ctx.arrays["base"]
    prm = ctx.params
    hits = prm.at.count(ctx.step)
    if prm.rate:
        hits += int(ctx.rng.poisson(prm.rate * ctx.dt))
    if not hits:
        return {}
    phase = ctx.arrays["phase"].copy()
    for _ in range(hits):
        phase[0] += prm.angle if prm.angle is not None else ctx.rng.uniform(0, 2 * math.pi)
    return {"D": rotate_rows(base, phase[0]), "phase": phase}


_ROTATION_ARRAYS = (
    ArraySpec("phase", (1,), doc="rotation angle so far"),
    ArraySpec("base", ("demand_rows", "tasks"), doc="the demand at time 0", init=lambda ctx: ctx.D.copy()),
)

DEMANDS = (
    DemandSpec("static", static_update, doc="demand never changes"),
    DemandSpec(
        "drift",
        drift_update,
        DriftParams,
        arrays=_ROTATION_ARRAYS,
        doc="demand rotates around the task ring at a speed, plus a random walk",
    ),
    DemandSpec(
        "shock",
        shock_update,
        ShockParams,
        arrays=_ROTATION_ARRAYS,
        doc="demand jumps by a rotation at given steps or at random times",
    ),
)
