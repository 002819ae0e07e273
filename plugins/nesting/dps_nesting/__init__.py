"""Nested systems for dps (the `nesting` plugin): modules of agents that are themselves agents,
coordinated layer by layer, and the per-layer heterogeneity with its alpha/beta/gamma partition
(docs/nesting.md). The functions work on plain arrays and on archived snapshots."""

from .coordination import apportion, coordinate
from .fit import fit_vonmises, resultant, vonmises_rows
from .hierarchy import Hierarchy, clique_blocks
from .partition import between_modules, power_mean, reeve_partition

__version__ = "0.1.0"
__all__ = [
    "Hierarchy",
    "apportion",
    "between_modules",
    "clique_blocks",
    "coordinate",
    "fit_vonmises",
    "power_mean",
    "reeve_partition",
    "resultant",
    "vonmises_rows",
    "__version__",
]
