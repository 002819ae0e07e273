"""The core's built-in plugin (registered like any other, as pytest does for its own plugins).

It carries only what a run cannot do without: the generic scenario, the complete (mean-field) and
ring topologies plus CSR arrays you give it, the built-in signals, modes and demand processes of
the kernel, and the objective's own terms (productivity U, efficacy, effective productivity J,
efficiency), and the core's plot kinds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import numpy as np

from . import params as P
from .demand import DEMANDS
from .errors import ConfigError
from .generic import GENERIC
from .hookspecs import hookimpl
from .modes import MODES
from .records import LayoutSpec, MetricSpec, PlotSpec, TopologySpec

if TYPE_CHECKING:
    from .topology import Topology
from .signals import SIGNALS

# --- topologies ---------------------------------------------------------------------------------------


def _complete(ctx) -> Topology:
    from .topology import Topology  # scipy.sparse: imported when a graph is built

    return Topology.complete(ctx.n_agents)


@attrs.frozen
class RingParams:
    k: int = P.param(1, doc="neighbours on each side (degree 2k)", validator=P.non_negative)


def _ring(ctx) -> Topology:
    from .topology import Topology  # scipy.sparse: imported when a graph is built

    return Topology.ring(ctx.n_agents, ctx.params.k)


@attrs.frozen
class CSRParams:
    file: str = P.param(doc="path of an .npz file holding arrays 'indptr', 'indices' and (optional) 'data'")


def _csr(ctx) -> Topology:
    from .topology import Topology  # scipy.sparse: imported when a graph is built

    path = Path(ctx.params.file)
    if not path.is_absolute() and ctx.base_dir is not None:
        path = ctx.base_dir / path
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"indptr", "indices"} - set(f.files)
            if missing:
                raise ConfigError(f"topology 'csr': {path} lacks array(s) {sorted(missing)}; it has {sorted(f.files)}")
            arrays = {k: f[k] for k in ("indptr", "indices", "data") if k in f.files}
    except ConfigError:
        raise
    except (OSError, ValueError) as exc:
        raise ConfigError(f"topology 'csr': cannot read {path} (config key 'topology.file'): {exc}") from None
    n = len(arrays["indptr"]) - 1
    if n != ctx.n_agents:
        raise ConfigError(f"topology 'csr': {path} has {n} nodes but the scenario has {ctx.n_agents} agents")
    return Topology(n, arrays["indptr"], arrays["indices"], arrays.get("data"), name="csr", params={"file": str(path)})


TOPOLOGIES = (
    TopologySpec("complete", _complete, doc="every agent linked to every other; no matrix (mean field)"),
    TopologySpec("ring", _ring, RingParams, doc="a ring, each node linked to its k nearest neighbours on each side"),
    TopologySpec("csr", _csr, CSRParams, doc="CSR arrays you give (an .npz with indptr, indices, data)"),
)


# --- the objective's own metrics ------------------------------------------------------------------------


def total_demand(ctx) -> float:
    """Demand summed over all nodes (a global demand row counts once per node)."""
    D = ctx.D
    return float(D.sum()) * (ctx.n_agents if D.shape[0] == 1 else 1)


def _productivity(ctx):
    return ctx.utility()


def _efficacy(ctx):
    total = total_demand(ctx)
    return ctx.utility() / total if total > 0 else float("nan")


def _effective(ctx):
    return ctx.objective()


def _efficiency(ctx):
    used = float(np.abs(ctx.w).sum())
    return ctx.utility() / used if used > 0 else float("nan")


METRICS = (
    MetricSpec("productivity", _productivity, doc="U: the signal's utility (demand met, for coverage)"),
    MetricSpec("efficacy", _efficacy, doc="U / total demand"),
    MetricSpec(
        "effective_productivity", _effective, doc="J = U minus resource, communication and specialisation penalties"
    ),
    MetricSpec("efficiency", _efficiency, doc="U / total resource sum |w|"),
)


# --- hooks ---------------------------------------------------------------------------------------------


@hookimpl
def dps_register_scenarios(register):
    register(GENERIC)


@hookimpl
def dps_register_topologies(register):
    for spec in TOPOLOGIES:
        register(spec)


@hookimpl
def dps_register_metrics(register):
    for spec in METRICS:
        register(spec)


@hookimpl
def dps_register_signals(register):
    for spec in SIGNALS:
        register(spec)


@hookimpl
def dps_register_modes(register):
    for spec in MODES:
        register(spec)


@hookimpl
def dps_register_demands(register):
    for spec in DEMANDS:
        register(spec)


# --- figures: the core's plot kinds and the fallback graph layout (matplotlib imported when drawing) ----


@hookimpl
def dps_register_plots(register):
    from . import plotting as pl

    register(PlotSpec("timeseries", pl.draw_timeseries, doc="chosen metrics against step, one panel each"))
    register(
        PlotSpec(
            "profiles", pl.draw_profiles, doc="skill profiles at a snapshot, sorted by preferred task, under the demand"
        )
    )
    register(PlotSpec("heterogeneity", pl.draw_heterogeneity, doc="Hill numbers over time against the demand's modes"))
    register(PlotSpec("graph", pl.draw_graph, doc="the topology, nodes coloured by preferred task (≤ 2,000 nodes)"))


@hookimpl
def dps_register_layouts(register):
    from . import plotting as pl

    register(
        LayoutSpec("circle", pl.circle_layout, doc="nodes on a circle in index order", topologies=("complete", "ring"))
    )
