"""Economics for dps (the `economics` plugin): Ricardian trade with prices as signals, the
division of labour by learning by doing, and trade between economies on a graph."""

from .ricardo import autarky, planner_optimum, world_output

__version__ = "0.1.0"
__all__ = ["autarky", "planner_optimum", "world_output", "__version__"]
