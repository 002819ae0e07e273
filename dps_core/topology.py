"""The communication graph: a sparse N x N adjacency A in CSR form whose weights are data.

`Topology.complete(n)` is the complete graph without a matrix (mixing works on it in O(N*K)); every
other graph is CSR arrays (indptr, indices, data), row i listing the nodes j whose output node i
receives, with weight A_ij. Graph families come from topology plugins; the core builds only the
complete graph, the ring and CSR arrays you give it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    import scipy.sparse as sp


def _sparse():
    """scipy.sparse, imported when a graph is built (not when dps starts: `dps --help` stays fast)."""
    import scipy.sparse

    return scipy.sparse


__all__ = ["Topology"]


class Topology:
    """An N-node graph: complete (no matrix) or CSR arrays. Immutable after construction."""

    def __init__(
        self,
        n: int,
        indptr=None,
        indices=None,
        data=None,
        *,
        name: str = "csr",
        params: Mapping[str, Any] | None = None,
    ):
        self.n = int(n)
        self.name = name
        self.params = dict(params or {})
        if indptr is None:
            self.kind = "complete"
            self.indptr: np.ndarray | None = None
            self.indices: np.ndarray | None = None
            self.data: np.ndarray | None = None
            return
        self.kind = "csr"
        indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        data = np.ascontiguousarray(np.ones(len(indices)) if data is None else data, dtype=np.float64)
        where = f"topology '{name}'"
        if indptr.ndim != 1 or len(indptr) != self.n + 1:
            raise ConfigError(f"{where}: indptr must have N+1 = {self.n + 1} entries, got shape {indptr.shape}")
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(indices):
            raise ConfigError(f"{where}: indptr must start at 0, not decrease and end at len(indices) = {len(indices)}")
        if len(data) != len(indices):
            raise ConfigError(f"{where}: data has {len(data)} entries but indices has {len(indices)}")
        if len(indices) and (indices.min() < 0 or indices.max() >= self.n):
            raise ConfigError(f"{where}: indices must lie in [0, {self.n - 1}]")
        if not np.all(np.isfinite(data)):
            raise ConfigError(f"{where}: edge weights must be finite")
        # canonical form: sorted indices, duplicates summed, no explicit zeros kept as edges
        m = _sparse().csr_matrix((data, indices, indptr), shape=(self.n, self.n))
        m.sum_duplicates()
        m.sort_indices()
        self.indptr = m.indptr.astype(np.int64)
        self.indices = m.indices.astype(np.int64)
        self.data = m.data.astype(np.float64)
        for arr in (self.indptr, self.indices, self.data):
            arr.setflags(write=False)

    # --- constructors -----------------------------------------------------------------------------

    @classmethod
    def complete(cls, n: int) -> Topology:
        """The complete graph on n nodes, without a matrix."""
        return cls(n, name="complete")

    @classmethod
    def from_scipy(cls, matrix, *, name: str = "csr", params: Mapping[str, Any] | None = None) -> Topology:
        """From any scipy sparse matrix or array (converted to CSR once)."""
        m = _sparse().csr_matrix(matrix)
        if m.shape[0] != m.shape[1]:
            raise ConfigError(f"topology '{name}': adjacency must be square, got shape {m.shape}")
        return cls(m.shape[0], m.indptr, m.indices, m.data, name=name, params=params)

    @classmethod
    def from_edges(
        cls,
        n: int,
        edges,
        weights=None,
        *,
        directed: bool = False,
        name: str = "edges",
        params: Mapping[str, Any] | None = None,
    ) -> Topology:
        """From an (E, 2) array of node pairs; undirected edges are stored both ways."""
        edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        w = np.ones(len(edges)) if weights is None else np.asarray(weights, dtype=np.float64)
        if len(w) != len(edges):
            raise ConfigError(f"topology '{name}': {len(w)} weights for {len(edges)} edges")
        if len(edges) and (edges.min() < 0 or edges.max() >= n):
            raise ConfigError(f"topology '{name}': edge endpoints must lie in [0, {n - 1}]")
        rows, cols = edges[:, 0], edges[:, 1]
        if not directed:
            keep = rows != cols
            rows, cols, w = (
                np.concatenate([rows, cols[keep]]),
                np.concatenate([cols, rows[keep]]),
                np.concatenate([w, w[keep]]),
            )
        m = _sparse().coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
        return cls.from_scipy(m, name=name, params=params)

    @classmethod
    def ring(cls, n: int, k: int = 1) -> Topology:
        """Each node linked to its k nearest neighbours on each side (degree 2k, for n > 2k)."""
        if k < 0:
            raise ConfigError(f"topology 'ring': k must be >= 0, got {k}")
        k = min(k, (n - 1) // 2)
        offsets = np.concatenate([np.arange(1, k + 1), -np.arange(1, k + 1)])
        i = np.repeat(np.arange(n), len(offsets))
        j = (i + np.tile(offsets, n)) % n
        m = _sparse().csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
        return cls.from_scipy(m, name="ring", params={"k": k})

    # --- properties ---------------------------------------------------------------------------------

    def _csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, indices, data) of a CSR graph."""
        if self.indptr is None or self.indices is None or self.data is None:
            raise ValueError("the complete graph has no CSR arrays; mixing handles it in closed form")
        return self.indptr, self.indices, self.data

    @property
    def n_edges(self) -> int:
        """Number of stored (directed) edges; the complete graph has n*(n-1)."""
        return self.n * (self.n - 1) if self.kind == "complete" else len(self._csr()[1])

    def matrix(self) -> sp.csr_matrix:
        """A as a scipy CSR matrix (not available for the complete graph at large n)."""
        if self.kind == "complete":
            return _sparse().csr_matrix(np.ones((self.n, self.n)) - np.eye(self.n))
        indptr, indices, data = self._csr()
        return _sparse().csr_matrix((data, indices, indptr), shape=(self.n, self.n))

    def degree(self) -> np.ndarray:
        """Weighted out-degree (row sums of A)."""
        if self.kind == "complete":
            return np.full(self.n, float(self.n - 1))
        indptr, _, data = self._csr()
        rows = np.repeat(np.arange(self.n), np.diff(indptr))
        return np.bincount(rows, weights=data, minlength=self.n).astype(np.float64)

    def row_normalised(self) -> sp.csr_matrix:
        """A_hat = D^-1 A (rows of isolated nodes stay zero). Weights must be non-negative."""
        if self.kind == "complete":
            raise ValueError("the complete graph has no matrix; mixing handles it in closed form")
        if self.n_edges and self._csr()[2].min() < 0:
            raise ConfigError(f"topology '{self.name}': mixing needs non-negative edge weights")
        deg = self.degree()
        inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
        return _sparse().csr_matrix(_sparse().diags(inv) @ self.matrix())

    def neighbours(self, i: int) -> np.ndarray:
        """Nodes that node i is linked to."""
        if self.kind == "complete":
            return np.delete(np.arange(self.n), i)
        indptr, indices, _ = self._csr()
        return indices[indptr[i] : indptr[i + 1]]

    def __repr__(self) -> str:
        return f"Topology({self.name!r}, n={self.n}, edges={self.n_edges})"
