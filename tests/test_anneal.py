"""Annealed, payoff-directed exploration noise of the ascent modes (drawn outside the kernel)."""

import numpy as np
import pytest

from dps_core import ConfigError, Simulation
from dps_core.modes import AscentParams, noise_factor


def test_anneal_schedule_is_linear_to_zero():
    p = AscentParams(noise=0.3, anneal=100.0)
    assert [noise_factor(p, t) for t in (0.0, 25.0, 100.0, 150.0)] == [1.0, 0.75, 0.0, 0.0]
    assert noise_factor(AscentParams(noise=0.3), 1e9) == 1.0


def test_bad_anneal_and_explore_are_config_errors():
    with pytest.raises(ConfigError, match="anneal"):
        Simulation.from_config({"mode": {"name": "gradient", "anneal": -1.0}})
    with pytest.raises(ConfigError, match="explore"):
        Simulation.from_config({"mode": {"name": "gradient", "explore": "everyone"}})


def run(mode, steps):
    sim = Simulation.from_config({"run": {"seed": 3}, "scenario": {"agents": 16, "tasks": 16}, "mode": mode})
    sim.step(steps)
    return sim.state.profile["mu"].copy()


def test_noise_stops_at_the_annealing_time():
    # after t = anneal no noise is drawn: from then on the run is plain gradient ascent, so two runs
    # that differ only in steps taken after the annealing time agree with plain ascent continued
    noisy = {"name": "gradient", "noise": 0.2, "anneal": 20.0}
    a = Simulation.from_config({"run": {"seed": 3}, "scenario": {"agents": 16, "tasks": 16}, "mode": noisy})
    a.step(20)
    b = Simulation.from_config(
        {"run": {"seed": 3}, "scenario": {"agents": 16, "tasks": 16}, "mode": {"name": "gradient"}}
    )
    b.state.profile["mu"][:] = a.state.profile["mu"]
    a.step(30)
    b.step(30)
    assert np.array_equal(a.state.profile["mu"], b.state.profile["mu"])
    assert not np.array_equal(run(noisy, 20), run({"name": "gradient"}, 20))  # the noise did act before


def test_payoff_exploration_spares_the_best_paid_agent():
    from dps_core.modes import _poorly_paid

    sim = Simulation.from_config(
        {"run": {"seed": 1}, "scenario": {"agents": 8, "tasks": 16}, "init": {"kind": "random"}}
    )
    f = _poorly_paid(sim.context())
    _, v = sim.context().gradients()
    assert f[np.argmax(v)] == 0.0
    assert np.all((f >= 0) & (f <= 1))
    assert f == pytest.approx(1 - v / v.max())


def test_every_kernel_applies_the_annealed_payoff_noise_alike():
    # the schedule and the payoff scaling live in the draws, so the compiled kernel (when built) and
    # the NumPy reference take the same steps
    from dps_core import reference

    cfg = {
        "run": {"seed": 2},
        "scenario": {"agents": 24, "tasks": 32, "peaks": 4, "width": 0.1},
        "profile": {"kappa": 40.0},
        "mode": {"name": "gradient", "eta": 0.02, "noise": 0.3, "anneal": 30.0, "explore": "payoff"},
    }
    a = Simulation.from_config(cfg)
    b = Simulation.from_config(cfg)
    b._step = reference.step
    a.step(40)
    b.step(40)
    np.testing.assert_allclose(a.state.profile["mu"], b.state.profile["mu"], rtol=0, atol=1e-12)
