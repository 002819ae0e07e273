"""`dps plot --kind economics.ricardo`: Ricardo's prices settling between the two autarky price
ratios, and world output of each good against autarky, from a `ricardo` archive's snapshots."""

from __future__ import annotations

import numpy as np

from dps_core import ArchiveError, PlotSpec

from .ricardo import autarky, world_output

__all__ = ["PLOTS", "draw_ricardo"]


def _snapshots(ctx, name: str) -> tuple[np.ndarray, np.ndarray]:
    g = ctx.archive.f["snapshots"]
    how = 'set run.snapshot_every > 0 (the ricardo scenario snapshots "S" and "signal.price")'
    if name not in g:
        raise ArchiveError(f"archive {ctx.archive.path} has no snapshots of '{name}'; {how}")
    n = min(g["step"].shape[0], g[name].shape[0])
    if n == 0:
        raise ArchiveError(f"archive {ctx.archive.path} has no snapshots of '{name}' yet; {how}")
    return g["step"][:n], g[name][:n]


def draw_ricardo(ctx) -> None:
    """Relative price of the first good over time between the autarky ratios a_i0/a_i1, and world
    output of every good against autarky (equal labour shares, equal budget shares b)."""
    info = ctx.info
    a, L, b = (np.asarray(info[k], dtype=float) for k in ("labour_requirements", "labour", "shares"))
    steps, prices = _snapshots(ctx, "signal.price")
    steps_s, S = _snapshots(ctx, "S")
    goods = ctx.labels("tasks") or [f"good {k}" for k in range(a.shape[1])]
    countries = ctx.labels("agents") or [f"country {i}" for i in range(a.shape[0])]
    p = prices.mean(axis=1) if prices.ndim == 3 else prices  # one price row per node: world market, all equal
    rel = p[:, 0] / p[:, 1]
    fig = ctx.figure
    fig.set_size_inches(9.0, 4.0)
    left, right = fig.subplots(1, 2)
    left.plot(steps, rel, color="black", lw=1.8, label="world market")
    for i, c in enumerate(countries):
        left.axhline(a[i, 0] / a[i, 1], ls=":", color=f"C{i}", label=f"autarky, {c}")
    left.set_xlabel("step")
    left.set_ylabel(f"price of {goods[0]} / price of {goods[1]}")
    left.set_title(f"relative price settles at {rel[-1]:.3f}", fontsize=9)
    left.legend(fontsize=8)
    X = np.array([world_output(a, L, s) for s in S])
    aut = autarky(a, L, b)["world"]
    for k, g in enumerate(goods):
        right.plot(steps_s, X[:, k], color=f"C{k + 2}", lw=1.8, label=g)
        right.axhline(aut[k], color=f"C{k + 2}", ls="--", lw=1, label=f"{g}, autarky")
    right.set_xlabel("step")
    right.set_ylabel("world output (units)")
    right.set_title(
        "world output " + ", ".join(f"{x:.3g}" for x in X[-1]) + " vs autarky " + ", ".join(f"{x:.3g}" for x in aut),
        fontsize=9,
    )
    right.legend(fontsize=8)
    fig.suptitle(ctx.title("Ricardian trade"), fontsize=10)


PLOTS = (
    PlotSpec(
        "economics.ricardo",
        draw_ricardo,
        doc="relative prices between the autarky ratios, and world output against autarky",
        scenarios=("ricardo",),
    ),
)
