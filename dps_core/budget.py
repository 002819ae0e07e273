"""Budgets on the resources w, enforced by Euclidean projection after every update.

- total:     w >= 0, sum w <= B (or = B)
- price:     w >= 0, sum cost_i w_i <= B (or = B) ("equal cost" comparisons)
- per_agent: 0 <= w_i <= B (or w_i = B)
- none:      w >= 0
"""

from __future__ import annotations

import numpy as np

__all__ = ["project", "project_weighted_simplex"]


def project_weighted_simplex(v: np.ndarray, c: np.ndarray, B: float) -> np.ndarray:
    """argmin ||w - v||^2 subject to c.w = B, w >= 0 (c > 0, B >= 0).

    The solution is w_i = max(0, v_i - tau*c_i); tau is found from the sorted ratios v_i/c_i.
    """
    if B <= 0:
        return np.zeros_like(v)
    r = v / c
    order = np.argsort(-r, kind="stable")
    cv = np.cumsum(c[order] * v[order])
    cc = np.cumsum(c[order] ** 2)
    tau = (cv - B) / cc
    active = r[order] > tau
    j = np.nonzero(active)[0][-1]
    return np.maximum(0.0, v - tau[j] * c)


def project(w: np.ndarray, kind: str, value: float | None, costs: np.ndarray | None, equality: bool) -> np.ndarray:
    """Project resources onto the budget set; returns a new array (`value` is None only for kind 'none')."""
    if kind != "none" and value is None:
        raise ValueError(f"budget kind '{kind}' needs a budget value")
    if kind == "per_agent":
        return np.full_like(w, value) if equality else np.clip(w, 0.0, value)
    pos = np.maximum(w, 0.0)
    if kind == "none" or value is None:
        return pos
    c = np.ones_like(w) if kind == "total" or costs is None else costs
    if not equality and float(c @ pos) <= value:
        return pos
    return project_weighted_simplex(w, c, value)
