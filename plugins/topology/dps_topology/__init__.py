"""Graph families for dps (the `topology` plugin).

Config users name a family in `[topology]`; Python users can turn any networkx graph into a
`dps_core.Topology` with `from_networkx` and pass it to `Simulation.from_arrays(topology=...)`.
"""

from .graphs import from_networkx, read_edgelist

__version__ = "0.1.0"
__all__ = ["from_networkx", "read_edgelist", "__version__"]
