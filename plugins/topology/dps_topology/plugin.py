"""The topology plugin's hooks: one TopologySpec per graph family, with validated parameters.

Parameters that depend on the number of agents N are checked when the graph is built; errors
name the config key (`topology.<name>`) and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import attrs
import numpy as np

from dps_core import ConfigError, TopologySpec, hookimpl, params

from . import graphs
from .layouts import LAYOUTS


def _bad(key: str, message: str) -> ConfigError:
    return ConfigError(f"config key 'topology.{key}' {message}")


# --- parameters ---------------------------------------------------------------------------------------


@attrs.frozen
class LatticeParams:
    rows: int | None = params.param(
        None, doc="rows of the grid (a divisor of N); absent: the most square grid", validator=params.positive
    )
    periodic: bool = params.param(True, doc="wrap around (a torus) or not")
    neighbourhood: Literal["von_neumann", "moore"] = params.param("von_neumann", doc="4 neighbours or 8")


@attrs.frozen
class ErdosRenyiParams:
    p: float | None = params.param(None, doc="link probability of each pair", validator=params.probability)
    mean_degree: float | None = params.param(
        None, doc="expected degree (sets p = mean_degree / (N - 1))", validator=params.non_negative
    )

    def __attrs_post_init__(self):
        if (self.p is None) == (self.mean_degree is None):
            raise ValueError("give exactly one of 'p' and 'mean_degree'")


@attrs.frozen
class WattsStrogatzParams:
    k: int = params.param(4, doc="degree of the starting ring lattice (even)", validator=params.at_least(2))
    p: float = params.param(0.1, doc="rewiring probability of each edge", validator=params.probability)

    def __attrs_post_init__(self):
        if self.k % 2:
            raise ValueError(f"k must be even (k/2 neighbours on each side), got {self.k}")


@attrs.frozen
class BarabasiAlbertParams:
    m: int = params.param(2, doc="edges each new node brings", validator=params.at_least(1))


@attrs.frozen
class SBMParams:
    sizes: tuple[int, ...] = params.param((), doc="block sizes in node order (sum N); absent: `blocks` equal blocks")
    blocks: int = params.param(2, doc="number of equal blocks when `sizes` is absent", validator=params.at_least(1))
    p_in: float = params.param(0.1, doc="link probability within a block", validator=params.probability)
    p_out: float = params.param(0.01, doc="link probability between blocks", validator=params.probability)
    p: tuple[tuple[float, ...], ...] = params.param(
        (), doc="full symmetric block probability matrix (overrides p_in, p_out)"
    )

    def __attrs_post_init__(self):
        if any(s <= 0 for s in self.sizes):
            raise ValueError(f"sizes must be positive, got {list(self.sizes)}")
        if self.p:
            P = np.asarray(self.p, dtype=float)
            nb = len(self.sizes) or self.blocks
            if P.shape != (nb, nb) or not np.allclose(P, P.T) or P.min() < 0 or P.max() > 1:
                raise ValueError(f"p must be a symmetric {nb} x {nb} matrix of probabilities in [0, 1]")


@attrs.frozen
class HierarchicalParams:
    branching: tuple[int, ...] = params.param((4, 4), doc="modules per module at each depth, outermost first")
    p: tuple[float, ...] = params.param(
        (0.001, 0.01, 0.2),
        doc="link probability by depth of the smallest common module, outermost first; len(branching) + 1 values",
    )

    def __attrs_post_init__(self):
        if not self.branching or any(b < 1 for b in self.branching):
            raise ValueError(f"branching must be a non-empty list of positive integers, got {list(self.branching)}")
        if len(self.p) != len(self.branching) + 1 or any(not 0 <= q <= 1 for q in self.p):
            raise ValueError(
                f"p must hold len(branching) + 1 = {len(self.branching) + 1} probabilities in [0, 1], got {list(self.p)}"
            )


@attrs.frozen
class EdgeListParams:
    file: str = params.param(
        doc="edge-list file: 'u v' or 'u v weight' per line, nodes 0..N-1, '#' comments; relative to the config file"
    )
    directed: bool = params.param(False, doc="'u v' means u's output reaches v only (else both ways)")
    weighted: bool = params.param(False, doc="a third column holds the edge weight")


# --- builders ------------------------------------------------------------------------------------------


def _lattice(ctx):
    n, prm = ctx.n_agents, ctx.params
    rows = prm.rows
    if rows is None:
        rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    elif n % rows:
        raise _bad("rows", f"must divide the number of agents N = {n}, got {rows}")
    return graphs.lattice(n, rows, prm.periodic, prm.neighbourhood)


def _star(ctx):
    return graphs.star(ctx.n_agents)


def _erdos_renyi(ctx):
    n, prm = ctx.n_agents, ctx.params
    p = prm.p if prm.p is not None else (prm.mean_degree / (n - 1) if n > 1 else 0.0)
    if p > 1:
        raise _bad("mean_degree", f"must be at most N - 1 = {n - 1}, got {prm.mean_degree}")
    return graphs.erdos_renyi(n, p, ctx.rng)


def _watts_strogatz(ctx):
    n, prm = ctx.n_agents, ctx.params
    if prm.k >= n:
        raise _bad("k", f"must be smaller than the number of agents N = {n}, got {prm.k}")
    return graphs.watts_strogatz(n, prm.k, prm.p, ctx.rng)


def _barabasi_albert(ctx):
    n, prm = ctx.n_agents, ctx.params
    if prm.m >= n:
        raise _bad("m", f"must be smaller than the number of agents N = {n}, got {prm.m}")
    return graphs.barabasi_albert(n, prm.m, ctx.rng)


def _sbm(ctx):
    n, prm = ctx.n_agents, ctx.params
    if prm.sizes:
        sizes = list(prm.sizes)
        if sum(sizes) != n:
            raise _bad("sizes", f"must sum to the number of agents N = {n}, got {sum(sizes)}")
    else:
        if prm.blocks > n:
            raise _bad("blocks", f"must be at most the number of agents N = {n}, got {prm.blocks}")
        edges = np.linspace(0, n, prm.blocks + 1).round().astype(int)
        sizes = list(np.diff(edges))
    nb = len(sizes)
    P = np.asarray(prm.p, dtype=float) if prm.p else np.full((nb, nb), prm.p_out) + np.eye(nb) * (prm.p_in - prm.p_out)
    return graphs.stochastic_block(sizes, P, ctx.rng)


def _hierarchical(ctx):
    n, prm = ctx.n_agents, ctx.params
    leaves = math.prod(prm.branching)
    if leaves > n:
        raise _bad("branching", f"makes {leaves} innermost modules, more than the N = {n} agents")
    return graphs.hierarchical(n, list(prm.branching), list(prm.p), ctx.rng)


def _edgelist(ctx):
    path = Path(ctx.params.file)
    if not path.is_absolute() and ctx.base_dir is not None:
        path = ctx.base_dir / path
    return graphs.read_edgelist(path, ctx.n_agents, directed=ctx.params.directed, weighted=ctx.params.weighted)


TOPOLOGIES = (
    TopologySpec("lattice", _lattice, LatticeParams, doc="2-D grid (torus if periodic), 4 or 8 neighbours"),
    TopologySpec("star", _star, doc="node 0 linked to every other node"),
    TopologySpec("erdos_renyi", _erdos_renyi, ErdosRenyiParams, doc="each pair linked with probability p (G(n, p))"),
    TopologySpec(
        "watts_strogatz",
        _watts_strogatz,
        WattsStrogatzParams,
        doc="small world: ring of degree k, edges rewired with probability p",
    ),
    TopologySpec(
        "barabasi_albert",
        _barabasi_albert,
        BarabasiAlbertParams,
        doc="scale-free: preferential attachment, m edges per new node",
    ),
    TopologySpec(
        "sbm", _sbm, SBMParams, doc="stochastic block model: modules with link probabilities within and between"
    ),
    TopologySpec(
        "hierarchical",
        _hierarchical,
        HierarchicalParams,
        doc="modules within modules, any depth, link probability by depth",
    ),
    TopologySpec("edgelist", _edgelist, EdgeListParams, doc="a graph from an edge-list file"),
)


@hookimpl
def dps_register_topologies(register):
    for spec in TOPOLOGIES:
        register(spec)


@hookimpl
def dps_register_layouts(register):
    for spec in LAYOUTS:
        register(spec)
