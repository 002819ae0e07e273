"""The Principle measured (the `principle` plugin): each law of the Principle of Maximum
Heterogeneity as an experiment with a negative control, a committed statistic, a confidence
interval over seeds and a verdict (docs/principle.md). `dps principle` runs them."""

from .experiments import LawResult, Settings, run_law
from .homogeneous import best_homogeneous
from .stats import Outcome, Rule, judge, slope, spearman, t_interval

__version__ = "0.1.0"
__all__ = [
    "LawResult",
    "Outcome",
    "Rule",
    "Settings",
    "best_homogeneous",
    "judge",
    "run_law",
    "slope",
    "spearman",
    "t_interval",
    "__version__",
]
