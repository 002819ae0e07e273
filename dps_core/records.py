"""The frozen records plugins register through the `dps_register_*` hooks.

A record names a thing (scenario, topology, metric, coordination mode, signal, demand process,
archive group, CLI command), documents it, declares its parameters as an attrs class (see
`dps_core.params`) and the extra state arrays it keeps, and points at NumPy callables. Records are
data: registering one has no side effect, and two records with one name are an error naming both
plugins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import numpy as np

from .callables import (
    ArrayInit,
    CommandConfigure,
    CommandRun,
    DemandUpdate,
    GroupDeclare,
    GroupWrite,
    LayoutCompute,
    MetricCompute,
    ModeDraw,
    ModeUpdate,
    PlotDraw,
    ScenarioBuild,
    ScenarioSize,
    ScenarioSummary,
    SignalAdvance,
    SignalGradient,
    SignalUtility,
    TopologyBuild,
)

__all__ = [
    "NoParams",
    "ArraySpec",
    "Setup",
    "ScenarioSpec",
    "TopologySpec",
    "MetricSpec",
    "SignalSpec",
    "ModeSpec",
    "DemandSpec",
    "ArchiveGroupSpec",
    "CommandSpec",
    "PlotSpec",
    "LayoutSpec",
    "RECORD_KINDS",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")


def _as_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _valid_name(_inst, _attr, value):
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"record name {value!r} must be letters, digits, '_' or '-', optionally dotted "
            "(e.g. 'ricardo' or 'economics.walras')"
        )


def _callable(_inst, attr, value):
    if not callable(value):
        raise TypeError(f"record field '{attr.name}' must be callable, got {type(value).__name__}")


def _optional_callable(inst, attr, value):
    if value is not None:
        _callable(inst, attr, value)


@attrs.frozen
class NoParams:
    """Parameter class of a record that takes no parameters."""


_SYMBOLS = ("agents", "tasks", "demand_rows")


def _shape(_inst, _attr, value):
    for d in value:
        if not (isinstance(d, int) and d > 0) and d not in _SYMBOLS:
            raise ValueError(f"array shape entries must be positive ints or one of {_SYMBOLS}; got {d!r}")


@attrs.frozen
class ArraySpec:
    """An extra state array a mode, signal or demand process keeps.

    The engine allocates it (the scenario's initial value if it gives one, else `init(ctx)` if
    given, else filled with `fill`), passes it
    to the owner's callables, archives and checkpoints it, so exact resume holds for plugins too.
    Shape entries are ints or the symbols 'agents', 'tasks', 'demand_rows'.
    """

    name: str = attrs.field(validator=_valid_name)
    shape: tuple[int | str, ...] = attrs.field(converter=_as_tuple, validator=_shape)
    fill: float = 0.0
    doc: str = ""
    dtype: str = attrs.field(default="float64", validator=attrs.validators.in_(("float64", "int64")))
    init: ArrayInit | None = attrs.field(default=None, validator=_optional_callable)

    def resolve(self, n_agents: int, n_tasks: int, demand_rows: int) -> tuple[int, ...]:
        """The concrete shape for a system of the given size."""
        sizes = {"agents": n_agents, "tasks": n_tasks, "demand_rows": demand_rows}
        return tuple(sizes[d] if isinstance(d, str) else d for d in self.shape)


def _opt_array(value):
    return None if value is None else np.ascontiguousarray(value, dtype=np.float64)


@attrs.define(eq=False)
class Setup:
    """What a scenario builds: the arrays of the initial system.

    Only `demand` is required. Anything left as None is made by the engine from the config
    (`[init]`, `[topology]`): task positions default to the ring x_k = 2*pi*k/K, capabilities to
    ones, resources to `init.w`, profiles to a homogeneous start plus a seeded perturbation.
    """

    demand: np.ndarray = attrs.field(converter=np.asarray)
    n_agents: int
    task_positions: np.ndarray | None = attrs.field(default=None, converter=_opt_array)
    task_similarity: np.ndarray | None = attrs.field(default=None, converter=_opt_array)
    capability: np.ndarray | None = attrs.field(default=None, converter=_opt_array)
    resources: np.ndarray | None = attrs.field(default=None, converter=_opt_array)
    profile: Mapping[str, np.ndarray] | None = None
    topology: Any = None
    extras: Mapping[str, np.ndarray] = attrs.field(factory=dict)
    costs: np.ndarray | None = attrs.field(default=None, converter=_opt_array)
    agent_labels: tuple[str, ...] | None = None
    task_labels: tuple[str, ...] | None = None
    info: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ScenarioSpec:
    """A named recipe for a system: `build(ctx) -> Setup`.

    `size(params) -> (agents, tasks)` must be cheap: the engine checks memory with it before
    anything is allocated. `defaults` are config tables applied under the user's config (a
    sparse-coding scenario sets its profile family, mixing, signal and mode this way).
    `summary(simulation) -> {label: text}`, when given, states the scenario's headline result
    (prices and outputs, densities, productivity by richness); `dps run` prints it after the
    metrics.
    """

    name: str = attrs.field(validator=_valid_name)
    build: ScenarioBuild = attrs.field(validator=_callable)
    size: ScenarioSize = attrs.field(validator=_callable)
    params: type = NoParams
    defaults: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    doc: str = ""
    summary: ScenarioSummary | None = attrs.field(default=None, validator=_optional_callable)


@attrs.frozen
class TopologySpec:
    """A named graph family: `build(ctx) -> Topology` for `ctx.n_agents` nodes."""

    name: str = attrs.field(validator=_valid_name)
    build: TopologyBuild = attrs.field(validator=_callable)
    params: type = NoParams
    doc: str = ""


@attrs.frozen
class MetricSpec:
    """A named measurement: `compute(ctx) -> float | {output: float}`.

    `outputs` lists the time series it produces (default: one, named like the metric); they are
    declared in the archive before a run starts, so a metric must always return the same keys.
    """

    name: str = attrs.field(validator=_valid_name)
    compute: MetricCompute = attrs.field(validator=_callable)
    outputs: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    params: type = NoParams
    doc: str = ""

    @property
    def series(self) -> tuple[str, ...]:
        """Names of the time series this metric writes."""
        return self.outputs or (self.name,)


@attrs.frozen
class SignalSpec:
    """A local utility U and its signal G = dU/dZ.

    `gradient(ctx) -> G` (N x K), `utility(ctx) -> float` (the U reported as productivity);
    `smoothed_utility(ctx)`, when given, is the function `gradient` differentiates exactly (for a
    smoothed signal); `advance(ctx) -> {array: new value}` updates the signal's own arrays after a
    step (prices with memory).
    """

    name: str = attrs.field(validator=_valid_name)
    gradient: SignalGradient = attrs.field(validator=_callable)
    utility: SignalUtility = attrs.field(validator=_callable)
    params: type = NoParams
    arrays: tuple[ArraySpec, ...] = attrs.field(default=(), converter=_as_tuple)
    advance: SignalAdvance | None = attrs.field(default=None, validator=_optional_callable)
    smoothed_utility: SignalUtility | None = attrs.field(default=None, validator=_optional_callable)
    doc: str = ""


@attrs.frozen
class ModeSpec:
    """A coordination mode: `update(ctx) -> {name: new array}` for 'w', profile parameters and
    the mode's own arrays. `scatter=False` means agents see their own node's signal G instead of
    H = M^T G. `families` lists the profile families it supports (empty: all). `draw(ctx) ->
    {name: array}` makes the step's random numbers with `ctx.rng` before the update (the update
    reads them from `ctx.draws`). `signed_resources=True` lets w be negative (LCA activations).
    """

    name: str = attrs.field(validator=_valid_name)
    update: ModeUpdate = attrs.field(validator=_callable)
    params: type = NoParams
    arrays: tuple[ArraySpec, ...] = attrs.field(default=(), converter=_as_tuple)
    scatter: bool = True
    families: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    draw: ModeDraw | None = attrs.field(default=None, validator=_optional_callable)
    signed_resources: bool = False
    doc: str = ""


@attrs.frozen
class DemandSpec:
    """A demand process: `update(ctx) -> {"D": new demand, <own array>: new value}` before each
    step, outside the kernel; `{}` changes nothing. Its own arrays reach it as copies: like modes
    and signals it returns what changes and never changes the state in place. (Returning a bare
    array or None is the deprecated 0.1 style, still accepted with a DeprecationWarning.)"""

    name: str = attrs.field(validator=_valid_name)
    update: DemandUpdate = attrs.field(validator=_callable)
    params: type = NoParams
    arrays: tuple[ArraySpec, ...] = attrs.field(default=(), converter=_as_tuple)
    doc: str = ""


@attrs.frozen
class ArchiveGroupSpec:
    """A plugin's group in the archive, at /plugins/<plugin>/<name>, with its own version.

    `declare(group, sim)` creates every dataset and attribute before SWMR appends start (objects
    created later are lost on a crash); `write(group, sim)` runs at each record and may only
    resize and fill what `declare` made.
    """

    name: str = attrs.field(validator=_valid_name)
    version: str
    declare: GroupDeclare = attrs.field(validator=_callable)
    write: GroupWrite | None = attrs.field(default=None, validator=_optional_callable)
    doc: str = ""


@attrs.frozen
class CommandSpec:
    """A `dps` subcommand: `configure(parser)` adds arguments, `run(args) -> exit code`."""

    name: str = attrs.field(validator=_valid_name)
    help: str
    configure: CommandConfigure = attrs.field(validator=_callable)
    run: CommandRun = attrs.field(validator=_callable)


@attrs.frozen
class PlotSpec:
    """A kind of figure drawn from an archive (`dps plot --kind NAME`): `draw(ctx)` draws into
    `ctx.figure` from `ctx.archive` (a `dps_core.PlotContext`) and raises `ArchiveError` with one
    line when the archive lacks what it needs. `scenarios` lists the scenarios for which this kind
    is the default view (`dps plot` without `--kind`).
    """

    name: str = attrs.field(validator=_valid_name)
    draw: PlotDraw = attrs.field(validator=_callable)
    doc: str = ""
    scenarios: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)


@attrs.frozen
class LayoutSpec:
    """A way to place a graph's nodes in the plane: `compute(topology, seed) -> (N, 2) array`.

    `topologies` lists the graph families (topology names) for which it is the default layout of
    the `graph` plot kind; `dps plot --layout NAME` picks any registered one.
    """

    name: str = attrs.field(validator=_valid_name)
    compute: LayoutCompute = attrs.field(validator=_callable)
    doc: str = ""
    topologies: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)


#: record kind -> (record class, registration hook name)
RECORD_KINDS: dict[str, tuple[type, str]] = {
    "scenario": (ScenarioSpec, "dps_register_scenarios"),
    "topology": (TopologySpec, "dps_register_topologies"),
    "metric": (MetricSpec, "dps_register_metrics"),
    "mode": (ModeSpec, "dps_register_modes"),
    "signal": (SignalSpec, "dps_register_signals"),
    "demand": (DemandSpec, "dps_register_demands"),
    "archive_group": (ArchiveGroupSpec, "dps_register_archive_groups"),
    "command": (CommandSpec, "dps_register_commands"),
    "plot": (PlotSpec, "dps_register_plots"),
    "layout": (LayoutSpec, "dps_register_layouts"),
}
