"""dps: simulate Distributed Production Systems (heterogeneous agents with limited resources on a
communication graph, producing against an environment's demand).

The names in `__all__` and the hooks in `dps_core.hookspecs` are the stable API; plugins use
nothing else.
"""

from typing import TYPE_CHECKING

from . import params, threads
from ._version import __version__
from .backend import backend  # eager: importing the submodule dps_core.backend would shadow a lazy name
from .config import (
    ArchiveConfig,
    BudgetConfig,
    Component,
    Config,
    DisperseConfig,
    InitConfig,
    LearnConfig,
    MetricsConfig,
    MixingConfig,
    PenaltyConfig,
    ProfileConfig,
    RunConfig,
    load_config,
    parse_override,
)
from .errors import ArchiveError, ConfigError, DPSError, NumericalError, PluginError, ResourceError
from .generic import peak_mixture, ring_positions, wrapped_gaussian
from .hookspecs import hookimpl
from .records import (
    ArchiveGroupSpec,
    ArraySpec,
    CommandSpec,
    DemandSpec,
    LayoutSpec,
    MetricSpec,
    ModeSpec,
    NoParams,
    PlotSpec,
    ScenarioSpec,
    Setup,
    SignalSpec,
    TopologySpec,
)

# Names whose modules import heavy libraries (h5py, scipy.sparse, structlog) load on first use, so
# that `import dps_core` and `dps --help` stay fast; `from dps_core import Simulation` works as usual.
_LAZY = {
    "Archive": "archive",
    "open_archive": "archive",
    "TopologyContext": "assembly",
    "StepContext": "context",
    "rotate_rows": "demand",
    "get_logger": "logs",
    "keep_freed_memory": "malloc",
    "entropy_rows": "model",
    "RunResult": "simulation",
    "ScenarioContext": "simulation",
    "Simulation": "simulation",
    "Sweep": "sweep",
    "PlotContext": "plotting",
    "plot_archive": "plotting",
    "plot_sweep": "plotting",
    "save_figure": "plotting",
    "Topology": "topology",
}

if TYPE_CHECKING:
    from .archive import Archive, open_archive
    from .assembly import TopologyContext
    from .context import StepContext
    from .demand import rotate_rows
    from .logs import get_logger
    from .malloc import keep_freed_memory
    from .model import entropy_rows
    from .plotting import PlotContext, plot_archive, plot_sweep, save_figure
    from .simulation import RunResult, ScenarioContext, Simulation
    from .sweep import Sweep
    from .topology import Topology


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dps_core' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    # engine
    "Simulation",
    "RunResult",
    "StepContext",
    "ScenarioContext",
    "TopologyContext",
    "Topology",
    "backend",
    "threads",
    "keep_freed_memory",
    "Sweep",
    # configuration
    "Config",
    "RunConfig",
    "ProfileConfig",
    "MixingConfig",
    "BudgetConfig",
    "PenaltyConfig",
    "LearnConfig",
    "DisperseConfig",
    "InitConfig",
    "ArchiveConfig",
    "Component",
    "MetricsConfig",
    "load_config",
    "parse_override",
    "params",
    # plugin contract
    "hookimpl",
    "ScenarioSpec",
    "TopologySpec",
    "MetricSpec",
    "SignalSpec",
    "ModeSpec",
    "DemandSpec",
    "ArchiveGroupSpec",
    "CommandSpec",
    "ArraySpec",
    "NoParams",
    "Setup",
    # archives
    "open_archive",
    "Archive",
    # helpers for scenario authors
    "ring_positions",
    "wrapped_gaussian",
    "peak_mixture",
    "rotate_rows",
    "entropy_rows",
    "get_logger",
    # figures (matplotlib, from the [plot] extra, is imported only when drawing)
    "PlotSpec",
    "LayoutSpec",
    "PlotContext",
    "plot_archive",
    "plot_sweep",
    "save_figure",
    # errors
    "DPSError",
    "ConfigError",
    "PluginError",
    "ArchiveError",
    "NumericalError",
    "ResourceError",
]
