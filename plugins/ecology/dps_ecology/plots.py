"""Ecology's figures: `ecology.densities` (Lotka–Volterra densities over time against the interior
equilibrium B N* = r) and `ecology.biodiversity` (Tilman's productivity of each plot against its
richness, with the sampling-effect expectation)."""

from __future__ import annotations

import numpy as np

from dps_core import ArchiveError, PlotSpec, params

from .communities import BiodiversityParams, expected_productivity
from .competition import LVParams, beta, lv_equilibrium

__all__ = ["PLOTS", "draw_densities", "draw_biodiversity"]


def _params(table: dict) -> dict:
    """A component's parameters from its config table (the table minus its name)."""
    return {k: v for k, v in table.items() if k != "name"}


def draw_densities(ctx) -> None:
    """Biomass of every species (the resources w) at each snapshot, with the interior equilibrium
    N* (solving B N* = r, B_ij = r_i alpha_ij / K_i) dashed when it is feasible."""
    g = ctx.archive.f["snapshots"]
    n = min(g["step"].shape[0], g["w"].shape[0]) if "w" in g else 0
    if n == 0:
        raise ArchiveError(
            f"archive {ctx.archive.path} has no snapshots of 'w' (the densities); set run.snapshot_every > 0"
        )
    steps, W = g["step"][:n], g["w"][:n]
    dt = float(ctx.config["run"]["dt"])
    names = ctx.labels("agents") or [f"species {i}" for i in range(W.shape[1])]
    fig = ctx.figure
    fig.set_size_inches(7.0, 4.2)
    ax = fig.subplots()
    star = None
    if ctx.scenario == "lotka_volterra":
        prm = params.build(LVParams, _params(ctx.config["scenario"]), "scenario")
        star = lv_equilibrium(np.asarray(prm.growth, dtype=float), beta(prm))
    for i, name in enumerate(names):
        ax.plot(steps * dt, W[:, i], color=f"C{i}", lw=1.8, label=name)
        if star is not None and np.all(star > 0):
            ax.axhline(star[i], color=f"C{i}", ls="--", lw=1, label=f"{name}: N* = {star[i]:.4g}")
    ax.set_xlabel("time")
    ax.set_ylabel("density (biomass)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    final = ", ".join(f"{x:.4g}" for x in W[-1])
    ax.set_title(f"final densities {final}", fontsize=9)
    fig.suptitle(ctx.title("densities"), fontsize=10)


def plot_productivity(ctx) -> tuple[np.ndarray, np.ndarray]:
    """(richness, productivity) of every plot at the latest checkpoint: productivity is the biomass
    made per unit time, e R_plot sum_{i in plot} w_i C_i (at equilibrium e (I - l R*_min))."""
    w, C = ctx.checkpoint_array("w"), ctx.checkpoint_array("C")
    R, patch = ctx.checkpoint_array("extras/signal.R"), ctx.checkpoint_array("extras/signal.patch")
    if any(x is None for x in (w, C, R, patch)):
        raise ArchiveError(f"archive {ctx.archive.path} has no checkpoint of a biodiversity run")
    e = float(ctx.config["signal"].get("conversion", 1.0))
    rich = np.asarray(ctx.info["richness"])
    made = e * w * C[:, 0] * R[:, 0]
    prod = np.zeros(len(rich))
    np.add.at(prod, patch.astype(np.int64), made)
    return rich, prod


def draw_biodiversity(ctx) -> None:
    """Each plot's productivity against its richness, the mean per richness, and Tilman's
    sampling-effect expectation e (I - l (lo + (hi - lo)/(S + 1)))."""
    rich, prod = plot_productivity(ctx)
    prm = params.build(BiodiversityParams, _params(ctx.config["scenario"]), "scenario")
    sig = ctx.config["signal"]
    loss, e = float(sig.get("loss", 1.0)), float(sig.get("conversion", 1.0))
    levels = np.unique(rich)
    rng = np.random.default_rng(0)  # jitter only, for visibility
    fig = ctx.figure
    fig.set_size_inches(7.0, 4.5)
    ax = fig.subplots()
    ax.scatter(rich * np.exp(rng.uniform(-0.08, 0.08, len(rich))), prod, s=10, alpha=0.4, color="C0", label="plots")
    means = np.array([prod[rich == s].mean() for s in levels])
    ax.plot(levels, means, "o-", color="C1", lw=1.8, label="mean over plots")
    S = np.geomspace(levels.min(), levels.max(), 100)
    exp = [expected_productivity(s, prm.inflow, loss, prm.rstar_low, prm.rstar_high, e) for s in S]
    ax.plot(S, exp, "k--", lw=1.2, label="expected (sampling effect)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(int(s)) for s in levels])
    ax.set_xlabel("species sown (richness)")
    ax.set_ylabel("productivity (biomass per time)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("mean " + ", ".join(f"{m:.3g}" for m in means), fontsize=9)
    fig.suptitle(ctx.title("productivity against richness"), fontsize=10)


PLOTS = (
    PlotSpec(
        "ecology.densities",
        draw_densities,
        doc="species densities over time against the Lotka–Volterra equilibrium",
        scenarios=("lotka_volterra",),
    ),
    PlotSpec(
        "ecology.biodiversity",
        draw_biodiversity,
        doc="Tilman: each plot's productivity against richness, with the sampling-effect expectation",
        scenarios=("biodiversity",),
    ),
)
