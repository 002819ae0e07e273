"""Consumer-resource communities: the reduction to Lotka-Volterra, competitive exclusion, Tilman's
biodiversity-productivity curve, adaptive radiation (law 1 in this domain), spatial insurance."""

import numpy as np
import pytest
from dps_ecology import expected_productivity, lv_equilibrium, macarthur_to_lotka_volterra
from dps_ecology.communities import homogeneous_productivity

from dps_core import ConfigError, Simulation


def cr(consumption, mortality, **over):
    sim = Simulation.from_config(
        {"scenario": {"name": "consumer_resource", "consumption": consumption, "mortality": mortality}, **over}
    )
    return sim, sim.run()


def test_macarthur_reduces_to_lotka_volterra():
    """MacArthur (1970): the consumers' equilibrium equals that of the Lotka-Volterra system with
    r'_i = sum_k c_ik K_k - m_i and beta_ij = sum_k c_ik c_jk K_k / r."""
    c = np.array([[1.0, 0.3], [0.4, 0.9]])
    m = np.array([0.3, 0.25])
    sim, result = cr(c.tolist(), m.tolist())
    assert result.status == "converged"
    r_lv, B = macarthur_to_lotka_volterra(c, m, np.ones(2), 1.0)
    np.testing.assert_allclose(sim.state.w, lv_equilibrium(r_lv, B), rtol=1e-6)
    R = sim.state.extras["signal.R"][0]
    np.testing.assert_allclose(c @ R, m, rtol=1e-6)  # every survivor at its break-even


def test_competitive_exclusion():
    """Six consumers on two resources: coexisting species never outnumber limiting resources."""
    c = np.random.default_rng(2).uniform(0.2, 1.2, (6, 2))
    sim, result = cr(c.tolist(), [0.3] * 6, run={"steps": 400000, "dt": 0.05, "tolerance": 1e-9})
    assert result.status == "converged"
    alive = sim.state.w > 1e-6
    assert 1 <= alive.sum() <= 2
    R = sim.state.extras["signal.R"][0]
    np.testing.assert_allclose(c[alive] @ R, 0.3, rtol=1e-5)  # survivors at break-even; the rest below
    assert np.all(c[~alive] @ R < 0.3 + 1e-9)


def test_tilman_biodiversity_productivity():
    """Plots of S species with R* uniform on [1, 9]: each plot's resource falls to its lowest R*
    (the R* rule, Tilman 1982) and mean productivity e (I - l R*_min) follows
    I - l (1 + 8/(S + 1)) (Tilman, Lehman & Thomson 1997), rising and saturating."""
    sim = Simulation.from_config({"scenario": {"name": "biodiversity"}, "run": {"seed": 4}})
    sim.run()
    patch = sim.state.extras["signal.patch"]
    rich = np.array(sim.setup_info["richness"])
    rstar = np.array(sim.setup_info["rstar"])
    R = np.zeros(len(rich))
    R[patch] = sim.state.extras["signal.R"][:, 0]
    lowest = np.full(len(rich), np.inf)
    np.minimum.at(lowest, patch, rstar)
    np.testing.assert_allclose(R, lowest, rtol=0.02)
    prod = 20.0 - 1.0 * R
    means = []
    for S in (1, 2, 4, 8, 16):
        sel = rich == S
        se = prod[sel].std(ddof=1) / np.sqrt(sel.sum())
        assert prod[sel].mean() == pytest.approx(expected_productivity(S, 20.0, 1.0, 1.0, 9.0), abs=3 * se + 0.05)
        means.append(prod[sel].mean())
    assert np.all(np.diff(means) > -0.1) and means[-1] - means[0] > 2.0


@pytest.mark.slow
def test_law_1_adaptive_radiation():
    """One ancestor's descendants (identical plus the seeded perturbation) spread over four
    niches: heterogeneity (Hill, q = 1) rises from 1 to about the number of demand modes while
    productivity rises, and the community beats the best homogeneous one (every lineage with the
    same niche position, the best over a grid of 720 positions, at its equilibrium)."""
    sim = Simulation.from_config({"scenario": {"name": "radiation"}, "run": {"seed": 1}})
    sim.run()
    h = sim.history
    assert h["hill_q1"][0] == pytest.approx(1.0, abs=0.01)
    assert h["hill_q1"][-1] > 3.0 and h["hill_q1"][-1] < h["demand_modes"][-1] + 0.3
    assert h["productivity"][-1] > 1.5 * h["productivity"][0]
    x, K = sim.model.task_positions, sim.state.demand[0]
    best = 0.0
    for mu in np.linspace(0, 2 * np.pi, 720, endpoint=False):
        s = np.exp(8.0 * (np.cos(x - mu) - 1))
        best = max(best, homogeneous_productivity(K, 2.0 * s / s.sum(), 1.0, 1.0, 0.3))
    assert h["productivity"][-1] > 2 * best


def test_homogeneous_productivity_single_resource():
    # one resource: N solves e c K (1 - c N / r) = m  =>  N = (r/c)(1 - m/(e c K)); productivity m N
    assert homogeneous_productivity([2.0], [0.5], 1.0, 1.0, 0.3) == pytest.approx(0.3 * 2.0 * (1 - 0.3 / 1.0))


@pytest.mark.slow
def test_spatial_insurance():
    """Loreau, Mouquet & Gonzalez (2003): with environments cycling out of phase across patches,
    regional productivity peaks at intermediate dispersal, above both isolated patches and a
    well-mixed landscape, and intermediate dispersal keeps more species."""
    out = {}
    for rate in (0.0, 0.003, 1.0):
        sim = Simulation.from_config(
            {
                "scenario": {"name": "metacommunity", "patches": 8, "species": 8},
                "disperse": {"rate": rate},
                "signal": {"period": 1000.0},
                "run": {"steps": 40000, "dt": 0.05, "record_every": 50, "seed": 1},
            }
        )
        sim.run()
        prod = np.array(sim.history["productivity"])
        out[rate] = (prod[len(prod) // 2 :].mean(), sim.history["richness"][-1])
    assert out[0.003][0] > out[0.0][0] * 1.01 and out[0.003][0] > out[1.0][0] * 1.01
    assert out[0.003][1] > out[0.0][1] and out[0.003][1] > out[1.0][1]


@pytest.mark.parametrize(
    "scenario,fragment",
    [
        (
            {"name": "consumer_resource", "consumption": [[1.0, -0.2], [0.3, 0.9]], "mortality": [0.3, 0.3]},
            "non-negative",
        ),
        ({"name": "consumer_resource", "mortality": [0.3]}, "mortality must hold 3"),
        ({"name": "biodiversity", "rstar_low": 5.0, "rstar_high": 2.0}, "rstar_low < rstar_high"),
        ({"name": "biodiversity", "inflow": 5.0}, "'scenario.inflow' must be at least loss \\* rstar_high"),
        ({"name": "metacommunity", "dispersal_graph": "tree"}, "dispersal_graph must be"),
    ],
)
def test_meaningless_parameters(scenario, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Simulation.from_config({"scenario": scenario})


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_harness():
    from dps_core.testing import check_plugin

    checks = check_plugin("ecology")
    assert checks and all(c.status == "pass" for c in checks), [str(c) for c in checks if c.status != "pass"]


def test_tilman_inflow_equal_to_loss_times_largest_rstar():
    """I = l * R*_max is allowed: the worst species can just persist alone (zero net growth at R = I/l),
    and every plot's productivity e (I - l R) stays non-negative."""
    sim = Simulation.from_config(
        {"scenario": {"name": "biodiversity", "inflow": 9.0, "plots": 4}, "run": {"seed": 4, "steps": 500}}
    )
    sim.step(500)
    R = sim.state.extras["signal.R"][:, 0]
    assert np.all(np.isfinite(R)) and np.all(R <= 9.0 + 1e-9)
