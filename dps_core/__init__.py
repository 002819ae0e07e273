"""dps: simulate Distributed Production Systems (heterogeneous agents with limited resources on a
communication graph, producing against an environment's demand).

The names in `__all__` and the hooks in `dps_core.hookspecs` are the stable API; plugins use
nothing else.
"""

from . import params
from ._version import __version__
from .archive import Archive, open_archive
from .backend import backend
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
from .context import StepContext
from .demand import rotate_rows
from .errors import ArchiveError, ConfigError, DPSError, NumericalError, PluginError, ResourceError
from .generic import peak_mixture, ring_positions, wrapped_gaussian
from .hookspecs import hookimpl
from .logs import get_logger
from .model import entropy_rows
from .plotting import PlotContext, plot_archive, plot_sweep, save_figure
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
from .simulation import RunResult, ScenarioContext, Simulation, TopologyContext
from .topology import Topology

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
