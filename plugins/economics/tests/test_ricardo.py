"""Ricardian trade: Ricardo's own numbers, the market against an independent planner's solve,
and the comparative-advantage chain with many countries or many goods."""

import numpy as np
import pytest
from dps_economics import autarky, planner_optimum, world_output
from dps_economics.welfare import welfare

from dps_core import ConfigError, Simulation

# Ricardo, Principles (1817), ch. 7: hours of labour per unit
RICARDO_A = np.array(
    [
        [100.0, 120.0],  # England: cloth, wine
        [90.0, 80.0],
    ]
)  # Portugal
RICARDO_L = RICARDO_A.sum(axis=1)  # each country can make one unit of each good in autarky


def market(**scenario):
    cfg = {"scenario": {"name": "ricardo", **scenario.pop("scenario", {})}, "run": {"steps": 20000}, **scenario}
    sim = Simulation.from_config(cfg)
    result = sim.run()
    p = sim.state.extras["signal.price"][0]
    return sim, result, p / p.sum()


def test_england_and_portugal():
    sim, result, p = market()
    assert result.status == "converged"
    S = sim.S
    assert S[0, 0] > 0.99 and S[1, 1] > 0.99  # England cloth, Portugal wine
    ratio = p[0] / p[1]
    # the terms of trade lie strictly between the opportunity costs of cloth in wine
    assert 100 / 120 < ratio < 90 / 80
    # complete specialisation with equal spending shares: p_c X_c = p_w X_w, X_c = 220/100, X_w = 170/80
    assert ratio == pytest.approx((170 / 80) / (220 / 100), rel=2e-3)
    # Ricardo's gains: the world makes 2.2 cloth and 2.125 wine instead of 2 and 2
    X = world_output(RICARDO_A, RICARDO_L, S)
    assert X[0] == pytest.approx(2.2, rel=1e-2) and X[1] == pytest.approx(2.125, rel=1e-2)
    assert X.min() > 2.09
    # both countries gain: income at world prices buys more utility than autarky gives
    b = np.array([0.5, 0.5])
    income = (sim.context().Y * p).sum(axis=1)
    trade_u = (b * np.log(b[None, :] * income[:, None] / p[None, :])).sum(axis=1)
    assert np.all(trade_u > autarky(RICARDO_A, RICARDO_L, b)["utility"])


@pytest.mark.parametrize("prefs,sigma", [("cobb_douglas", 1.0), ("ces", 3.0), ("ces", 0.5)])
def test_market_equals_planner(prefs, sigma):
    """Three countries and goods of our own: the market's welfare equals the planner's optimum
    (solved independently by SLSQP), and its prices equal the planner's marginal utilities
    dU/dX_k: prices are gradients."""
    a = np.array([[2.0, 5.0, 9.0], [6.0, 3.0, 7.0], [8.0, 9.0, 2.0]])
    L = np.array([3.0, 2.0, 4.0])
    b = np.array([0.2, 0.3, 0.5])
    sim, result, p = market(
        scenario={"labour_requirements": a.tolist(), "labour": L.tolist()},
        demand={"shares": b.tolist(), "preferences": prefs, "sigma": sigma},
    )
    assert result.status == "converged"
    plan = planner_optimum(a, L, b, prefs, sigma)
    assert plan["success"]
    w_market = welfare(world_output(a, L, sim.S), b, prefs, sigma)
    w_plan = welfare(plan["output"], b, prefs, sigma)
    assert w_market == pytest.approx(w_plan, rel=1e-3)
    np.testing.assert_allclose(p, plan["prices"], rtol=0.03)


def test_many_countries_follow_the_chain():
    """Five countries, two goods: countries ranked by a_i0 / a_i1; those with the lowest ratios
    make good 0, the highest good 1, and at most one (the marginal one) makes both."""
    a = np.array([[1.0, 4.0], [3.0, 1.0], [2.0, 2.5], [6.0, 2.0], [1.0, 1.5]])
    sim, _result, _ = market(scenario={"labour_requirements": a.tolist(), "labour": [1, 1, 1, 1, 1]})
    order = np.argsort(a[:, 0] / a[:, 1])
    s0 = sim.S[order, 0]
    assert np.all(np.diff(s0) <= 0.02)  # non-increasing along the chain
    assert np.sum((s0 > 0.05) & (s0 < 0.95)) <= 1
    assert s0[0] > 0.95 and s0[-1] < 0.05


def test_many_goods_follow_the_chain():
    """Two countries, six goods ranked by a_0k / a_1k (Dornbusch, Fischer & Samuelson 1977):
    country 0 makes the goods at the low end, country 1 those at the high end, one cut-off."""
    a = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    sim, _result, _ = market(scenario={"labour_requirements": a.tolist(), "labour": [10.0, 10.0]})
    order = np.argsort(a[0] / a[1])
    makes0 = sim.S[0, order] > 0.02
    makes1 = sim.S[1, order] > 0.02
    assert np.all(np.diff(makes0.astype(int)) <= 0)  # a prefix of the chain
    assert np.all(np.diff(makes1.astype(int)) >= 0)  # a suffix
    assert np.sum(makes0 & makes1) <= 1


def test_logit_smoothing_tolerance():
    """Linear technology needs a smoothed best response: the labour left in the wrong good
    falls with beta as exp(-beta (1 - v_other / v_best)) predicts (ratio of two betas)."""
    left = {}
    for beta in (20.0, 40.0):
        sim, _, p = market(mode={"name": "tatonnement", "beta": beta})
        left[beta] = sim.S[0, 1]
        v = p / RICARDO_A[0]
        gap = 1 - v.min() / v.max()
    assert left[40.0] < left[20.0]
    assert left[40.0] / left[20.0] == pytest.approx(np.exp(-20.0 * gap), rel=0.3)


def test_homogeneous_start_heterogeneity_and_welfare_rise():
    """Law 1 for two countries: from identical labour splits, heterogeneity and welfare rise, and
    the result beats the best homogeneous allocation (every country the same split; with
    Cobb-Douglas preferences that split is s = b, world output X_k = b_k sum_i L_i / a_ik)."""
    sim = Simulation.from_config({"scenario": {"name": "ricardo"}, "run": {"record_every": 10}})
    sim.run()
    h = sim.history
    assert h["hill_q1"][0] == pytest.approx(1.0, abs=1e-3) and h["hill_q1"][-1] > 1.7
    assert h["welfare"][-1] > h["welfare"][0]
    b = np.array([0.5, 0.5])
    best_homogeneous = welfare(b * (RICARDO_L[:, None] / RICARDO_A).sum(axis=0), b)
    assert h["welfare"][-1] > 1.05 * best_homogeneous


@pytest.mark.parametrize(
    "scenario,fragment",
    [
        ({"labour_requirements": [[-1.0, 2.0], [3.0, 4.0]]}, "labour_requirements must be positive"),
        ({"labour_requirements": [[1.0, 2.0], [3.0]]}, "rows of equal length"),
        ({"labour": [1.0, -2.0]}, "one positive endowment per country"),
        ({"countries": ["A"]}, "countries must name all 2 countries"),
    ],
)
def test_meaningless_parameters_are_named(scenario, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Simulation.from_config({"scenario": {"name": "ricardo", **scenario}})
    with pytest.raises(ConfigError, match="config key 'demand.shares' needs one value per good"):
        Simulation.from_config({"scenario": {"name": "ricardo"}, "demand": {"shares": [1, 2, 3]}})
    with pytest.raises(ConfigError, match='consumers need prices: use \\[signal\\] name = "price"'):
        Simulation.from_config(
            {"scenario": {"name": "ricardo"}, "signal": {"name": "coverage"}, "archive": {"snapshots": ["S"]}}
        )
