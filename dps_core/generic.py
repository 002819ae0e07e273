"""The generic scenario: K tasks on a ring, agents with von Mises profiles by default, and a
demand that is a mixture of wrapped Gaussians (number, centres, widths and weights of the peaks
configurable). It is the paper's one-dimensional circular skill space.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from . import params as P
from .errors import ConfigError
from .records import ScenarioSpec, Setup

__all__ = ["GENERIC", "ring_positions", "wrapped_gaussian", "peak_mixture"]


def ring_positions(k: int) -> np.ndarray:
    """x_k = 2*pi*k/K."""
    return 2 * math.pi * np.arange(k) / k


def wrapped_gaussian(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Density (unnormalised) of a Gaussian of std `width` wrapped onto the circle, at angles x."""
    J = math.ceil(4 * width / (2 * math.pi)) + 1
    d = np.mod(x - centre + math.pi, 2 * math.pi) - math.pi
    total = np.zeros_like(d)
    for j in range(-J, J + 1):
        total += np.exp(-((d + 2 * math.pi * j) ** 2) / (2 * width**2))
    return total


def peak_mixture(x: np.ndarray, centres, widths, weights, floor: float = 0.0) -> np.ndarray:
    """A demand row: a weighted mixture of wrapped Gaussians plus a uniform floor; sums to 1."""
    row = np.zeros_like(x, dtype=np.float64)
    for c, s, a in zip(centres, widths, weights, strict=False):
        g = wrapped_gaussian(x, c, s)
        row += a * g / g.sum()
    row /= row.sum()
    return (1 - floor) * row + floor / len(x)


def turned_rows(row: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """One copy of a ring-periodic demand row per angle, each turned by its angle (Fourier shift,
    exact for whole task steps; ringing clipped and each row's total kept)."""
    K = len(row)
    m = np.arange(K // 2 + 1)
    F = np.fft.rfft(row)[None, :] * np.exp(-1j * np.asarray(angles, dtype=np.float64)[:, None] * m[None, :])
    D = np.maximum(np.fft.irfft(F, n=K, axis=-1), 0.0)
    return D * (row.sum() / D.sum(axis=1, keepdims=True))


@attrs.frozen
class GenericParams:
    agents: int = P.param(48, doc="number of agents N", validator=P.positive)
    tasks: int = P.param(64, doc="number of tasks K on the ring", validator=P.in_range(2, None))
    peaks: int = P.param(3, doc="number of demand peaks", validator=P.positive)
    width: float | tuple[float, ...] = P.param(0.3, doc="std of each peak (one value, or one per peak)", unit="rad")
    weights: tuple[float, ...] = P.param((), doc="relative weight of each peak (default: equal)")
    centres: tuple[float, ...] = P.param(
        (), doc="centre of each peak (default: evenly spaced from `offset`)", unit="rad"
    )
    offset: float = P.param(0.0, doc="centre of the first peak when centres are evenly spaced", unit="rad")
    floor: float = P.param(0.0, doc="fraction of demand spread uniformly over all tasks", validator=P.probability)
    turns: float = P.param(
        0.0,
        doc="demand that varies over the graph: node i's demand is turned by 2*pi*turns*i/N around the task ring (0: the same demand at every node)",
    )

    def __attrs_post_init__(self):
        n = self.peaks
        widths = self.width if isinstance(self.width, tuple) else (self.width,) * n
        if len(widths) != n or any(not w > 0 for w in widths):
            raise ValueError(
                f"width must be one positive value or {n} positive values (one per peak), got {self.width!r}"
            )
        if self.weights and (len(self.weights) != n or any(w < 0 for w in self.weights) or sum(self.weights) <= 0):
            raise ValueError(f"weights must be {n} non-negative values with a positive sum, got {self.weights!r}")
        if self.centres and len(self.centres) != n:
            raise ValueError(f"centres must have {n} values (one per peak), got {len(self.centres)}")


def _size(p: GenericParams) -> tuple[int, int]:
    return p.agents, p.tasks


def _build(ctx) -> Setup:
    p: GenericParams = ctx.params
    x = ring_positions(p.tasks)
    n = p.peaks
    widths = p.width if isinstance(p.width, tuple) else (p.width,) * n
    weights = p.weights or (1.0,) * n
    centres = p.centres or tuple(p.offset + 2 * math.pi * m / n for m in range(n))
    demand = peak_mixture(x, centres, widths, weights, p.floor)
    if not np.all(np.isfinite(demand)):
        raise ConfigError("scenario 'generic': demand is not finite; check width, weights and floor")
    rows = (
        demand[None, :] if p.turns == 0 else turned_rows(demand, 2 * math.pi * p.turns * np.arange(p.agents) / p.agents)
    )
    return Setup(
        demand=rows,
        n_agents=p.agents,
        task_positions=x,
        info={"centres": list(centres), "widths": list(widths), "weights": list(weights)},
    )


GENERIC = ScenarioSpec(
    "generic",
    _build,
    _size,
    GenericParams,
    doc="K tasks on a ring; demand a mixture of wrapped Gaussian peaks (sums to 1 at every node)",
)
