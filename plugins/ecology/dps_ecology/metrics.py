"""Community measurements: total biomass and species richness (agents with non-negligible biomass)."""

from __future__ import annotations

import attrs
import numpy as np

from dps_core import MetricSpec, params

__all__ = ["BIOMASS", "RICHNESS"]


@attrs.frozen
class RichnessParams:
    threshold: float = params.param(
        1e-4,
        doc="an agent counts when its share of total biomass exceeds this",
        validator=params.in_range(0, 1, hi_open=True),
    )


def _biomass(ctx):
    return float(np.abs(ctx.w).sum())


def _richness(ctx):
    w = np.abs(ctx.w)
    total = w.sum()
    return float((w > ctx.params.threshold * total).sum()) if total > 0 else 0.0


BIOMASS = MetricSpec("biomass", _biomass, doc="total biomass sum_i |w_i|")
RICHNESS = MetricSpec(
    "richness",
    _richness,
    params=RichnessParams,
    doc="number of agents holding more than `threshold` of the total biomass",
)
