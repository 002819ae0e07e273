"""Trade between two economies on a graph.

Two economies of workers, each a ring of local trade (every worker linked to its `local_k`
nearest neighbours on each side), joined by `links` trade links between random pairs of workers.
Economy A is better at good 0 (capability `advantage`) and worse at good 1 (1/advantage); economy B
the reverse. Households demand both goods; goods are rival and travel one link (conservative
mixing). With no links each economy must make both goods itself (autarky); each link lets the
workers around it specialise by comparative advantage.
"""

from __future__ import annotations

import attrs
import numpy as np

from dps_core import ScenarioSpec, Setup, Topology, params

__all__ = ["TradeParams", "TRADE", "two_economies"]


@attrs.frozen
class TradeParams:
    workers: int = params.param(40, doc="workers per economy", validator=params.at_least(3))
    links: int = params.param(4, doc="trade links between the economies", validator=params.non_negative)
    local_k: int = params.param(
        2, doc="local trade: neighbours on each side within an economy", validator=params.at_least(1)
    )
    advantage: float = params.param(
        2.0,
        doc="capability in the good an economy is better at (1/advantage in the other)",
        validator=params.at_least(1.0),
    )
    demand: float = params.param(
        0.6, doc="each household's demand for each good", unit="goods per time", validator=params.positive
    )


def two_economies(n: int, local_k: int, links: int, rng: np.random.Generator) -> Topology:
    """Two rings of n nodes (nodes 0..n-1 and n..2n-1) joined by `links` distinct random edges."""
    ring = Topology.ring(n, local_k)
    rows = np.repeat(np.arange(n), np.diff(ring.indptr))
    edges = [np.stack([rows, ring.indices], axis=1), np.stack([rows + n, ring.indices + n], axis=1)]
    links = min(links, n * n)
    pairs = rng.choice(n * n, size=links, replace=False)
    cross = np.stack([pairs // n, n + pairs % n], axis=1)
    both = np.concatenate([cross, cross[:, ::-1]])
    all_edges = np.concatenate([*edges, both])
    return Topology.from_edges(
        2 * n,
        all_edges,
        directed=True,
        name="two_economies",
        params={"workers": n, "local_k": local_k, "links": int(links)},
    )


def _size(p: TradeParams) -> tuple[int, int]:
    return 2 * p.workers, 2


def _build(ctx) -> Setup:
    p: TradeParams = ctx.params
    n = p.workers
    C = np.empty((2 * n, 2))
    C[:n] = (p.advantage, 1.0 / p.advantage)
    C[n:] = (1.0 / p.advantage, p.advantage)
    topo = two_economies(n, p.local_k, p.links, ctx.rng)
    return Setup(
        demand=np.full((1, 2), p.demand),
        n_agents=2 * n,
        capability=C,
        topology=topo,
        agent_labels=tuple(f"A{i}" for i in range(n)) + tuple(f"B{i}" for i in range(n)),
        task_labels=("good 0", "good 1"),
        info={"economy_A": [0, n], "economy_B": [n, 2 * n]},
    )


TRADE = ScenarioSpec(
    "trade_network",
    _build,
    _size,
    TradeParams,
    defaults={
        "run": {"steps": 3000, "dt": 0.2, "record_every": 100},
        "profile": {"family": "free"},
        "mixing": {"name": "conservative", "gamma": 0.6},
        "signal": {"name": "coverage", "smoothing": 0.05},
        "mode": {"name": "gradient", "eta": 1.0},
        "metrics": {"names": ["efficacy", "specialisation", "hill"]},
    },
    doc="two economies with opposite comparative advantages, joined by trade links on a graph",
)
