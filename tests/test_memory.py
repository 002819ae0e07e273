"""The memory check: before the build it counts the state's arrays, before the first step what a
step adds on its kernel's path; the estimate is checked against the resident memory a step takes."""

import sys
from pathlib import Path

import numpy as np
import pytest

import dps_core
from dps_core import ResourceError, Simulation, assembly
from dps_core.backend import kernel_step_bytes

GIB = 2**30


def _config(n: int, family: str = "free") -> dict:
    # the kernel benchmark's kind of model: a ring of degree 8, shared mixing, coverage signal
    return {
        "run": {"steps": 3, "seed": 3},
        "scenario": {"name": "generic", "agents": n, "tasks": 64},
        "profile": {"family": family, "kappa": 8.0} if family == "vonmises" else {"family": family},
        "topology": {"name": "ring", "k": 4},
        "mixing": {"name": "shared", "gamma": 0.5},
        "signal": {"name": "residual" if family == "signed" else "coverage"},
        "mode": {"name": "gradient", "eta": 0.1},
        "init": {"kind": "random"},
    }


def test_a_state_that_does_not_fit_is_refused_before_it_is_built(monkeypatch):
    monkeypatch.setattr(assembly, "available_memory", lambda: 10 * 2**20)  # 10 MiB
    # 2e5 agents x 64 tasks: logits and capabilities, 2 x 8 x 2e5 x 64 bytes = 0.19 GiB, and a few
    # numbers per agent, do not fit in 80 % of 10 MiB
    with pytest.raises(ResourceError, match=r"a state of 200000 agents x 64 tasks needs about 0\.2\d GiB"):
        Simulation.from_config(_config(200_000))


def test_a_step_that_does_not_fit_is_refused_before_the_first_step(monkeypatch):
    # the build itself takes the memory: plenty before it, 1 MiB left after it
    left = iter([GIB, 2**20])
    monkeypatch.setattr(assembly, "available_memory", lambda: next(left))
    with pytest.raises(ResourceError) as err:
        Simulation.from_config(_config(10_000))
    backend = dps_core.backend()
    assert f"a step of 10000 agents x 64 tasks ({backend} kernel) beyond its state needs about" in str(err.value)
    assert "run.max_memory_fraction = 0.8" in str(err.value)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/self/status")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak resident memory from /proc (Linux)")
@pytest.mark.parametrize("family", ["free", "signed", "vonmises"])
@pytest.mark.parametrize("fused", [True, False])
def test_the_step_estimate_covers_the_resident_memory_a_step_takes(family, fused, monkeypatch):
    if not fused and dps_core.backend() != "compiled":
        pytest.skip("the fused pass is a compiled-kernel path")
    if dps_core.backend() == "compiled":
        from dps_core import compiled

        monkeypatch.setattr(compiled, "FUSED", fused)
    n = 200_000
    sim = Simulation.from_config(_config(n, family))
    estimate = kernel_step_bytes(sim.model, sim.state)
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from the current RSS
    built = _status("VmRSS")
    sim.step(2)
    added = _status("VmHWM") - built
    nk = 8 * n * 64  # one N x K array
    assert np.isfinite(sim.state.w).all()
    # never below what the step took, and never more than one N x K array (0.1 GiB) above it
    assert added <= estimate <= added + nk, (added / GIB, estimate / GIB)
