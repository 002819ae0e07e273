"""Welfare: the consumers' utility of world output, the economist's measure of productivity.

World output X_k = sum_i Y_ik; with Cobb-Douglas preferences (shares b) welfare is the real
income index prod_k X_k^b_k, with CES preferences (sigma) (sum_k b_k X_k^rho)^(1/rho),
rho = (sigma - 1)/sigma; the preferences are those of the `economics.consumers` demand when it is
used, else Cobb-Douglas with equal shares.
"""

from __future__ import annotations

import numpy as np

from dps_core import MetricSpec

from .demand import ConsumersParams, shares_for

__all__ = ["WELFARE", "welfare"]


def welfare(X: np.ndarray, b: np.ndarray, preferences: str = "cobb_douglas", sigma: float = 1.0) -> float:
    """Utility of consuming X (a K-vector) with weights b."""
    X = np.maximum(X, 1e-300)
    if preferences == "cobb_douglas":
        return float(np.exp((b * np.log(X)).sum()))
    rho = (sigma - 1.0) / sigma
    return float((b * X**rho).sum() ** (1.0 / rho))


def _welfare(ctx):
    prm = ctx.model.demand.params if isinstance(ctx.model.demand.params, ConsumersParams) else ConsumersParams()
    b = shares_for(prm, ctx.n_tasks)
    return welfare(ctx.Y.sum(axis=0), b, prm.preferences, prm.sigma)


WELFARE = MetricSpec("welfare", _welfare, doc="consumers' utility of world output (real income index)")
