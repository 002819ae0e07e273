"""Diversity of a population of agents over tasks, in O(N*K) at any N (formulas in docs/metrics.md).

Agents are treated as species: abundance p_i proportional to |w_i|, profile P_i a probability
distribution over tasks (|s_i| normalised; s_i^2 for signed unit-norm atoms). The similarity of
two agents is the Bhattacharyya coefficient Z_ij = sum_k sqrt(P_ik P_jk), optionally through a task
kernel T: Z_ij = sqrt(P_i) T sqrt(P_j) normalised so that Z_ii = 1. Because Z = R T R^T with
R = sqrt(P), the vector Zp = R (T (R^T p)) costs O(N*K + K^2), never O(N^2).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "profiles_as_distributions",
    "abundances",
    "bhattacharyya_profiles",
    "hill_numbers",
    "entropy",
    "mutual_information",
    "specialisation",
    "ring_kernel_row",
    "circulant_times",
    "demand_modes",
]

_TINY = 1e-300


def profiles_as_distributions(S: np.ndarray, signed: bool = False) -> np.ndarray:
    """Each row as a probability distribution over tasks: s^2 for signed atoms, else |s|/sum|s|."""
    S = np.asarray(S, dtype=np.float64)  # integer profiles too: the division below is in place
    P = S * S if signed else np.abs(S)
    tot = P.sum(axis=1, keepdims=True)
    P /= np.where(tot > 0, tot, 1.0)  # in place: one N x K array, not two
    return P


def abundances(w: np.ndarray) -> np.ndarray:
    """Relative abundance p_i = |w_i| / sum |w| (uniform if every w is zero)."""
    a = np.abs(np.asarray(w, dtype=np.float64))
    tot = a.sum()
    return a / tot if tot > 0 else np.full(len(a), 1.0 / len(a))


def bhattacharyya_profiles(P: np.ndarray, T: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(R, scale): R = sqrt(P) and, with a task kernel T, the per-agent normalisation
    1/sqrt(R_i T R_i) that makes Z_ii = 1."""
    R = np.sqrt(P)
    if T is None:
        return R, None
    self_sim = np.einsum("ik,ik->i", R @ T, R)
    return R, 1.0 / np.sqrt(np.where(self_sim > 0, self_sim, 1.0))


def similarity_times(
    p: np.ndarray, R: np.ndarray, scale: np.ndarray | None = None, T: np.ndarray | None = None
) -> np.ndarray:
    """(Z p)_i for Z_ij = scale_i scale_j R_i T R_j (T = I and scale = 1 when absent)."""
    v = p if scale is None else p * scale
    u = R.T @ v
    if T is not None:
        u = T @ u
    out = R @ u
    return out if scale is None else out * scale


def hill_numbers(p: np.ndarray, Zp: np.ndarray, qs=(0.0, 1.0, 2.0)) -> dict[float, float]:
    """Leinster & Cobbold (2012) similarity-sensitive diversity of order q:
    ^qD^Z = (sum_i p_i (Zp)_i^(q-1))^(1/(1-q)), and exp(-sum_i p_i log (Zp)_i) at q = 1;
    the sum runs over i with p_i > 0."""
    live = p > 0
    p, Zp = p[live], np.maximum(Zp[live], _TINY)
    out = {}
    for q in qs:
        if q == 1.0:
            out[q] = float(np.exp(-(p * np.log(Zp)).sum()))
        elif np.isinf(q):
            out[q] = float(1.0 / Zp.max())
        else:
            out[q] = float((p * Zp ** (q - 1.0)).sum() ** (1.0 / (1.0 - q)))
    return out


_ROWS = 2048  # rows per block in `entropy`: its temporaries stay in the cache


def _row_entropy(P: np.ndarray) -> np.ndarray:
    return -(P * np.log(np.maximum(P, _TINY))).sum(axis=-1)


def entropy(P: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of a distribution (or of a single distribution). Many
    rows are taken in blocks, with the same result: each row's sum is the same whatever the block."""
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or len(P) <= _ROWS:
        return _row_entropy(P)
    out = np.empty(len(P))
    for a in range(0, len(P), _ROWS):
        out[a : a + _ROWS] = _row_entropy(P[a : a + _ROWS])
    return out


def mutual_information(P: np.ndarray, p: np.ndarray, row_entropy: np.ndarray | None = None) -> float:
    """I(agent; task) = H(sum_i p_i P_i) - sum_i p_i H(P_i), in nats; exp(I) is the effective
    number of distinct roles. `row_entropy`: H(P_i) when already computed."""
    mixture = p @ P
    return float(entropy(mixture) - p @ (entropy(P) if row_entropy is None else row_entropy))


def specialisation(P: np.ndarray, row_entropy: np.ndarray | None = None) -> float:
    """1 - mean_i H(P_i) / log K: 0 for uniform generalists, 1 for single-task specialists.
    `row_entropy`: H(P_i) when already computed."""
    K = P.shape[1]
    if K < 2:
        return 1.0
    return float(1.0 - (entropy(P) if row_entropy is None else row_entropy).mean() / np.log(K))


def ring_kernel_row(K: int, kappa: float) -> np.ndarray:
    """First row of Z_kl, the Bhattacharyya overlap of two von Mises kernels of concentration
    kappa centred at tasks k and l of the ring x_k = 2 pi k / K. Z is circulant and symmetric:
    Z_kl = row[(l - k) mod K]."""
    x = 2 * np.pi * np.arange(K) / K
    f = np.exp(kappa * (np.cos(x) - 1.0))
    g = np.sqrt(f / f.sum())
    G = np.fft.rfft(g)
    row = np.fft.irfft(G * np.conj(G), n=K)  # circular autocorrelation: sum_m g(m) g(m - l)
    return np.clip(row / row[0], 0.0, 1.0)


def circulant_times(row: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Z v for the symmetric circulant Z with first row `row`, in O(K log K)."""
    return np.fft.irfft(np.fft.rfft(row) * np.fft.rfft(v), n=len(v))


def demand_modes(
    D: np.ndarray, q: float = 1.0, *, Z: np.ndarray | None = None, ring_kappa: float | None = None
) -> float:
    """Effective number of demand modes: the Hill number of order q of the demand distribution
    over tasks (rows averaged), with task similarity Z, or the ring-kernel overlap of
    concentration ring_kappa; with neither, the effective number of tasks."""
    d = np.abs(np.asarray(D, dtype=np.float64)).reshape(-1, np.shape(D)[-1]).mean(axis=0)
    tot = d.sum()
    if tot <= 0:
        return float("nan")
    d = d / tot
    if Z is not None:
        Zd = Z @ d
    elif ring_kappa is not None:
        Zd = circulant_times(ring_kernel_row(len(d), ring_kappa), d)
    else:
        Zd = d
    return hill_numbers(d, Zd, (q,))[q]
