"""The economics plugin's hooks."""

from dps_core import hookimpl

from .demand import CONSUMERS
from .labour import DIVISION
from .ricardo import RICARDO
from .trade import TRADE
from .welfare import WELFARE


@hookimpl
def dps_register_scenarios(register):
    for spec in (RICARDO, DIVISION, TRADE):
        register(spec)


@hookimpl
def dps_register_demands(register):
    register(CONSUMERS)


@hookimpl
def dps_register_metrics(register):
    register(WELFARE)


@hookimpl
def dps_register_plots(register):
    from .plots import PLOTS

    for spec in PLOTS:
        register(spec)
