"""Lotka-Volterra competition against its closed forms: the two-species equilibrium, the
coexistence condition, exclusion, bistability, overyielding, and the Loreau-Hector partition."""

import numpy as np
import pytest
from dps_ecology import loreau_hector, lv_equilibrium, two_species_equilibrium, two_species_outcome

from dps_core import ConfigError, Simulation


def lv(**scenario):
    run = scenario.pop("run", {})
    sim = Simulation.from_config({"scenario": {"name": "lotka_volterra", **scenario}, "run": {"steps": 60000, **run}})
    result = sim.run()
    return sim.state.w, result


@pytest.mark.parametrize(
    "K1,K2,a12,a21",
    [
        (1.0, 1.0, 0.5, 0.5),  # symmetric: N* = K/(1 + a) = 2/3 each
        (1.5, 1.0, 0.4, 0.5),  # our own: N1* = (1.5 - 0.4)/(1 - 0.2) = 1.375, N2* = (1 - 0.75)/0.8 = 0.3125
        (2.0, 3.0, 0.3, 1.2),  # our own: N1* = (2 - 0.9)/0.64, N2* = (3 - 2.4)/0.64
    ],
)
def test_two_species_coexistence_equilibrium(K1, K2, a12, a21):
    """N1* = (K1 - a12 K2)/(1 - a12 a21), N2* = (K2 - a21 K1)/(1 - a12 a21) (Gause; Lotka 1925,
    Volterra 1926), reached when a12 < K1/K2 and a21 < K2/K1."""
    assert two_species_outcome(K1, K2, a12, a21) == "coexistence"
    w, result = lv(growth=[1.0, 0.7], capacity=[K1, K2], alpha=[[1, a12], [a21, 1]])
    assert result.status == "converged"
    np.testing.assert_allclose(w, two_species_equilibrium(K1, K2, a12, a21), rtol=1e-6)


def test_competitive_exclusion_and_bistability():
    # a12 < K1/K2 = 1.5 but a21 = 0.9 > K2/K1 = 2/3: species 2 cannot invade, species 1 wins
    assert two_species_outcome(1.5, 1.0, 0.6, 0.9) == "1 wins"
    w, _ = lv(capacity=[1.5, 1.0], alpha=[[1, 0.6], [0.9, 1]])
    assert w[0] == pytest.approx(1.5, rel=1e-6) and w[1] < 1e-6
    # a12 = a21 = 1.5 > 1: each excludes the other from where it is ahead
    assert two_species_outcome(1.0, 1.0, 1.5, 1.5) == "bistable"
    ahead1, _ = lv(alpha=[[1, 1.5], [1.5, 1]], initial=[0.2, 0.1])
    ahead2, _ = lv(alpha=[[1, 1.5], [1.5, 1]], initial=[0.1, 0.2])
    assert ahead1[0] == pytest.approx(1.0, rel=1e-6) and ahead1[1] < 1e-6
    assert ahead2[1] == pytest.approx(1.0, rel=1e-6) and ahead2[0] < 1e-6


def test_many_species_equilibrium():
    """Four species with strong self-limitation: the interior equilibrium solves B N = r."""
    rng = np.random.default_rng(7)
    alpha = np.eye(4) + rng.uniform(0.05, 0.25, (4, 4)) * (1 - np.eye(4))
    r, K = rng.uniform(0.5, 1.5, 4), rng.uniform(1.0, 2.0, 4)
    w, _result = lv(growth=r.tolist(), capacity=K.tolist(), alpha=alpha.tolist(), run={"steps": 100000})
    B = r[:, None] * alpha / K[:, None]
    np.testing.assert_allclose(w, lv_equilibrium(r, B), rtol=1e-6)


def test_overyielding_and_the_loreau_hector_partition():
    # symmetric niche overlap a < 1: relative yield total 2/(1 + a) > 1, all of it complementarity
    a = 0.5
    w, _ = lv(alpha=[[1, a], [a, 1]])
    parts = loreau_hector([1.0, 1.0], w, [0.5, 0.5])
    assert parts["relative_yield_total"] == pytest.approx(2 / (1 + a), rel=1e-6)
    assert parts["net"] == pytest.approx(parts["complementarity"] + parts["selection"], abs=1e-12)
    assert parts["complementarity"] > 0 and abs(parts["selection"]) < 1e-9
    # a high-yield species that dominates the mixture: positive selection effect
    w, _ = lv(capacity=[3.0, 1.0], alpha=[[1, 0.2], [1.5, 1]])
    parts = loreau_hector([3.0, 1.0], w, [0.5, 0.5])
    assert parts["selection"] > 0
    assert parts["net"] == pytest.approx(parts["complementarity"] + parts["selection"], abs=1e-12)


def test_partition_by_hand():
    # M = (2, 4), Y = (1.5, 1), p = (1/2, 1/2): dRY = (0.25, -0.25), mean 0 -> CE = 0;
    # cov(dRY, M) = ((0.25)(-1) + (-0.25)(1))/2 = -0.25 -> SE = 2 * -0.25 = -0.5 = net = 2.5 - 3
    parts = loreau_hector([2.0, 4.0], [1.5, 1.0], [0.5, 0.5])
    assert parts["complementarity"] == pytest.approx(0.0) and parts["selection"] == pytest.approx(-0.5)
    assert parts["net"] == pytest.approx(-0.5)


@pytest.mark.parametrize(
    "scenario,fragment",
    [
        ({"growth": [1.0, -1.0]}, "growth rates must be positive"),
        ({"capacity": [1.0]}, "capacity must hold 2 positive carrying capacities"),
        ({"alpha": [[1, -0.5], [0.5, 1]]}, "alpha must be non-negative"),
        ({"alpha": [[1, 0.5]]}, "alpha must be a 2 x 2 matrix"),
    ],
)
def test_meaningless_parameters(scenario, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Simulation.from_config({"scenario": {"name": "lotka_volterra", **scenario}})
