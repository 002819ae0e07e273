"""The tree of a nested system: which unit of layer L belongs to which module of layer L + 1.

Layer 1 is the agents; `branching = (b_1, ..., b_T)` says a module of layer L + 1 holds b_L units
of layer L, and the b_T units of the top layer T make up the whole system. Units are numbered so
that every module's members are contiguous: unit i of layer L belongs to module i // b_L.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse

__all__ = ["Hierarchy", "clique_blocks"]


class Hierarchy:
    """Sizes and membership of every layer of a nested system, and aggregation from the agents up."""

    def __init__(self, branching):
        branching = tuple(int(b) for b in branching)
        if not branching or any(b < 1 for b in branching):
            raise ValueError(f"branching must be one or more positive integers, got {list(branching)}")
        self.branching = branching
        self.depth = len(branching)  # layers of units below the whole system
        self.n_agents = math.prod(branching)

    def size(self, layer: int) -> int:
        """Number of units of `layer` (1 = agents, depth = the top layer, depth + 1 = the whole)."""
        self._check(layer, upto=self.depth + 1)
        return math.prod(self.branching[layer - 1 :])

    def group(self, layer: int) -> int:
        """Number of units of `layer` in one module of layer + 1 (b_layer)."""
        self._check(layer)
        return self.branching[layer - 1]

    def parents(self, layer: int) -> np.ndarray:
        """For each unit of `layer`, the index of its module in layer + 1 (zeros at the top layer)."""
        self._check(layer)
        return np.arange(self.size(layer), dtype=np.int64) // self.group(layer)

    def aggregate(self, X: np.ndarray, layer: int) -> np.ndarray:
        """Sum the agents' rows (N or N x K) over the units of `layer` (layer 1 returns X)."""
        self._check(layer, upto=self.depth + 1)
        X = np.asarray(X, dtype=np.float64)
        n = self.size(layer)
        return X.reshape(n, self.n_agents // n, *X.shape[1:]).sum(axis=1)

    def _check(self, layer: int, upto: int | None = None) -> None:
        top = self.depth if upto is None else upto
        if not 1 <= layer <= top:
            raise ValueError(f"layer must be in 1..{top} for branching {list(self.branching)}, got {layer}")

    def info(self) -> dict:
        """JSON-able description: the branching and every layer's parent indices."""
        return {
            "branching": list(self.branching),
            "parents": [self.parents(layer).tolist() for layer in range(1, self.depth + 1)],
        }


def clique_blocks(groups: int, size: int) -> scipy.sparse.csr_matrix:
    """Adjacency of `groups` disjoint cliques of `size` nodes, each node with a self-loop: under
    conservative mixing at gamma = 1 every node sees its clique's mean supply."""
    n = groups * size
    indptr = np.arange(0, n * size + 1, size, dtype=np.int64)
    starts = (np.arange(n) // size) * size
    indices = (starts[:, None] + np.arange(size)[None, :]).ravel()
    import scipy.sparse as sp  # imported where used: `dps --help` stays fast

    return sp.csr_matrix((np.ones(n * size), indices, indptr), shape=(n, n))
