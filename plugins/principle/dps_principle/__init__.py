"""The Principle measured (the `principle` plugin): each law of the Principle of Maximum
Heterogeneity as an experiment with a negative control, a committed statistic, a confidence
interval over seeds and a verdict (docs/principle.md). `dps principle` runs them.

The names below load on first use, so that discovering the plugin (`dps --help`) imports no
engine, sweep or SciPy code."""

from importlib import import_module

__version__ = "0.1.0"
_WHERE = {
    "LawResult": "experiments",
    "Settings": "experiments",
    "run_law": "experiments",
    "best_homogeneous": "homogeneous",
    "Outcome": "stats",
    "Rule": "stats",
    "judge": "stats",
    "slope": "stats",
    "spearman": "stats",
    "t_interval": "stats",
}
__all__ = [*sorted(_WHERE), "__version__"]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
