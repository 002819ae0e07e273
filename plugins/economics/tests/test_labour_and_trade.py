"""The division of labour (learning by doing, limited by the extent of the market), trade between
two economies on a graph, and law 1 of the Principle in this domain."""

import numpy as np
import pytest
from dps_economics.labour import best_homogeneous_efficacy, steady_capability

from dps_core import Simulation


def division(**over):
    cfg = {"scenario": {"name": "division_of_labour"}, "run": {"seed": 3}, **over}
    sim = Simulation.from_config(cfg)
    sim.run()
    return sim, sim.history


def test_steady_capability():
    # dC/dt = 0.5 s - 0.1 (C - 1) = 0  =>  C = 1 + 5 s, capped at 5
    np.testing.assert_allclose(steady_capability(np.array([0.0, 0.25, 0.5, 1.0]), 0.5, 0.1, 5.0), [1, 2.25, 3.5, 5])


def test_law_1_division_of_labour():
    """Identical workers (plus the seeded perturbation) become different specialists: the Hill
    number rises from 1 towards the number of tasks while demand met rises, and the divided
    labour beats the best homogeneous population (every worker the same split, at the learning
    steady state, optimised independently)."""
    _sim, h = division()
    assert h["hill_q1"][0] == pytest.approx(1.0, abs=0.01) and h["hill_q1"][-1] > 3.0
    assert h["efficacy"][-1] > h["efficacy"][0] + 0.5
    rising = np.array(h["hill_q1"])
    assert np.corrcoef(rising, h["efficacy"])[0, 1] > 0.8  # they rise together
    best, _split = best_homogeneous_efficacy(4, 1.2, 0.5, 0.1, 5.0)
    # at least the equal three-way split: C = 1 + 5/3, output 0.889 per task, 3 * 0.889 / 4.8 = 0.556
    assert 0.555 < best < 0.6
    assert h["efficacy"][-1] > best + 0.25


def test_learning_gains_and_the_extent_of_the_market():
    """Without learning nobody specialises (alpha = 1: generalists are optimal); with it,
    specialisation grows with the neighbourhood a worker trades with (Smith: the division of
    labour is limited by the extent of the market)."""
    _, none = division(learn={"rate": 0.0, "forget": 0.0})
    assert none["specialisation"][-1] < 0.01
    spec, eff = {}, {}
    for k in (1, 2, 8):
        _, h = division(topology={"name": "ring", "k": k})
        spec[k], eff[k] = h["specialisation"][-1], h["efficacy"][-1]
    assert spec[1] < spec[2] < spec[8]
    assert eff[1] < eff[8]
    assert eff[8] > 3 * none["efficacy"][-1]  # the output gain of learning by doing


def test_trade_links_raise_specialisation_and_gains():
    result = {}
    for links in (0, 16, 64):
        sim = Simulation.from_config({"scenario": {"name": "trade_network", "links": links}, "run": {"seed": 2}})
        sim.run()
        n = 40
        advantage = (sim.S[:n, 0].mean() + sim.S[n:, 1].mean()) / 2  # labour on the good an economy is better at
        result[links] = (sim.history["efficacy"][-1], sim.history["specialisation"][-1], advantage)
    assert result[0][0] < result[16][0] < result[64][0]  # gains from trade
    assert result[0][1] < result[16][1] < result[64][1]  # specialisation
    assert result[0][2] < 0.4 < result[64][2]  # by comparative advantage
    topo = Simulation.from_config({"scenario": {"name": "trade_network", "links": 0}}).model.topology
    assert topo.matrix()[:40, 40:].nnz == 0  # autarky: no edge between the economies


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_harness():
    from dps_core.testing import check_plugin

    # consumers buy at market prices: their demand process runs with the price signal
    checks = check_plugin("economics", config={"demand.economics.consumers": {"signal": {"name": "price"}}})
    assert checks and all(c.status == "pass" for c in checks), [str(c) for c in checks if c.status != "pass"]
