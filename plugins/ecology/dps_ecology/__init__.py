"""Ecology for dps (the `ecology` plugin): consumer-resource and Lotka-Volterra competition,
biodiversity and productivity, adaptive radiation and spatial insurance."""

from .communities import expected_productivity, loreau_hector, macarthur_to_lotka_volterra
from .competition import lv_equilibrium, two_species_equilibrium, two_species_outcome

__version__ = "0.1.0"
__all__ = [
    "expected_productivity",
    "loreau_hector",
    "macarthur_to_lotka_volterra",
    "lv_equilibrium",
    "two_species_equilibrium",
    "two_species_outcome",
    "__version__",
]
