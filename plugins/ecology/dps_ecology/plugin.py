"""The ecology plugin's hooks."""

from dps_core import hookimpl

from .communities import BIODIVERSITY, CONSUMER_RESOURCE, METACOMMUNITY, RADIATION
from .competition import LOTKA_VOLTERRA
from .metrics import BIOMASS, RICHNESS
from .resources import RESOURCES


@hookimpl
def dps_register_scenarios(register):
    for spec in (LOTKA_VOLTERRA, CONSUMER_RESOURCE, BIODIVERSITY, RADIATION, METACOMMUNITY):
        register(spec)


@hookimpl
def dps_register_signals(register):
    register(RESOURCES)


@hookimpl
def dps_register_metrics(register):
    register(BIOMASS)
    register(RICHNESS)


@hookimpl
def dps_register_plots(register):
    from .plots import PLOTS

    for spec in PLOTS:
        register(spec)
