"""Neuroscience for dps (the `neuroscience` plugin): sparse coding by local competition (LCA),
tuning learned from generated stimuli, and star versus core-periphery circuits."""

from .coding import lasso, lca_energy, reconstruction_error, response_correlation, soft_threshold
from .plugin import archived_problem
from .stimuli import feature_dictionary, feature_stimuli, pink_noise_patches, two_modality_stimuli

__version__ = "0.1.0"
__all__ = [
    "archived_problem",
    "lasso",
    "lca_energy",
    "reconstruction_error",
    "response_correlation",
    "soft_threshold",
    "feature_dictionary",
    "feature_stimuli",
    "pink_noise_patches",
    "two_modality_stimuli",
    "__version__",
]
