"""The committed protocol of `dps principle` (docs/principle.md): each law's embedded base config,
its designs (full and `--quick`), its statistics with their minimum effect sizes or bands, and its
negative control. Changing a number here changes the protocol: docs/principle.md must say so."""

from __future__ import annotations

import copy
from typing import Any

from .stats import Rule

__all__ = ["SEEDS", "QUICK_SEEDS", "LAWS", "RULES", "CONTROLS", "base_config", "design"]

SEEDS = 8  # replicates per design point
QUICK_SEEDS = 4
LAWS = ("law1", "law2", "law3", "law4")

CO_RISE = "co-rise"
ADVANTAGE = "advantage"
TRACKING = "tracking"
SATURATION = "saturation"
SCALE = "scale"

RULES: dict[str, tuple[Rule, ...]] = {
    "law1": (
        Rule(CO_RISE, "Spearman rho of the Hill number (q = 1) and efficacy over the time course", minimum=0.5),
        Rule(ADVANTAGE, "final efficacy minus the best homogeneous system's at equal resources", minimum=0.02),
    ),
    "law2": (
        Rule(TRACKING, "least-squares slope of the final Hill number H on the demand's modes M", minimum=0.5),
        Rule(SATURATION, "mean over the design points of H / M", band=(0.75, 1.25)),
    ),
    "law3": (Rule(SCALE, "Spearman rho of the mean shortest path L and the correlation length xi", minimum=0.5),),
    "law4": (
        Rule(CO_RISE, "Spearman rho of layer-2 between-module H2 and system efficacy over time", minimum=0.5),
        Rule(TRACKING, "least-squares slope of the final H2 on the layer-2 demand modes M2", minimum=0.5),
        Rule(SATURATION, "mean over the design points of H2 / M2", band=(0.75, 1.25)),
    ),
}

CONTROLS = {
    "law1": "eta = 0: nothing is optimised",
    "law2": "one demand peak: every peak at the same centre",
    "law3": "no trade over a shuffled graph: mixing.gamma = 0 on the rings with permuted node labels",
    "law4": "modules unable to differ: every ask split equally",
}

# reported beside a law's control, not judged with it (docs/principle.md, amendments 2 and 3):
# each switches off one ingredient of the experiment; the label names the statistic's variant
DIAGNOSTICS = {
    "law3": {
        "permuted labels": "the same rings with their node labels randomly permuted",
        "rewired": "each ring rewired by degree-preserving double edge swaps",
        "no trade": "mixing.gamma = 0 on the experiment's rings",
    }
}

_GENERIC: dict[str, Any] = {
    "run": {"steps": 2000, "seed": 1, "record_every": 20, "checkpoint_every": 500},
    "scenario": {"name": "generic", "agents": 48, "tasks": 64, "peaks": 3, "width": 0.3},
    "profile": {"family": "vonmises", "kappa": 8.0},
    "topology": {"name": "complete"},
    "mixing": {"name": "mean_field", "gamma": 1.0},
    "signal": {"name": "coverage", "smoothing": 0.02},
    "mode": {"name": "gradient", "eta": 0.1},
    "init": {"kind": "homogeneous", "perturbation": 0.01},
}

_SPATIAL_RING: dict[str, Any] = {
    **_GENERIC,
    "run": {"steps": 3000, "seed": 1, "record_every": 100, "checkpoint_every": 1000},
    "scenario": {"name": "generic", "agents": 240, "tasks": 64, "peaks": 3, "width": 0.3, "turns": 1.0},
    "topology": {"name": "ring", "k": 1},
    "mixing": {"name": "conservative", "gamma": 0.5},
}

_NESTED: dict[str, Any] = {
    "run": {"steps": 2000, "seed": 1, "record_every": 50, "checkpoint_every": 500},
    "scenario": {"name": "nested", "peaks": 3},
    "demand": {"name": "nesting.coordination", "asks": "planned"},
    "mode": {"name": "gradient", "eta": 0.1},
}

_BASES = {"law1": _GENERIC, "law2": _GENERIC, "law3": _SPATIAL_RING, "law4": _NESTED}

# (full, quick) design of each law
_DESIGNS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "law1": ({"steps": 2000, "record_every": 20}, {"steps": 600, "record_every": 20}),
    "law2": (
        {"steps": 4000, "record_every": 200, "anneal": 3000, "peaks": [1, 2, 3, 4, 6]},
        {"steps": 1500, "record_every": 100, "anneal": 1000, "peaks": [1, 2, 4]},
    ),
    "law3": (
        {"steps": 3000, "record_every": 100, "agents": 240, "k": [1, 2, 4, 8]},
        {"steps": 1000, "record_every": 100, "agents": 120, "k": [1, 2, 4]},
    ),
    "law4": (
        {"steps": 2000, "record_every": 50, "peaks": [1, 2, 3, 4, 5, 6]},
        {"steps": 600, "record_every": 20, "peaks": [1, 3, 5]},
    ),
}

# law 2's two profile classes: (profile.kappa, scenario.width, mode.eta); both explore with
# payoff-directed noise annealed to zero
LAW2_CLASSES = {"broad": (8.0, 0.3, 0.1), "narrow": (40.0, 0.1, 0.02)}
LAW2_NOISE = 0.3

CORR_MAX_DISTANCE = 32  # the spatial_correlation metric's default max_distance: the censoring length


def base_config(law: str) -> dict[str, Any]:
    """A copy of the law's embedded base config."""
    return copy.deepcopy(_BASES[law])


def design(law: str, quick: bool) -> dict[str, Any]:
    """A copy of the law's full or quick design."""
    return copy.deepcopy(_DESIGNS[law][1 if quick else 0])
