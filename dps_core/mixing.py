"""Mixing operators: gather Z = M Y (supply seen at each node) and scatter H = M^T G.

Scatter is the exact adjoint of gather: <M Y, G> = <Y, M^T G> for every operator, which is why the
price an agent sees equals the planner's gradient. `comm[j]` is the fraction of agent j's output
that travels over edges (the communication term of J is lambda_C * sum_jk comm_j * Y_jk).

- shared:       M = I + gamma * A_hat            (A_hat = row-normalised A; non-rival output)
- conservative: M = I - diag(m) + gamma * A_hat^T (m_j = gamma if j has neighbours; columns sum
                to one, so total supply is preserved)
- mean_field:   M = (1 - gamma) I + gamma * c * 1 1^T, c = 1/N ('mean') or 1 ('sum'); no matrix.
On the complete topology shared and conservative are also computed without a matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import ConfigError
from .topology import Topology

__all__ = ["Mixing"]


def _axpy(x: np.ndarray, g: float, prod: np.ndarray) -> np.ndarray:
    """x + g * prod, written into prod (a fresh product): the same arithmetic, one array fewer."""
    prod *= g
    np.add(x, prod, out=prod)
    return prod


def _wide_index(M: sp.csr_matrix) -> sp.csr_matrix:
    """M with 64-bit index arrays: the compiled kernel then reads them as they are, without a copy."""
    M.indptr = M.indptr.astype(np.int64, copy=False)
    M.indices = M.indices.astype(np.int64, copy=False)
    return M


class Mixing:
    """A mixing operator on a topology (reference implementation, NumPy/SciPy)."""

    def __init__(self, name: str, gamma: float, topology: Topology, pool: str = "mean"):
        self.name = name
        self.gamma = float(gamma)
        self.topology = topology
        self.pool = pool
        n = self.n = topology.n
        if name == "mean_field":
            if topology.kind != "complete":
                raise ConfigError(
                    f"mixing 'mean_field' is the complete graph without a matrix, but topology is "
                    f"'{topology.name}'; use mixing 'shared' or 'conservative' on a graph, or topology 'complete'"
                )
            self.c = 1.0 / n if pool == "mean" else 1.0
            self.comm = np.full(n, self.gamma * self.c * (n - 1))
            return
        if name not in ("shared", "conservative"):
            raise ConfigError(f"unknown mixing '{name}'. Available: shared, conservative, mean_field")
        if topology.kind == "complete":
            has = 1.0 if n > 1 else 0.0
            self.comm = np.full(n, self.gamma * has)
            return
        self.A = _wide_index(topology.row_normalised())
        self.AT = _wide_index(sp.csr_matrix(self.A.T))
        self.has = (topology.degree() > 0).astype(np.float64)
        loops = self.gamma * self.A.diagonal()  # a self loop ships nothing
        if name == "shared":
            self.comm = self.gamma * np.asarray(self.A.sum(axis=0)).ravel() - loops
        else:
            self.m = self.gamma * self.has
            self.comm = self.m - loops

    def _others_mean(self, X: np.ndarray) -> np.ndarray:
        """Row i: mean of the other rows (the row-normalised complete graph applied to X)."""
        if self.n == 1:
            return np.zeros_like(X)
        return (X.sum(axis=0, keepdims=True) - X) / (self.n - 1)

    def gather(self, Y: np.ndarray) -> np.ndarray:
        """Z = M Y."""
        g = self.gamma
        if self.name == "mean_field":  # one N x K array, not two: the same arithmetic in place
            Z = np.multiply(Y, 1 - g)
            Z += g * self.c * Y.sum(axis=0, keepdims=True)
            return Z
        if self.topology.kind == "complete":
            if self.name == "shared":
                return Y + g * self._others_mean(Y)
            return (1 - g * (self.n > 1)) * Y + g * self._others_mean(Y)
        if self.name == "shared":
            return _axpy(Y, g, self.A @ Y)
        return _axpy(Y - self.m[:, None] * Y, g, self.AT @ Y)

    def scatter(self, G: np.ndarray) -> np.ndarray:
        """H = M^T G (the adjoint of gather)."""
        g = self.gamma
        if self.name == "mean_field" or self.topology.kind == "complete":
            return self.gather(G)  # symmetric operators
        if self.name == "shared":
            return _axpy(G, g, self.AT @ G)
        return _axpy(G - self.m[:, None] * G, g, self.A @ G)

    def diagonal(self) -> np.ndarray:
        """M_ii for every node (how much of its own output a node sees)."""
        g = self.gamma
        if self.name == "mean_field":
            return np.full(self.n, (1 - g) + g * self.c)
        if self.topology.kind == "complete":
            return np.full(self.n, 1.0 if self.name == "shared" else 1.0 - g * (self.n > 1))
        own = g * self.A.diagonal()
        return 1.0 + own if self.name == "shared" else 1.0 - self.m + own

    def dense(self) -> np.ndarray:
        """M as a dense matrix (for tests on small systems)."""
        return self.gather(np.eye(self.n))

    def disperse(self, w: np.ndarray, amount: float) -> np.ndarray:
        """Each agent sends `amount` of its resource to its neighbours, split by edge weight."""
        if self.topology.kind == "complete":
            if self.n == 1:
                return w.copy()
            return w - amount * w + amount * (w.sum() - w) / (self.n - 1)
        return w - amount * self.has * w + amount * (self.AT @ w)
