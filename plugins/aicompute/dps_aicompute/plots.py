"""`dps plot --kind aicompute.mix`: a cluster's device mix, devices of each type split by the
workload phase they serve, as the dps dynamics reached it and as the global optimum (the linear
programme with whole devices) has it, at the same budget."""

from __future__ import annotations

import numpy as np

from dps_core import ArchiveError, PlotSpec, params

from .cluster import ClusterParams, cluster_problem, whole_mix

__all__ = ["PLOTS", "draw_mix"]


def _stack(ax, H: np.ndarray, devices: list[str], phases: list[str], title: str, counts=None) -> None:
    left = np.zeros(H.shape[0])
    for k, phase in enumerate(phases):
        ax.barh(devices, H[:, k], left=left, color=f"C{k}", label=phase)
        left += H[:, k]
    for i, total in enumerate(left if counts is None else counts):
        ax.text(left[i], i, f" {total:.1f}" if counts is None else f" {total}", va="center", fontsize=8)
    ax.set_xlabel("devices")
    ax.set_title(title, fontsize=9)


def draw_mix(ctx) -> None:
    w, S = ctx.checkpoint_array("w"), ctx.checkpoint_array("profile/logits")
    if w is None:
        raise ArchiveError(f"archive {ctx.archive.path} has no checkpoint")
    if ctx.has_snapshots("S"):
        step, S = ctx.snapshot_array("S")
        _, w = ctx.snapshot_array("w")
    else:
        step = ctx.archive.last_step
        S = np.exp(S - S.max(axis=1, keepdims=True))
        S /= S.sum(axis=1, keepdims=True)
    devices = ctx.labels("agents")
    phases = ctx.labels("tasks")
    prm = params.build(ClusterParams, {k: v for k, v in ctx.config["scenario"].items() if k != "name"}, "scenario")
    _, C, d, prices = cluster_problem(prm, None)
    X, m, H = whole_mix(C, d, prices, prm.budget)
    dyn = w[:, None] * S
    ts = ctx.series(["throughput"]) if "throughput" in ctx.archive.f["timeseries"] else None
    fig = ctx.figure
    fig.set_size_inches(10.0, 3.8)
    a, b = fig.subplots(1, 2)
    reached = f", {ts['throughput'][-1]:.4g} req/h" if ts is not None and len(ts["step"]) else ""
    _stack(a, dyn, devices, phases, f"dps dynamics at step {step}{reached}")
    _stack(b, H, devices, phases, f"optimum of whole devices (MILP), {X:.4g} req/h", counts=m)
    top = max(dyn.sum(axis=1).max(), H.sum(axis=1).max()) * 1.15
    a.set_xlim(0, top)
    b.set_xlim(0, top)
    fig.legend(*a.get_legend_handles_labels(), fontsize=7, loc="outside right center")
    fig.suptitle(ctx.title(f"device mix at ${prm.budget:.0f} per hour"), fontsize=10)


PLOTS = (
    PlotSpec(
        "aicompute.mix",
        draw_mix,
        doc="devices of each type by workload phase: the dps dynamics against the LP optimum",
        scenarios=("cluster",),
    ),
)
