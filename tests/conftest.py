"""Shared fixtures; the session refuses to run against the wrong kernel backend or the source tree.

tox sets DPS_EXPECT_BACKEND ('compiled' or 'reference') and DPS_EXPECT_INSTALLED=1, so a test run
can never silently test the reference kernel from the source tree instead of the installed build.
"""

import os
from pathlib import Path

import pytest

import dps_core

REPO = Path(__file__).resolve().parents[1]


def _has_extension() -> bool:
    try:
        import dps_core._kernel  # noqa: F401
    except ImportError:
        return False
    return True


QUICK_PER_FUNCTION = 12  # parametrised cases kept per test function in the quick run


def _quick() -> bool:
    """The quick developer loop is the default; tox's full environments set DPS_TESTS=full."""
    return os.environ.get("DPS_TESTS", "quick") not in ("full", "no-slow")


def pytest_report_header(config):
    lines = [
        f"dps_core {dps_core.__version__} from {Path(dps_core.__file__).parent}, kernel backend: {dps_core.backend()}"
    ]
    if not _has_extension():
        lines.append(
            "no compiled extension: tests marked 'compiled' (compiled kernel == reference) are deselected, "
            "they run in the 'compiled' tox environment"
        )
    if os.environ.get("DPS_EXPECT_BACKEND") == "reference":
        lines.append(
            "tests marked 'nokernel' (they never step a system) are deselected: they run in the 'compiled' env"
        )
    if os.environ.get("DPS_TESTS") == "no-slow":
        lines.append(
            "slow tests deselected (DPS_TESTS=no-slow): the compiled env runs them, and there the compiled kernel "
            "is checked against this reference kernel within 1e-12 per step"
        )
    if _quick():
        lines.append(
            f"quick run (DPS_TESTS=full runs everything): slow tests deselected except one per file, "
            f"at most {QUICK_PER_FUNCTION} cases per parametrised test"
        )
    return lines


def _quick_selection(items):
    """Every file keeps at least one test; slow tests go; big parametrisations keep an even spread."""
    by_function: dict = {}
    for item in items:
        by_function.setdefault((item.path, getattr(item, "originalname", item.name)), []).append(item)
    keep = []
    for group in by_function.values():
        fast = [i for i in group if i.get_closest_marker("slow") is None]
        if len(fast) > QUICK_PER_FUNCTION:
            step = len(fast) / QUICK_PER_FUNCTION
            fast = [fast[int(j * step)] for j in range(QUICK_PER_FUNCTION)]
        keep += fast
    kept_files = {i.path for i in keep}
    for item in items:  # a file whose tests are all slow still runs its first one
        if item.path not in kept_files:
            keep.append(item)
            kept_files.add(item.path)
    return keep


def pytest_collection_modifyitems(config, items):
    """Deselect (visibly) what this environment does not run; see pytest_report_header."""
    keep = list(items)
    if not _has_extension():
        keep = [i for i in keep if i.get_closest_marker("compiled") is None]
    if os.environ.get("DPS_EXPECT_BACKEND") == "reference":
        keep = [i for i in keep if i.get_closest_marker("nokernel") is None]
    if os.environ.get("DPS_TESTS") == "no-slow":
        keep = [i for i in keep if i.get_closest_marker("slow") is None]
    if _quick():
        keep = _quick_selection(keep)
    kept = set(map(id, keep))
    dropped = [i for i in items if id(i) not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if id(i) in kept]


def pytest_configure(config):
    expected = os.environ.get("DPS_EXPECT_BACKEND")
    if expected and dps_core.backend() != expected:
        from dps_core.backend import compiled_error

        raise pytest.UsageError(
            f"tests expect the '{expected}' kernel backend but dps_core runs '{dps_core.backend()}' ({compiled_error()})"
        )
    if os.environ.get("DPS_EXPECT_INSTALLED") == "1" and Path(dps_core.__file__).resolve().parent == REPO / "dps_core":
        raise pytest.UsageError(
            f"tests import dps_core from the source tree ({dps_core.__file__}), not the installed package"
        )


@pytest.fixture
def small_config():
    """A fast generic config (dict form)."""
    return {
        "run": {"steps": 50, "record_every": 10, "checkpoint_every": 20, "seed": 3},
        "scenario": {"name": "generic", "agents": 12, "tasks": 16, "peaks": 2},
        "profile": {"family": "vonmises", "kappa": 4.0},
        "mode": {"name": "gradient", "eta": 0.2},
    }


def load_file(relative: str, name: str):
    """A repository file as a module (tests run in importlib mode, so helper files are not importable)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def faults():
    """The fault-injection helpers in tests/faults.py."""
    return load_file("tests/faults.py", "dps_test_faults")


@pytest.fixture(scope="session")
def api_snapshot():
    """tests/api_snapshot.py, which writes and compares the public API snapshot."""
    return load_file("tests/api_snapshot.py", "api_snapshot")


@pytest.fixture(scope="session")
def make_figures():
    """docs/make_figures.py, which runs the examples and draws their figures."""
    return load_file("docs/make_figures.py", "make_figures")
