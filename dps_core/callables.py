"""The call signatures of the callables a plugin puts in its records, as typing Protocols.

A record field typed `ModeUpdate` accepts any function `f(ctx: StepContext) -> Mapping[str,
ndarray]`; a type checker run on a plugin then checks its callables against the contract. These
are types only: the engine never checks them at run time beyond `callable()`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import h5py

    from .assembly import TopologyContext
    from .context import StepContext
    from .plotting import PlotContext
    from .records import Setup
    from .simulation import ScenarioContext, Simulation
    from .topology import Topology

__all__ = [
    "ArrayInit",
    "CommandConfigure",
    "CommandRun",
    "DemandUpdate",
    "GroupDeclare",
    "GroupWrite",
    "LayoutCompute",
    "MetricCompute",
    "ModeDraw",
    "ModeUpdate",
    "PlotDraw",
    "ScenarioBuild",
    "ScenarioSize",
    "ScenarioSummary",
    "SignalAdvance",
    "SignalGradient",
    "SignalUtility",
    "TopologyBuild",
]


class ScenarioBuild(Protocol):
    """`build(ctx) -> Setup`: the arrays of the initial system."""

    def __call__(self, ctx: ScenarioContext, /) -> Setup: ...


class ScenarioSize(Protocol):
    """`size(params) -> (agents, tasks)`, cheap: memory is checked with it before `build`."""

    def __call__(self, params: Any, /) -> tuple[int, int]: ...


class ScenarioSummary(Protocol):
    """`summary(simulation) -> {label: text}`: the scenario's headline result, printed by `dps run`."""

    def __call__(self, simulation: Simulation, /) -> Mapping[str, str]: ...


class TopologyBuild(Protocol):
    """`build(ctx) -> Topology` with `ctx.n_agents` nodes."""

    def __call__(self, ctx: TopologyContext, /) -> Topology: ...


class MetricCompute(Protocol):
    """`compute(ctx) -> float`, or `{output: float}` with exactly the declared outputs."""

    def __call__(self, ctx: StepContext, /) -> float | Mapping[str, float]: ...


class SignalGradient(Protocol):
    """`gradient(ctx) -> G = dU/dZ`, (N x K) or broadcastable to it."""

    def __call__(self, ctx: StepContext, /) -> np.ndarray: ...


class SignalUtility(Protocol):
    """`utility(ctx) -> U`, the signal's utility (reported as productivity)."""

    def __call__(self, ctx: StepContext, /) -> float: ...


class SignalAdvance(Protocol):
    """`advance(ctx) -> {own array: new value}` after a step (prices with memory)."""

    def __call__(self, ctx: StepContext, /) -> Mapping[str, np.ndarray]: ...


class ModeUpdate(Protocol):
    """`update(ctx) -> {name: new array}` for 'w', profile parameters and the mode's own arrays."""

    def __call__(self, ctx: StepContext, /) -> Mapping[str, np.ndarray]: ...


class ModeDraw(Protocol):
    """`draw(ctx) -> {name: array}`: the step's random numbers, drawn with `ctx.rng`."""

    def __call__(self, ctx: StepContext, /) -> Mapping[str, np.ndarray]: ...


class DemandUpdate(Protocol):
    """`update(ctx) -> {"D": new demand, <own array>: new value}` before each step ({} for no
    change); a bare array or None is the deprecated 0.1 style."""

    def __call__(self, ctx: StepContext, /) -> Mapping[str, np.ndarray] | np.ndarray | None: ...


class ArrayInit(Protocol):
    """`init(ctx) -> initial value` of a declared array (reshaped to its declared shape)."""

    def __call__(self, ctx: StepContext, /) -> Any: ...


class GroupDeclare(Protocol):
    """`declare(group, sim)`: create every dataset and attribute before SWMR appends start."""

    def __call__(self, group: h5py.Group, sim: Simulation, /) -> None: ...


class GroupWrite(Protocol):
    """`write(group, sim)` at each record: resize and fill what `declare` made."""

    def __call__(self, group: h5py.Group, sim: Simulation, /) -> None: ...


class CommandConfigure(Protocol):
    """`configure(parser)`: add the subcommand's arguments."""

    def __call__(self, parser: argparse.ArgumentParser, /) -> None: ...


class CommandRun(Protocol):
    """`run(args) -> exit code` (None means 0)."""

    def __call__(self, args: argparse.Namespace, /) -> int | None: ...


class PlotDraw(Protocol):
    """`draw(ctx)`: draw into `ctx.figure` from `ctx.archive`."""

    def __call__(self, ctx: PlotContext, /) -> None: ...


class LayoutCompute(Protocol):
    """`compute(topology, seed) -> (N, 2)` node positions in the plane."""

    def __call__(self, topology: Topology, seed: int, /) -> np.ndarray: ...
