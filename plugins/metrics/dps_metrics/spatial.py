"""Spatial scale of heterogeneity on the communication graph (law 3; formulas in docs/metrics.md).

Graph distances are shortest-path hop counts on the undirected graph (an edge in either direction
joins two agents). Exact all-pairs distances cost O(N * E), so they are taken by breadth-first search
from a seeded sample of source agents (all agents when there are no more than `sources`), and every
estimate comes with its sampling error. Similarity of two agents is the Bhattacharyya overlap of
their profiles, Z_ij = sum_k sqrt(P_ik P_jk), as in the Hill numbers of `diversity`.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

import numpy as np

from .diversity import hill_numbers

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = [
    "SourceDistances",
    "source_distances",
    "pair_similarity_mean",
    "similarity_by_distance",
    "correlation_length",
    "mean_path_length",
    "local_heterogeneity",
    "self_sufficiency",
    "crossing",
]

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class SourceDistances:
    """Hop distances from sampled source agents to every agent (-1: unreachable)."""

    def __init__(self, sources: np.ndarray, dist: np.ndarray, n: int):
        self.sources = sources
        self.dist = dist  # len(sources) x n, int64
        self.n = n

    @property
    def exact(self) -> bool:
        """True when every agent is a source (no sampling error)."""
        return len(self.sources) == self.n


def _undirected(topology) -> sp.csr_matrix | None:
    if topology.kind == "complete":
        return None
    n = topology.n
    import scipy.sparse as sp  # imported where used: `dps --help` stays fast

    A = sp.csr_matrix((np.ones(len(topology.indices)), topology.indices, topology.indptr), shape=(n, n))
    return (A + A.T).tocsr()


def source_distances(topology, sources: int = 32, seed: int = 0) -> SourceDistances:
    """Hop distances from `sources` agents drawn without replacement by `seed` (every agent if
    sources >= N); cached per topology, since the graph never changes during a run."""
    key = (int(sources), int(seed))
    per_topo = _CACHE.setdefault(topology, {})
    if key in per_topo:
        return per_topo[key]
    n = topology.n
    if sources >= n:
        src = np.arange(n, dtype=np.int64)
    else:
        src = np.sort(np.random.default_rng(seed).choice(n, size=sources, replace=False)).astype(np.int64)
    A = _undirected(topology)
    if A is None:  # complete graph: distance 1 to everyone else
        dist = np.ones((len(src), n), dtype=np.int64)
        dist[np.arange(len(src)), src] = 0
    else:
        from scipy.sparse import csgraph  # imported where used

        d = csgraph.shortest_path(A, method="D", directed=False, unweighted=True, indices=src)
        dist = np.where(np.isfinite(d), d, -1).astype(np.int64)
    out = SourceDistances(src, dist, n)
    per_topo[key] = out
    return out


def pair_similarity_mean(R: np.ndarray) -> float:
    """Mean Bhattacharyya overlap over all ordered pairs i != j, exactly in O(N K):
    (|sum_i R_i|^2 - sum_i |R_i|^2) / (N (N - 1)) with R = sqrt(P)."""
    n = len(R)
    if n < 2:
        return math.nan
    col = R.sum(axis=0)
    return float((col @ col - np.einsum("ik,ik->", R, R)) / (n * (n - 1)))


def _ratio_se(num: np.ndarray, den: np.ndarray, n: int) -> float:
    """Standard error of the ratio estimate sum(num)/sum(den) over m sampled sources out of n
    (Cochran 1977, Sampling Techniques, eq. 6.9, with the finite-population correction)."""
    m = len(num)
    live = den.sum()
    if m < 2 or live <= 0:
        return math.nan
    r = num.sum() / live
    fpc = max(0.0, 1.0 - m / n)
    return float(math.sqrt(fpc * ((num - r * den) ** 2).sum() / (m - 1) / m) / den.mean())


def similarity_by_distance(R: np.ndarray, sd: SourceDistances, max_distance: int = 32):
    """(C, se, pairs): C[d] = mean overlap of pairs at distance d minus the all-pairs mean, for
    d = 0..max_distance (C[0] is NaN), its sampling error and the number of sampled pairs."""
    base = pair_similarity_mean(R)
    m = len(sd.sources)
    sums = np.zeros((m, max_distance + 1))
    counts = np.zeros((m, max_distance + 1))
    for a, i in enumerate(sd.sources):
        d = sd.dist[a]
        keep = (d >= 1) & (d <= max_distance)
        z = R[keep] @ R[i]
        sums[a] = np.bincount(d[keep], weights=z, minlength=max_distance + 1)
        counts[a] = np.bincount(d[keep], minlength=max_distance + 1)
    tot = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        C = np.where(tot > 0, sums.sum(axis=0) / np.where(tot > 0, tot, 1) - base, np.nan)
    C[0] = np.nan
    se = np.array([_ratio_se(sums[:, d], counts[:, d], sd.n) if tot[d] > 0 else math.nan for d in range(len(C))])
    se[0] = np.nan
    return C, se, tot


def crossing(values: np.ndarray, level: float, start: int = 0, below: bool = True) -> float:
    """The first x >= start where values[x] reaches `level` (falls to or below it when `below`,
    else rises to or above it), linearly interpolated between integer x; NaN if it never does."""
    v = np.asarray(values, dtype=np.float64)
    for x in range(start, len(v)):
        if not np.isfinite(v[x]):
            return math.nan
        hit = v[x] <= level if below else v[x] >= level
        if hit:
            if x == start or v[x] == level:
                return float(x)
            return float(x - 1 + (v[x - 1] - level) / (v[x - 1] - v[x]))
    return math.nan


def correlation_length(C: np.ndarray) -> float:
    """The distance at which |C(d)| first falls to |C(1)|/e, interpolated (NaN if C(1) is NaN or
    zero, or if it never falls within the distances given). The magnitude is used so that an
    anti-correlation of neighbours (C(1) < 0) has a length too."""
    if len(C) < 2 or not np.isfinite(C[1]) or C[1] == 0:
        return math.nan
    return crossing(np.abs(C), abs(C[1]) / math.e, start=1)


def mean_path_length(sd: SourceDistances) -> tuple[float, float]:
    """(mean shortest path over reachable ordered pairs i != j, its sampling error)."""
    num = np.array([row[row > 0].sum() for row in sd.dist], dtype=np.float64)
    den = np.array([(row > 0).sum() for row in sd.dist], dtype=np.float64)
    if den.sum() == 0:
        return math.nan, math.nan
    return float(num.sum() / den.sum()), _ratio_se(num, den, sd.n)


def _levels(row: np.ndarray, max_radius: int) -> list[np.ndarray]:
    """Agents at distance 0, 1, ..., max_radius from one source."""
    order = np.argsort(row, kind="stable")
    d = row[order]
    d_live = d[d >= 0]
    order = order[d >= 0]
    edges = np.searchsorted(d_live, np.arange(max_radius + 2))
    return [order[edges[r] : edges[r + 1]] for r in range(max_radius + 1)]


def _hill1(R: np.ndarray, p: np.ndarray) -> float:
    tot = p.sum()
    if tot <= 0:
        return 1.0
    q = p / tot
    return hill_numbers(q, R @ (R.T @ q), (1.0,))[1.0]


def local_heterogeneity(R: np.ndarray, p: np.ndarray, sd: SourceDistances, share: float = 0.9, max_radius: int = 16):
    """(radius, ratios): the ball radius r at which the mean over sources of the local Hill number
    (q = 1) of the agents within distance r, divided by the global one, first reaches `share`
    (interpolated; NaN if not within max_radius), and those mean ratios for r = 0..max_radius
    (computed up to the crossing; NaN after it)."""
    glob = _hill1(R, p)
    ratios = np.full(max_radius + 1, np.nan)
    per_source = [_levels(row, max_radius) for row in sd.dist]
    reach = [int((row >= 0).sum()) for row in sd.dist]
    for r in range(max_radius + 1):
        vals = []
        for lv, full in zip(per_source, reach, strict=True):
            ball = np.concatenate(lv[: r + 1])
            vals.append(1.0 if len(ball) == full and full == sd.n else _hill1(R[ball], p[ball]) / glob)
        ratios[r] = float(np.mean(vals))
        if r >= 1 and ratios[r] >= share:
            break
    return crossing(ratios, share, below=False), ratios


def self_sufficiency(Y: np.ndarray, D: np.ndarray, sd: SourceDistances, tolerance: float = 0.1, max_radius: int = 16):
    """(radius, met): the ball radius at which the demand met inside a ball from the supply produced
    inside it, m_r = sum_k min(sum_B Y_jk, sum_B D_jk) / sum_k sum_B D_jk (mean over sources),
    first reaches (1 - tolerance) times the same share for the whole graph; and m_r for
    r = 0..max_radius (up to the crossing). D is 1 x K (the same demand at every node) or N x K."""
    Drows = np.broadcast_to(D, Y.shape) if D.shape[0] == 1 else D

    def met(supply, demand):
        tot = demand.sum()
        return float(np.minimum(supply, demand).sum() / tot) if tot > 0 else math.nan

    target = (1.0 - tolerance) * met(Y.sum(axis=0), Drows.sum(axis=0))
    shares = np.full(max_radius + 1, np.nan)
    per_source = [_levels(row, max_radius) for row in sd.dist]
    sup = np.zeros((len(per_source), Y.shape[1]))
    dem = np.zeros_like(sup)
    for r in range(max_radius + 1):
        vals = []
        for a, lv in enumerate(per_source):
            sup[a] += Y[lv[r]].sum(axis=0)
            dem[a] += Drows[lv[r]].sum(axis=0)
            vals.append(met(sup[a], dem[a]))
        shares[r] = float(np.nanmean(vals))
        if r >= 1 and shares[r] >= target:
            break
    return crossing(shares, target, below=False), shares
