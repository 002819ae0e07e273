"""The AI-compute plugin's hooks."""

from dps_core import hookimpl

from .cluster import CLUSTER, PER_COST, THROUGHPUT
from .redesign import REDESIGN
from .storage import STORE_RECOMPUTE


@hookimpl
def dps_register_scenarios(register):
    register(CLUSTER)
    register(STORE_RECOMPUTE)


@hookimpl
def dps_register_metrics(register):
    register(THROUGHPUT)
    register(PER_COST)


@hookimpl
def dps_register_commands(register):
    register(REDESIGN)


@hookimpl
def dps_register_plots(register):
    from .plots import PLOTS

    for spec in PLOTS:
        register(spec)
