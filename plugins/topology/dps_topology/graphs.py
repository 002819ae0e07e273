"""Builders of graph families as `dps_core.Topology` (CSR, converted once).

networkx generators where they scale to 10^5 nodes in seconds (Erdős–Rényi, Watts–Strogatz,
Barabási–Albert, star); scipy sparse constructions where networkx is too slow (lattices as
Kronecker sums, stochastic block and hierarchical graphs sampled block by block with
`scipy.sparse.random`). Undirected graphs are stored both ways with weight 1.

Direction convention (dps's): row i of the adjacency lists the nodes whose output node i
receives. A directed networkx edge u -> v or an edge-list line "u v" means u's output reaches v.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dps_core import ConfigError, Topology

if TYPE_CHECKING:
    import scipy.sparse as sp


def _sparse():
    """scipy.sparse, imported when a graph is built (not when dps starts: `dps --help` stays fast)."""
    import scipy.sparse

    return scipy.sparse


__all__ = [
    "from_networkx",
    "read_edgelist",
    "lattice",
    "star",
    "erdos_renyi",
    "watts_strogatz",
    "barabasi_albert",
    "stochastic_block",
    "hierarchical",
]


def from_networkx(G, *, weight: str | None = "weight", name: str = "networkx") -> Topology:
    """A networkx graph as a Topology; nodes are taken in sorted order (insertion order if they
    cannot be sorted), so node i of the Topology is the i-th node of that order."""
    import networkx as nx  # imported where used: `dps --help` stays fast

    nodes = list(G.nodes())
    try:
        nodes = sorted(nodes)
    except TypeError:
        pass
    A = nx.to_scipy_sparse_array(G, nodelist=nodes, weight=weight, format="csr", dtype=np.float64)
    if G.is_directed():
        A = A.T.tocsr()  # edge u -> v: v receives u's output
    return Topology.from_scipy(A, name=name, params={"nodes": len(nodes), "edges": G.number_of_edges()})


def _nx(G, n: int, name: str, params: dict) -> Topology:
    import networkx as nx  # imported where used: `dps --help` stays fast

    A = nx.to_scipy_sparse_array(G, nodelist=range(n), weight=None, format="csr", dtype=np.float64)
    return Topology.from_scipy(A, name=name, params=params)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**32 - 1))


def _line(m: int, periodic: bool) -> sp.csr_matrix:
    """Adjacency of a path (or a cycle) of m nodes."""
    if m == 1:
        return _sparse().csr_matrix((1, 1))
    A = _sparse().diags([np.ones(m - 1), np.ones(m - 1)], [-1, 1], format="lil")
    if periodic and m > 2:
        A[0, m - 1] = 1
        A[m - 1, 0] = 1
    return _sparse().csr_matrix(A)


def lattice(n: int, rows: int, periodic: bool, neighbourhood: str) -> Topology:
    """A rows x (n/rows) grid; von Neumann (4 neighbours) or Moore (8), periodic or not."""
    cols = n // rows
    R, Cc = _line(rows, periodic), _line(cols, periodic)
    Ir, Ic = _sparse().identity(rows, format="csr"), _sparse().identity(cols, format="csr")
    A = _sparse().kron(Ir, Cc) + _sparse().kron(R, Ic)
    if neighbourhood == "moore":
        A = A + _sparse().kron(R, Cc)
    A = _sparse().csr_matrix(A)
    A.eliminate_zeros()  # kron keeps the explicit zeros of its block format
    A.data[:] = 1.0
    return Topology.from_scipy(
        A, name="lattice", params={"rows": rows, "cols": cols, "periodic": periodic, "neighbourhood": neighbourhood}
    )


def star(n: int) -> Topology:
    """Node 0 is the hub, linked to every other node."""
    import networkx as nx  # imported where used: `dps --help` stays fast

    return _nx(nx.star_graph(n - 1), n, "star", {"hub": 0})


def erdos_renyi(n: int, p: float, rng: np.random.Generator) -> Topology:
    """G(n, p): each pair linked independently with probability p."""
    import networkx as nx  # imported where used: `dps --help` stays fast

    return _nx(nx.fast_gnp_random_graph(n, p, seed=_seed(rng)), n, "erdos_renyi", {"p": p})


def watts_strogatz(n: int, k: int, p: float, rng: np.random.Generator) -> Topology:
    """Ring of degree k, each edge rewired with probability p (Watts & Strogatz 1998)."""
    import networkx as nx  # imported where used: `dps --help` stays fast

    return _nx(nx.watts_strogatz_graph(n, k, p, seed=_seed(rng)), n, "watts_strogatz", {"k": k, "p": p})


def barabasi_albert(n: int, m: int, rng: np.random.Generator) -> Topology:
    """Preferential attachment, each new node bringing m edges (Barabási & Albert 1999)."""
    import networkx as nx  # imported where used: `dps --help` stays fast

    return _nx(nx.barabasi_albert_graph(n, m, seed=_seed(rng)), n, "barabasi_albert", {"m": m})


def _block(na: int, nb: int, p: float, rng: np.random.Generator) -> sp.coo_matrix:
    """Each of the na*nb entries present independently with probability p: a binomial edge
    count, then that many distinct positions uniformly (scipy.sparse.random)."""
    if p <= 0 or na == 0 or nb == 0:
        return _sparse().coo_matrix((na, nb))
    m = int(rng.binomial(na * nb, p))
    return _sparse().random(na, nb, density=m / (na * nb), format="coo", rng=rng, data_rvs=np.ones)


def _assemble(n: int, blocks: list[tuple[int, int, sp.coo_matrix]]) -> sp.csr_matrix:
    """Upper-triangle blocks (offsets and samples) to a symmetric adjacency without self loops."""
    rows = [b.row + ra for ra, _, b in blocks]
    cols = [b.col + ca for _, ca, b in blocks]
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    keep = r < c  # diagonal blocks: keep the strict upper triangle only
    r, c = r[keep], c[keep]
    A = _sparse().coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n)).tocsr()
    A = A + A.T
    A.data[:] = 1.0
    return A


def stochastic_block(sizes: list[int], P: np.ndarray, rng: np.random.Generator) -> Topology:
    """Stochastic block model: nodes in blocks of the given sizes (in order), a pair in blocks
    (a, b) linked with probability P[a, b] (Holland, Laskey & Leinhardt 1983)."""
    n = int(sum(sizes))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    blocks = []
    for a in range(len(sizes)):
        for b in range(a, len(sizes)):
            blocks.append((offsets[a], offsets[b], _block(sizes[a], sizes[b], float(P[a, b]), rng)))
    return Topology.from_scipy(
        _assemble(n, blocks), name="sbm", params={"sizes": list(map(int, sizes)), "p": np.asarray(P).tolist()}
    )


def hierarchical(n: int, branching: list[int], p: list[float], rng: np.random.Generator) -> Topology:
    """Modules within modules: the n nodes split into branching[0] modules, each into
    branching[1] submodules, and so on. Two nodes whose smallest common module is at depth d
    (0: only the whole graph) are linked with probability p[d]; p has len(branching) + 1 entries
    and p[-1] applies within the innermost modules."""
    blocks: list[tuple[int, int, sp.coo_matrix]] = []

    def split(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
        edges = np.linspace(lo, hi, parts + 1).round().astype(int)
        return [(edges[i], edges[i + 1]) for i in range(parts)]

    def recurse(lo: int, hi: int, depth: int) -> None:
        if depth == len(branching):
            blocks.append((lo, lo, _block(hi - lo, hi - lo, p[depth], rng)))
            return
        kids = split(lo, hi, branching[depth])
        for i, (alo, ahi) in enumerate(kids):
            for blo, bhi in kids[i + 1 :]:
                blocks.append((alo, blo, _block(ahi - alo, bhi - blo, p[depth], rng)))
            recurse(alo, ahi, depth + 1)

    recurse(0, n, 0)
    return Topology.from_scipy(
        _assemble(n, blocks), name="hierarchical", params={"branching": list(branching), "p": list(p)}
    )


def read_edgelist(path: str | Path, n: int, *, directed: bool = False, weighted: bool = False) -> Topology:
    """A whitespace-separated edge-list file: 'u v' (or 'u v weight') per line, nodes 0..n-1,
    '#' comments. Errors name the file and the line."""
    path = Path(path)
    edges, weights = [], []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"topology 'edgelist': cannot read {path} (config key 'topology.file'): {exc}") from None
    for lineno, raw in enumerate(lines, 1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        want = 3 if weighted else 2
        if len(parts) != want:
            raise ConfigError(f"{path}:{lineno}: expected {'u v weight' if weighted else 'u v'}, got {raw.strip()!r}")
        try:
            u, v = int(parts[0]), int(parts[1])
            w = float(parts[2]) if weighted else 1.0
        except ValueError:
            raise ConfigError(
                f"{path}:{lineno}: node ids must be integers{' and the weight a number' if weighted else ''}, "
                f"got {raw.strip()!r}"
            ) from None
        if not (0 <= u < n and 0 <= v < n):
            raise ConfigError(
                f"{path}:{lineno}: node ids must lie in [0, {n - 1}] (the scenario has {n} agents), got {u} {v}"
            )
        if not math.isfinite(w):
            raise ConfigError(f"{path}:{lineno}: weight must be finite, got {parts[2]!r}")
        edges.append((v, u) if directed else (u, v))  # u's output reaches v: row v lists u
        weights.append(w)
    return Topology.from_edges(
        n,
        np.array(edges, dtype=np.int64).reshape(-1, 2),
        weights,
        directed=directed,
        name="edgelist",
        params={"file": str(path), "directed": directed, "weighted": weighted},
    )
