"""The hook contract between dps and its plugins (pluggy project name "dps").

Registration hooks receive a `register` callback and call it with frozen records from
`dps_core.records`; they must not do anything else. Lifecycle hooks are called by the engine at
run start, at every record interval, at every checkpoint and at run end, never inside the kernel
loop. A plugin implements any subset, marking functions with `dps_core.hookimpl`.

This module is part of the stable API: changing a hook's name or arguments is a deliberate act
with a changelog entry and a deprecation path.
"""

from __future__ import annotations

import pluggy

PROJECT = "dps"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "hookspec", "hookimpl"]


# --- registration: records, not behaviour ---------------------------------------------------------


@hookspec
def dps_register_scenarios(register):
    """Register scenarios: call ``register(ScenarioSpec(...))`` for each."""


@hookspec
def dps_register_topologies(register):
    """Register graph families: call ``register(TopologySpec(...))`` for each."""


@hookspec
def dps_register_metrics(register):
    """Register metrics: call ``register(MetricSpec(...))`` for each."""


@hookspec
def dps_register_modes(register):
    """Register coordination modes: ``register(ModeSpec(...))``.

    Modes from a plugin are namespaced by the plugin's name ('walras' from plugin 'economics'
    becomes 'economics.walras'), so they never collide with the core's built-in modes.
    """


@hookspec
def dps_register_signals(register):
    """Register signals (local utilities and their gradients): ``register(SignalSpec(...))``.

    Namespaced by the plugin's name, like modes.
    """


@hookspec
def dps_register_demands(register):
    """Register demand processes: ``register(DemandSpec(...))``. Namespaced like modes."""


@hookspec
def dps_register_archive_groups(register):
    """Register archive groups: ``register(ArchiveGroupSpec(...))``, created at
    /plugins/<plugin>/<name> before SWMR appends start."""


@hookspec
def dps_register_commands(register):
    """Register `dps` subcommands: ``register(CommandSpec(...))``."""


@hookspec
def dps_register_plots(register):
    """Register kinds of figure drawn from archives: ``register(PlotSpec(...))``.

    Plot kinds are not renamed: a plugin prefixes its own ('economics.ricardo'), so they never
    collide with the core's kinds ('timeseries', 'profiles', 'heterogeneity', 'graph').
    """


@hookspec
def dps_register_layouts(register):
    """Register graph layouts for the `graph` plot kind: ``register(LayoutSpec(...))``."""


# --- lifecycle: called at record intervals, never inside the kernel loop ---------------------------


@hookspec
def dps_run_start(simulation):
    """A run is about to take its first step (after the archive layout is declared)."""


@hookspec
def dps_record(simulation, step, metrics):
    """Metrics were recorded at `step`; `metrics` maps series name to value."""


@hookspec
def dps_checkpoint(simulation, step):
    """A checkpoint of the full state was written at `step`."""


@hookspec
def dps_run_end(simulation, status):
    """A run ended; `status` is 'finished', 'converged', 'failed' or 'interrupted'."""
