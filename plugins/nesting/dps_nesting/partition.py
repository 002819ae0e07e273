"""Heterogeneity within modules, between modules, and its partition (formulas in docs/nesting.md).

Members (units of layer L - 1) are the types, modules (units of layer L) the subcommunities of
Reeve et al. (2016), "How to partition diversity", arXiv:1404.6520: each member belongs to one
module, with abundance p_i and similarity Z_ij = sum_k sqrt(P_ik P_jk) of normalised profiles, so
every ordinariness (Z P)_ij needs only R_i . (sum over the module of R_k p_k), O(N*K) at any N.
"""

from __future__ import annotations

import numpy as np
from dps_metrics import bhattacharyya_profiles, hill_numbers, profiles_as_distributions, similarity_times

__all__ = ["power_mean", "reeve_partition", "between_modules"]

_TINY = 1e-300


def power_mean(x: np.ndarray, weights: np.ndarray, order: float) -> float:
    """M_t(x; u) = (sum_i u_i x_i^t)^(1/t) over u_i > 0 (weights summing to one); geometric at
    t = 0, max at +inf, min at -inf."""
    x, u = np.asarray(x, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    live = u > 0
    x, u = x[live], u[live] / u[live].sum()
    if order == 0:
        return float(np.exp((u * np.log(np.maximum(x, _TINY))).sum()))
    if np.isinf(order):
        return float(x.max() if order > 0 else x.min())
    return float((u * x**order).sum() ** (1.0 / order))


def reeve_partition(P: np.ndarray, p: np.ndarray, module: np.ndarray, q: float = 1.0) -> dict[str, float]:
    """Metacommunity normalised alpha (within), normalised beta (beta) and gamma of order q.

    P: members' profiles (rows of non-negative numbers, normalised here); p: their abundances;
    module: the module index of each member. Subcommunity values are power means over the
    module's members (order 1 - q, and q - 1 for beta), metacommunity values power means of order
    1 - q over the modules weighted by their share of the abundance (Reeve et al. 2016)."""
    P = profiles_as_distributions(np.asarray(P, dtype=np.float64))
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum()
    module = np.asarray(module, dtype=np.int64)
    n_mod = int(module.max()) + 1
    R, _ = bhattacharyya_profiles(P)
    Zp = similarity_times(p, R)  # (Z p)_i
    w = np.bincount(module, weights=p, minlength=n_mod)  # module weights
    mass = np.zeros((n_mod, P.shape[1]))
    np.add.at(mass, module, R * p[:, None])
    wsafe = np.where(w > 0, w, 1.0)
    ZPbar = np.einsum("ik,ik->i", R, mass[module]) / wsafe[module]  # (Z Pbar)_{i, module(i)}
    pbar = p / wsafe[module]
    alpha_j, beta_j, gamma_j = (np.ones(n_mod) for _ in range(3))
    for j in np.flatnonzero(w > 0):
        mem = module == j
        alpha_j[j] = power_mean(1.0 / np.maximum(ZPbar[mem], _TINY), pbar[mem], 1.0 - q)
        beta_j[j] = power_mean(ZPbar[mem] / np.maximum(Zp[mem], _TINY), pbar[mem], q - 1.0)
        gamma_j[j] = power_mean(1.0 / np.maximum(Zp[mem], _TINY), pbar[mem], 1.0 - q)
    return {
        "within": power_mean(alpha_j, w, 1.0 - q),
        "beta": power_mean(beta_j, w, 1.0 - q),
        "gamma": power_mean(gamma_j, w, 1.0 - q),
    }


def between_modules(A: np.ndarray, weights: np.ndarray, q: float = 1.0) -> float:
    """Leinster-Cobbold Hill number of order q of the modules themselves: abundance their share
    of `weights`, profile their normalised aggregate A, Bhattacharyya similarity."""
    P = profiles_as_distributions(np.asarray(A, dtype=np.float64))
    u = np.abs(np.asarray(weights, dtype=np.float64))
    u = u / u.sum()
    R, _ = bhattacharyya_profiles(P)
    return hill_numbers(u, similarity_times(u, R), (q,))[q]
