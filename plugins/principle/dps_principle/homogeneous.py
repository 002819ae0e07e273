"""The best homogeneous system at equal resources (law 1's comparison): every agent given the same
profile, its resources those the run started with, the profile found by a grid search."""

from __future__ import annotations

import math

import numpy as np
from dps_metrics import efficacy_of

from dps_core import Simulation

__all__ = ["best_homogeneous", "KAPPAS", "BETAS"]

KAPPAS = tuple(float(k) for k in np.geomspace(0.25, 256.0, 33))  # 33 geometric steps, 0.25 ... 256
BETAS = tuple(float(b) for b in np.arange(0.0, 4.0 + 1e-9, 0.25))  # powers of the demand's shape


def best_homogeneous(config: dict) -> tuple[float, str]:
    """(efficacy, description) of the best homogeneous profile for the system `config` builds, at
    its initial resources. Von Mises: one (mu, kappa) for all, mu at each task position and kappa
    on KAPPAS plus the config's own and its kappa_min (the broadest profile allowed). Free: softmax(beta log d), d the mean demand row, for beta in
    BETAS, and every single-task specialist. Raises ValueError for other profile families."""
    sim = Simulation.from_config(config)
    prof = sim.state.profile
    family = sim.config.profile.family
    best, where = -math.inf, ""
    if family == "vonmises":
        own = float(np.mean(prof["kappa"]))
        broadest = float(sim.config.profile.kappa_min)  # essentially uniform: the grid's open lower edge
        for kappa in sorted({*KAPPAS, own, broadest}):
            prof["kappa"][:] = kappa
            for mu in np.asarray(sim.model.task_positions, dtype=np.float64):
                prof["mu"][:] = mu
                e = efficacy_of(sim)
                if e > best:
                    best, where = e, f"mu = {mu:.3f}, kappa = {kappa:.3g}"
    elif family == "free":
        d = np.asarray(sim.state.demand, dtype=np.float64).mean(axis=0)
        logd = np.log(np.maximum(d, 1e-300))
        k = len(d)
        candidates = [(beta * logd, f"demand shape to the power {beta:g}") for beta in BETAS]
        for task in range(k):
            one_hot = np.full(k, -50.0)  # softmax: a specialist in `task` to within e^-50
            one_hot[task] = 0.0
            candidates.append((one_hot, f"specialist in task {task}"))
        for logits, what in candidates:
            prof["logits"][:] = logits
            e = efficacy_of(sim)
            if e > best:
                best, where = e, what
    else:
        raise ValueError(f"no homogeneous comparison is defined for profile.family = '{family}'")
    return float(best), where
