"""Store versus recompute: keep a result, or derive it again each time it is used.

After Xu & Li ("Information Physics of Intelligence", arXiv 2511.19156): retrieving a stored
result wins when it is reused often and its derivation is deep; regenerating wins for rarely used
or cheaply derived items; there is a crossover. Our cost model of one item (b bytes, derivation of
depth D levels costing c0 FLOP each, used r times per hour) on one device type:

  keep it:      b * price / (memory capacity)          (memory rented for the hour)
                + r * b / bandwidth * price / 3600       (reading it back, per use)
  derive it:    r * D c0 / peak * price / 3600           (computing it again, per use)

so keeping wins when r (D c0/peak - b/bandwidth) > 3600 b / capacity, i.e. above the crossover
reuse rate r*(D) = 3600 b / (capacity (D c0/peak - b/bandwidth)) (never when deriving is faster
than reading).

In dps the two strategies are agents whose resources are dollars per hour, the items are tasks,
each item's reuse rate is its demand, and an agent's capability on an item is the uses it serves
per dollar: r / (cost of keeping it) for the store, 1 / (cost per derivation) for the recompute
pool. With the cheapest total budget, demand is met only if every item goes to the cheaper
strategy, so the optimised split reproduces the crossover.
"""

from __future__ import annotations

import attrs
import numpy as np

from dps_core import ConfigError, ScenarioSpec, Setup, params

from .catalogue import load_devices

__all__ = ["StoreParams", "STORE_RECOMPUTE", "store_cost", "recompute_cost", "crossover_reuse", "item_grid"]


def store_cost(r, b, dev) -> np.ndarray:
    """$ per hour to keep an item of b bytes used r times per hour (capacity + reads)."""
    r, b = np.asarray(r, float), np.asarray(b, float)
    return (
        b * dev.price_per_hour / (dev.memory_gb * 1e9)
        + r * b / (dev.memory_bandwidth_gbs * 1e9) * dev.price_per_hour / 3600
    )


def recompute_cost(r, depth, flops_per_level, dev) -> np.ndarray:
    """$ per hour to derive an item again at every one of its r uses per hour."""
    r, depth = np.asarray(r, float), np.asarray(depth, float)
    return r * depth * flops_per_level / (dev.peak_bf16_tflops * 1e12) * dev.price_per_hour / 3600


def crossover_reuse(depth, b, flops_per_level, dev) -> np.ndarray:
    """r*(D): above this reuse rate keeping the item is cheaper (inf where deriving is faster than reading)."""
    derive = np.asarray(depth, float) * flops_per_level / (dev.peak_bf16_tflops * 1e12)
    read = b / (dev.memory_bandwidth_gbs * 1e9)
    gap = derive - read
    with np.errstate(divide="ignore"):
        return np.where(gap > 0, 3600 * b / (dev.memory_gb * 1e9) / np.where(gap > 0, gap, 1.0), np.inf)


@attrs.frozen
class StoreParams:
    device: str = params.param("H100-SXM", doc="device type that both keeps and derives the items (catalogue name)")
    item_bytes: float = params.param(1e6, doc="size of an item", unit="bytes", validator=params.positive)
    flops_per_level: float = params.param(
        1e12, doc="work of one level of derivation", unit="FLOP", validator=params.positive
    )
    reuse: tuple[float, ...] = params.param(
        (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0), doc="reuse rates of the item grid", unit="uses per hour"
    )
    depth: tuple[float, ...] = params.param(
        (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0), doc="derivation depths of the item grid", unit="levels"
    )
    slack: float = params.param(
        0.02, doc="budget above the cheapest possible total, as a fraction", validator=params.non_negative
    )

    def __attrs_post_init__(self):
        if not self.reuse or any(r <= 0 for r in self.reuse) or not self.depth or any(d <= 0 for d in self.depth):
            raise ValueError("reuse and depth must list positive values")


def item_grid(p: StoreParams) -> tuple[np.ndarray, np.ndarray]:
    """(reuse, depth) of every item: the grid reuse x depth, reuse varying fastest."""
    R, Dp = np.meshgrid(p.reuse, p.depth)
    return R.ravel(), Dp.ravel()


def _build(ctx) -> Setup:
    p: StoreParams = ctx.params
    devices = load_devices(None)
    if p.device not in devices:
        raise ConfigError(
            f"config key 'scenario.device' names unknown device '{p.device}'; known: {', '.join(sorted(devices))}"
        )
    dev = devices[p.device]
    r, depth = item_grid(p)
    keep, derive = store_cost(r, p.item_bytes, dev), recompute_cost(r, depth, p.flops_per_level, dev)
    scale = r.mean()  # demand in units of the mean reuse rate keeps the optimiser's numbers near 1
    C = np.stack([r / keep, r / derive]) / scale * (np.minimum(keep, derive).sum() / len(r))
    budget = (1 + p.slack) * len(r)  # in units of the mean cheapest cost per item
    return Setup(
        demand=(r / scale)[None, :],
        n_agents=2,
        capability=C,
        resources=np.full(2, budget / 2),
        agent_labels=("store", "recompute"),
        task_labels=tuple(f"r={a:g},D={b:g}" for a, b in zip(r, depth, strict=False)),
        info={
            "reuse": r.tolist(),
            "depth": depth.tolist(),
            "store_cost": keep.tolist(),
            "recompute_cost": derive.tolist(),
            "dollars_per_unit": float(np.minimum(keep, derive).sum() / len(r)),
        },
    )


STORE_RECOMPUTE = ScenarioSpec(
    "store_recompute",
    _build,
    lambda p: (2, len(p.reuse) * len(p.depth)),
    StoreParams,
    defaults={
        "run": {"steps": 30000, "dt": 0.05, "record_every": 500},
        "profile": {"family": "free"},
        "topology": {"name": "complete"},
        "mixing": {"name": "mean_field", "gamma": 1.0, "pool": "sum"},
        "signal": {"name": "coverage", "smoothing": 0.01},
        "mode": {"name": "gradient", "eta": 2.0, "eta_w": 2.0},
        "budget": {"kind": "total", "equality": True},
        "metrics": {"names": ["efficacy", "specialisation", "hill"]},
        "archive": {"snapshots": ["S", "w"]},
    },
    doc="keep results or derive them again, for items over a grid of reuse rates and derivation depths",
)
