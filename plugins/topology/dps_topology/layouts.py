"""Graph layouts for `dps plot --kind graph`: a grid for lattices, a seeded spring layout
(Fruchterman–Reingold, networkx) for the random, scale-free, modular and file-given families.
Small-world graphs keep the core's circle, where their shortcuts show as chords."""

from __future__ import annotations

import math

import numpy as np

from dps_core import LayoutSpec, Topology

__all__ = ["LAYOUTS", "grid_layout", "spring_layout"]


def grid_layout(topology: Topology, seed: int = 0) -> np.ndarray:
    """Node i at (column, -row) of the lattice's rows × cols grid (row-major, as built)."""
    n = topology.n
    rows = int(topology.params.get("rows") or max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0))
    cols = n // rows
    i = np.arange(n)
    return np.column_stack([i % cols, -(i // cols)]).astype(float)


def spring_layout(topology: Topology, seed: int = 0) -> np.ndarray:
    """Fruchterman–Reingold force-directed positions, seeded (the same seed gives the same picture)."""
    A = topology.matrix()
    import networkx as nx  # imported where used: `dps --help` stays fast

    G = nx.from_scipy_sparse_array(A + A.T)
    pos = nx.spring_layout(G, seed=seed)
    return np.array([pos[i] for i in range(topology.n)], dtype=float)


LAYOUTS = (
    LayoutSpec("grid", grid_layout, doc="lattice nodes on their grid", topologies=("lattice",)),
    LayoutSpec(
        "spring",
        spring_layout,
        doc="seeded force-directed layout (networkx spring_layout)",
        topologies=("star", "erdos_renyi", "barabasi_albert", "sbm", "hierarchical", "edgelist", "networkx"),
    ),
)
