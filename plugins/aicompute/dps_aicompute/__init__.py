"""AI compute for dps (the `aicompute` plugin): accelerators as agents with roofline
capabilities over workload phases, heterogeneous clusters at equal cost, store versus recompute,
and `dps aicompute redesign`."""

from .catalogue import CATALOGUE, Device, load_devices
from .workload import PHASES, Workload, capabilities, roofline

__version__ = "0.1.0"
__all__ = ["CATALOGUE", "Device", "load_devices", "PHASES", "Workload", "capabilities", "roofline", "__version__"]
