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


def pytest_report_header(config):
    note = "" if _has_extension() else "; no compiled extension: tests marked 'compiled' are deselected"
    return f"dps_core {dps_core.__version__} from {Path(dps_core.__file__).parent}, kernel backend: {dps_core.backend()}{note}"


def pytest_collection_modifyitems(config, items):
    """Kernel-comparison tests need the extension: deselect them (visibly) where it was not built."""
    if _has_extension():
        return
    keep = [i for i in items if i.get_closest_marker("compiled") is None]
    dropped = [i for i in items if i.get_closest_marker("compiled") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


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


@pytest.fixture(scope="session")
def faults():
    """The fault-injection helpers in tests/faults.py (a module: tests import with importlib mode)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dps_test_faults", REPO / "tests" / "faults.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
