"""The correlation length of heterogeneity between the modules of one layer (docs/nesting.md).

At layer L the units are the layer-L modules, each with its members' aggregated production,
normalised. Their distance is taken on the graph between modules that the agents' topology induces
(module a linked to b when any member of a links to any member of b); when that graph has no link
between distinct modules (the `nested` scenario's own graph: disjoint cliques of layer-2 modules),
the distance is the tree distance instead: d(a, b) = k for the smallest k at which a and b lie in
the same module of layer L + k (siblings 1, cousins 2, ...; the whole system counts as layer T + 1).
C(d) and the correlation length are the metrics plugin's (`dps_metrics.spatial`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse
from dps_metrics import spatial

from dps_core import Topology

from .hierarchy import Hierarchy

__all__ = ["module_graph", "tree_distances", "layer_distances", "layer_correlation"]


def module_graph(topology, h: Hierarchy, layer: int) -> scipy.sparse.csr_matrix:
    """Undirected adjacency between the layer-L modules induced by the agents' topology: a-b linked
    when any member of a links to any member of b, in either direction (no self-links)."""
    import scipy.sparse as sp  # imported where used: `dps --help` stays fast

    n = h.size(layer)
    if topology.kind == "complete":
        M = sp.csr_matrix(np.ones((n, n)) - np.eye(n)) if n > 1 else sp.csr_matrix((n, n))
        return M
    N = topology.n
    A = sp.csr_matrix((np.ones(len(topology.indices)), topology.indices, topology.indptr), shape=(N, N))
    member = sp.csr_matrix((np.ones(N), (np.arange(N), np.arange(N) // (N // n))), shape=(N, n))
    M = (member.T @ (A + A.T) @ member).tocsr()
    M.setdiag(0)
    M.eliminate_zeros()
    M.data[:] = 1.0
    return M


def tree_distances(h: Hierarchy, layer: int, sources: np.ndarray) -> np.ndarray:
    """Tree distance from each source module of `layer` to every module of it: the number of layers
    up to their lowest common module (0 to itself; every pair is joined at the whole system)."""
    n = h.size(layer)
    idx = np.arange(n, dtype=np.int64)
    dist = np.full((len(sources), n), -1, dtype=np.int64)
    group = 1
    for k in range(1, h.depth + 2 - layer):
        group *= h.group(layer + k - 1)  # layer-L units in one module of layer L + k
        same = (idx[None, :] // group) == (sources[:, None] // group)
        dist[(dist < 0) & same] = k
    dist[np.arange(len(sources)), sources] = 0
    return dist


def layer_distances(topology, h: Hierarchy, layer: int, sources: int = 256, seed: int = 0):
    """(SourceDistances between the modules of `layer`, "graph" or "tree"): on the induced module
    graph when it links any two modules, else the tree distance; `sources` modules sampled by
    `seed` (all when there are no more), as in the metrics plugin."""
    M = module_graph(topology, h, layer)
    if M.nnz:
        return spatial.source_distances(Topology.from_scipy(M, name=f"layer{layer}"), sources, seed), "graph"
    n = h.size(layer)
    if sources >= n:
        src = np.arange(n, dtype=np.int64)
    else:
        src = np.sort(np.random.default_rng(seed).choice(n, size=sources, replace=False)).astype(np.int64)
    return spatial.SourceDistances(src, tree_distances(h, layer, src), n), "tree"


# |C(1)| below this (overlaps are at most 1) is rounding: modules identical to the last digits
# have no correlation to measure, and their length would be the geometry's alone
NO_CORRELATION = 1e-9


def layer_correlation(modules: np.ndarray, sd, max_distance: int = 32) -> tuple[float, float]:
    """(correlation length, C(1)) of the module aggregates `modules` (n x K, normalised here) over
    the distances `sd`; C(1) > 0: neighbouring modules more alike than random pairs. The length is
    NaN when |C(1)| <= NO_CORRELATION."""
    tot = modules.sum(axis=1, keepdims=True)
    R = np.sqrt(modules / np.where(tot > 0, tot, 1.0))
    if len(R) < 2:
        return math.nan, math.nan
    C, _, _ = spatial.similarity_by_distance(R, sd, max_distance)
    near = float(C[1])
    return (spatial.correlation_length(C) if abs(near) > NO_CORRELATION else math.nan), near
