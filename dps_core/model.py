"""The canonical model's fixed structure for one run, and the derivatives every mode shares.

Production Y_ik = w_i C_ik s_ik^alpha; objective
J = U - lambda_R sum_i |w_i| - lambda_C sum_jk comm_j Y_jk - lambda_S sum_i (log K - H(s_i)).
The gradient of J with respect to Y is the scattered signal H minus lambda_C comm (the price an
agent's output fetches, net of shipping it); the chain rule through production and the profile
family gives the gradients of profile parameters and resources.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from .mixing import Mixing
from .profiles import Family
from .topology import Topology

__all__ = ["Bound", "Model", "entropy_rows"]

_TINY = 1e-300


def entropy_rows(S: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of a non-negative profile (rows normalised first)."""
    P = np.abs(S)
    P = P / np.where(P.sum(axis=1, keepdims=True) > 0, P.sum(axis=1, keepdims=True), 1.0)
    return -(P * np.log(np.maximum(P, _TINY))).sum(axis=1)


@attrs.frozen
class Bound:
    """A registered record bound to its validated parameters and the plugin that owns it."""

    kind: str
    spec: Any
    params: Any
    plugin: str

    @property
    def name(self) -> str:
        return self.spec.name


@attrs.define(eq=False)
class Model:
    """Everything fixed for the duration of a run (sizes, operators, components, constants)."""

    n_agents: int
    n_tasks: int
    demand_rows: int
    family: Family
    alpha: float
    dt: float
    topology: Topology
    mixing: Mixing
    task_positions: np.ndarray
    task_similarity: np.ndarray | None
    costs: np.ndarray | None
    config: Any
    signal: Bound
    mode: Bound
    demand: Bound
    budget_value: float | None = None
    cache: dict = attrs.field(factory=dict)  # components may keep precomputed operators here

    # --- production and objective ------------------------------------------------------------------

    def c_is_ones(self, C: np.ndarray) -> bool:
        """True if the capabilities C are all ones (checked once per C array, cached on the model)."""
        known = self.cache.get("c_ones")
        if known is None or known[0] is not C:
            known = self.cache["c_ones"] = (C, bool(np.all(C == 1.0)))
        return known[1]

    def produce(self, S: np.ndarray, w: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Y = w * C * S^alpha (one new N x K array; multiplying by capabilities all ones is skipped,
        which changes no bit)."""
        Sa = S if self.alpha == 1.0 else S**self.alpha
        if self.c_is_ones(C):
            return np.multiply(w[:, None], Sa)
        Y = np.multiply(w[:, None], C)
        Y *= Sa
        return Y

    def net_price(self, H: np.ndarray) -> np.ndarray:
        """dJ/dY: the scattered signal minus the communication cost of shipping output."""
        lam = self.config.penalty.communication
        return H if lam == 0 else H - lam * self.mixing.comm[:, None]

    def gradients(
        self,
        H: np.ndarray,
        S: np.ndarray,
        Y: np.ndarray,
        profile: dict,
        w: np.ndarray,
        C: np.ndarray,
        names=None,
        resources: bool = True,
    ) -> tuple[dict, np.ndarray | None]:
        """(dJ/d profile parameters, dJ/dw) given the scattered signal H. `names` (default: all)
        limits the profile gradients computed; resources=False skips dJ/dw (returned as None)."""
        pen = self.config.penalty
        Hn = self.net_price(H)
        ones = self.c_is_ones(C)
        g_profile = self._profile_gradients(Hn, S, Y, profile, w, C, ones, names) if names is None or names else {}
        if not resources:
            return g_profile, None
        Sa = S if self.alpha == 1.0 else S**self.alpha
        if ones:  # Hn * 1 is Hn bit for bit
            HC = Hn * Sa
        else:
            HC = Hn * C
            HC *= Sa
        g_w = HC.sum(axis=1)
        del HC
        if pen.resource:
            g_w = g_w - pen.resource * np.sign(w)
        return g_profile, g_w

    def _profile_gradients(self, Hn, S, Y, profile, w, C, ones, names) -> dict:
        pen = self.config.penalty
        if self.family.non_negative:
            if self.alpha != 1.0:
                T = self.alpha * Hn
                T *= Y
            else:  # 1.0 * Hn is Hn bit for bit
                T = Hn * Y
            if pen.specialisation:
                T = T - pen.specialisation * S * (np.log(np.maximum(S, _TINY)) + 1.0)
        else:
            T = Hn * w[:, None]
            if not ones:
                T *= C
        return self.family.gradient(profile, S, T, names)

    def objective(self, U: float, S: np.ndarray, Y: np.ndarray, w: np.ndarray) -> float:
        """J = U minus the resource, communication and specialisation penalties."""
        pen = self.config.penalty
        J = U
        if pen.resource:
            J -= pen.resource * float(np.abs(w).sum())
        if pen.communication:
            J -= pen.communication * float(self.mixing.comm @ Y.sum(axis=1))
        if pen.specialisation and self.family.non_negative:
            J -= pen.specialisation * float((math.log(self.n_tasks) - entropy_rows(S)).sum())
        return J

    # --- optional steps -----------------------------------------------------------------------------

    def learn(self, C: np.ndarray, S: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Learning by doing: dC/dt = rate * w_i * |s_ik| - forget * (C - 1), within [0, max]."""
        lc = self.config.learn
        if lc.rate == 0 and lc.forget == 0:
            return C
        dC = lc.rate * np.abs(w)[:, None] * np.abs(S) - lc.forget * (C - 1.0)
        return np.clip(C + self.dt * dC, 0.0, lc.max)

    def disperse(self, w: np.ndarray) -> np.ndarray:
        """Dispersal of resources along the graph (conserves the total)."""
        rate = self.config.disperse.rate
        return w if rate == 0 else self.mixing.disperse(w, self.dt * rate)
