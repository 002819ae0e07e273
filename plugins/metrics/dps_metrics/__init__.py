"""Metrics for dps (the `metrics` plugin): the measurements of the Principle of Maximum
Heterogeneity. The functions in `diversity` work on plain arrays and can be used on archived
snapshots without running anything."""

from .diversity import (
    abundances,
    bhattacharyya_profiles,
    circulant_times,
    demand_modes,
    entropy,
    hill_numbers,
    mutual_information,
    profiles_as_distributions,
    ring_kernel_row,
    similarity_times,
    specialisation,
)
from .optimum import ReferenceOptimum, efficacy_of, reference_optimum, split_count
from .robustness import kept_share
from .spatial import (
    correlation_length,
    local_heterogeneity,
    mean_path_length,
    pair_similarity_mean,
    self_sufficiency,
    similarity_by_distance,
    source_distances,
)

__version__ = "0.1.0"
__all__ = [
    "abundances",
    "bhattacharyya_profiles",
    "circulant_times",
    "kept_share",
    "profiles_as_distributions",
    "ring_kernel_row",
    "similarity_times",
    "demand_modes",
    "entropy",
    "hill_numbers",
    "mutual_information",
    "specialisation",
    "source_distances",
    "pair_similarity_mean",
    "similarity_by_distance",
    "correlation_length",
    "mean_path_length",
    "local_heterogeneity",
    "self_sufficiency",
    "ReferenceOptimum",
    "efficacy_of",
    "reference_optimum",
    "split_count",
    "__version__",
]
