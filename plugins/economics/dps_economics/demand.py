"""Demand from prices and incomes: the consumers' side of a market.

Every country (agent) earns the value of its production at the prices it faces, I_i = p . Y_i,
and spends it with the same homothetic preferences over the K goods:

- Cobb-Douglas with expenditure shares b: x_ik = b_k I_i / p_k
- CES with weights b and elasticity sigma: x_ik = b_k^sigma p_k^-sigma I_i / sum_l b_l^sigma p_l^(1-sigma)
  (sigma -> 1 is Cobb-Douglas)

The demand row each node sees is world demand per node, (1/N) sum_i x_i, matching mean-field
mixing with `pool = "mean"` (each node sees world supply per node). Prices come from the `price`
signal; production is the state's Y.
"""

from __future__ import annotations

from typing import Literal

import attrs
import numpy as np

from dps_core import ConfigError, DemandSpec, params

__all__ = ["ConsumersParams", "consumer_demand", "CONSUMERS"]


@attrs.frozen
class ConsumersParams:
    preferences: Literal["cobb_douglas", "ces"] = params.param("cobb_douglas", doc="utility of the consumers")
    shares: tuple[float, ...] = params.param(
        (), doc="expenditure shares (Cobb-Douglas) or CES weights b_k; default equal"
    )
    sigma: float = params.param(2.0, doc="CES elasticity of substitution (sigma != 1)", validator=params.positive)

    def __attrs_post_init__(self):
        if any(b <= 0 for b in self.shares):
            raise ValueError(f"shares must be positive, got {list(self.shares)}")
        if self.preferences == "ces" and self.sigma == 1.0:
            raise ValueError("sigma = 1 is Cobb-Douglas: use preferences = 'cobb_douglas'")

    def check(self, config):
        """Consumers buy at market prices: the signal must be the price signal."""
        if config.signal.name != "price":
            raise ValueError(f"consumers need prices: use [signal] name = \"price\" (got '{config.signal.name}')")


def shares_for(prm: ConsumersParams, K: int) -> np.ndarray:
    """Normalised preference weights b (equal if not given); errors name the key."""
    if not prm.shares:
        return np.full(K, 1.0 / K)
    if len(prm.shares) != K:
        raise ConfigError(f"config key 'demand.shares' needs one value per good (K = {K}), got {len(prm.shares)}")
    b = np.asarray(prm.shares, dtype=np.float64)
    return b / b.sum()


def consumer_demand(prices: np.ndarray, income: float, b: np.ndarray, preferences: str, sigma: float) -> np.ndarray:
    """Quantities bought with `income` at `prices` (a K-vector)."""
    if preferences == "cobb_douglas":
        return b * income / prices
    weight = b**sigma * prices ** (-sigma)
    return weight * income / (b**sigma * prices ** (1.0 - sigma)).sum()


def _update(ctx):
    prm: ConsumersParams = ctx.params
    p = ctx.extras["signal.price"].mean(axis=0)
    income = float((ctx.Y @ p).sum())  # world income: homothetic demand depends on the total only
    b = shares_for(prm, ctx.n_tasks)
    world = consumer_demand(p, income, b, prm.preferences, prm.sigma)
    return {"D": np.broadcast_to(world / ctx.n_agents, ctx.D.shape).copy()}


CONSUMERS = DemandSpec(
    "consumers", _update, ConsumersParams, doc="world demand from prices and incomes (Cobb-Douglas or CES), per node"
)
