"""`dps plot --kind neuroscience.lca`: the stimulus against its reconstruction x_hat = sum_i a_i
phi_i by the population, and the activations a_i (sparse: most neurons silent), at the latest
checkpoint of a sparse-coding archive."""

from __future__ import annotations

import numpy as np

from dps_core import ArchiveError, PlotSpec

__all__ = ["PLOTS", "draw_lca", "reconstruction"]


def reconstruction(ctx) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stimulus x, reconstruction x_hat, activations a) at the latest checkpoint."""
    a, atoms, D = ctx.checkpoint_array("w"), ctx.checkpoint_array("profile/atoms"), ctx.checkpoint_array("demand")
    if a is None or atoms is None or D is None:
        raise ArchiveError(
            f"archive {ctx.archive.path} has no checkpoint with signed atoms (the lca kind needs a sparse-coding run)"
        )
    mask = ctx.checkpoint_array("extras/demand.mask")
    D = np.atleast_2d(D)
    x = D[0] if mask is None or D.shape[0] == 1 else D.sum(axis=0) / np.maximum(mask.sum(axis=0), 1.0)
    return x, a @ atoms, a


def draw_lca(ctx) -> None:
    x, xhat, a = reconstruction(ctx)
    explained = 1.0 - float(((x - xhat) ** 2).sum()) / float(x @ x) if x @ x > 0 else float("nan")
    fig = ctx.figure
    fig.set_size_inches(9.0, 4.0)
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    k = np.arange(len(x))
    left.plot(k, x, color="black", lw=1.8, label="stimulus x")
    left.plot(k, xhat, color="C3", lw=1.5, ls="--", label="reconstruction Σ a_i φ_i")
    left.set_xlabel("input")
    left.set_ylabel("value")
    left.legend(fontsize=8)
    left.set_title(f"explained fraction 1 − ‖x − x̂‖²/‖x‖² = {explained:.3f}", fontsize=9)
    right.stem(np.arange(len(a)), a, basefmt=" ")
    right.set_xlabel("neuron")
    right.set_ylabel("activation a_i")
    right.set_title(f"{int(np.sum(a != 0))} of {len(a)} neurons active", fontsize=9)
    fig.suptitle(ctx.title("sparse code"), fontsize=10)


PLOTS = (
    PlotSpec(
        "neuroscience.lca",
        draw_lca,
        doc="stimulus against its reconstruction by the population, and the sparse activations",
        scenarios=("lca",),
    ),
)
