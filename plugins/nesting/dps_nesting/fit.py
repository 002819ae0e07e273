"""The von Mises profile with the same circular mean and mean resultant length as a
non-negative row over the task ring: how a module's plan is parameterised (docs/nesting.md)."""

from __future__ import annotations

import numpy as np

__all__ = ["vonmises_rows", "resultant", "fit_vonmises"]


def vonmises_rows(mu: np.ndarray, kappa: np.ndarray, x: np.ndarray) -> np.ndarray:
    """S_ik = exp(kappa_i cos(x_k - mu_i)) / sum_l exp(kappa_i cos(x_l - mu_i)), the core's family."""
    E = np.asarray(kappa, dtype=np.float64)[:, None] * (np.cos(x[None, :] - np.asarray(mu)[:, None]) - 1.0)
    S = np.exp(E)
    return S / S.sum(axis=1, keepdims=True)


def resultant(A: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(circular mean, mean resultant length) of each non-negative row of A at angles x."""
    A = np.asarray(A, dtype=np.float64)
    tot = A.sum(axis=1)
    c = A @ np.cos(x)
    s = A @ np.sin(x)
    safe = np.where(tot > 0, tot, 1.0)
    return np.mod(np.arctan2(s, c), 2 * np.pi), np.where(tot > 0, np.hypot(c, s) / safe, 0.0)


def fit_vonmises(
    A: np.ndarray, x: np.ndarray, kappa_min: float, kappa_max: float, iterations: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """(mu, kappa) of the von Mises rows matching each row's circular mean and resultant length.

    The resultant length of a von Mises profile on the task points increases with kappa, so
    kappa is found by bisection on log kappa within [kappa_min, kappa_max]; it is evaluated for a
    profile centred at x = 0 (exact for any centre on the ring's points).
    """
    mu, R = resultant(A, x)
    lo = np.full(len(R), np.log(kappa_min))
    hi = np.full(len(R), np.log(kappa_max))
    zeros = np.zeros(len(R))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        _, r_mid = resultant(vonmises_rows(zeros, np.exp(mid), x), x)
        below = r_mid < R
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return mu, np.exp(0.5 * (lo + hi))
