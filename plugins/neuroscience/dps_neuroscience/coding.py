"""Sparse coding by local competition: the closed forms the LCA is checked against.

The locally competitive algorithm (Rozell, Johnson, Baraniuk & Olshausen 2008) minimises
E(a) = 1/2 ||x - Phi^T a||^2 + lambda ||a||_1 (soft threshold) with dynamics
tau du/dt = b - u - (Phi Phi^T - I) a, a = T_lambda(u), b = Phi x. Its fixed point is the LASSO
solution; with an orthonormal dictionary that is the soft-thresholded projection, in closed form.
"""

from __future__ import annotations

import numpy as np

__all__ = ["soft_threshold", "lasso", "lca_energy", "reconstruction_error", "response_correlation", "code_quality"]


def soft_threshold(u: np.ndarray, lam: float) -> np.ndarray:
    """T_lambda(u) = sign(u) max(|u| - lambda, 0)."""
    return np.sign(u) * np.maximum(np.abs(u) - lam, 0.0)


def lasso(Phi: np.ndarray, x: np.ndarray, lam: float, tol: float = 1e-13, max_sweeps: int = 100000) -> np.ndarray:
    """argmin_a 1/2 ||x - Phi^T a||^2 + lambda ||a||_1 by cyclic coordinate descent (rows of Phi
    are the atoms); an independent solver for the LCA's fixed point."""
    n = Phi.shape[0]
    a = np.zeros(n)
    norms = (Phi * Phi).sum(axis=1)
    r = x - Phi.T @ a
    for _ in range(max_sweeps):
        biggest = 0.0
        for i in range(n):
            rho = Phi[i] @ r + norms[i] * a[i]
            new = soft_threshold(np.array([rho]), lam)[0] / norms[i]
            if new != a[i]:
                r -= (new - a[i]) * Phi[i]
                biggest = max(biggest, abs(new - a[i]))
                a[i] = new
        if biggest < tol:
            break
    return a


def lca_energy(Phi: np.ndarray, x: np.ndarray, a: np.ndarray, lam: float) -> float:
    """E(a) = 1/2 ||x - Phi^T a||^2 + lambda ||a||_1."""
    r = x - Phi.T @ a
    return float(0.5 * r @ r + lam * np.abs(a).sum())


def reconstruction_error(X: np.ndarray, Xhat: np.ndarray) -> float:
    """Fraction of the stimuli's energy not reconstructed: sum ||x - xhat||^2 / sum ||x||^2."""
    return float(((X - Xhat) ** 2).sum() / (X**2).sum())


def response_correlation(A: np.ndarray) -> float:
    """Mean absolute correlation between the responses of distinct neurons over stimuli
    (rows of A: stimuli, columns: neurons); silent neurons are left out. 0: decorrelated."""
    live = A.std(axis=0) > 0
    A = A[:, live]
    if A.shape[1] < 2:
        return float("nan")
    R = np.corrcoef(A.T)
    off = R[~np.eye(len(R), dtype=bool)]
    return float(np.abs(off).mean())


def code_quality(sim, presentations: int = 200) -> dict[str, float]:
    """Continue a sparse-coding run for `presentations` stimuli and judge the code it settles on:
    a least-squares linear decoder from the settled activations back to the stimuli (its
    explained fraction: how much of the input the population carries), the mean L1 activity per
    stimulus, and their ratio (information per spike, our efficiency)."""
    params = sim.model.demand.params
    X, A = [], []
    for _ in range(presentations):
        sim.step(params.presentation)
        mask = sim.state.extras.get("demand.mask")
        D = sim.state.demand
        x = D[0] if D.shape[0] == 1 or mask is None else D.sum(axis=0) / np.maximum(mask.sum(axis=0), 1.0)
        X.append(x.copy())
        A.append(sim.state.w.copy())
    X, A = np.array(X), np.array(A)
    W, *_ = np.linalg.lstsq(A, X, rcond=None)
    decoded = 1.0 - reconstruction_error(X, A @ W)
    activity = float(np.abs(A).sum(axis=1).mean())
    return {
        "decoded": float(decoded),
        "activity": activity,
        "efficiency": float(decoded / activity) if activity else float("nan"),
    }
