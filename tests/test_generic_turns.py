"""The generic scenario's demand that varies over the graph (`turns`)."""

import numpy as np

from dps_core import Simulation


def test_turns_rotate_each_nodes_demand_by_its_index():
    # 16 agents, 64 tasks, one turn: node i's demand is node 0's turned by 2*pi*i/16 = 4*i task steps
    sim = Simulation.from_config({"scenario": {"agents": 16, "tasks": 64, "turns": 1.0}})
    D = sim.state.demand
    assert D.shape == (16, 64)
    for i in range(16):
        np.testing.assert_allclose(D[i], np.roll(D[0], 4 * i), atol=1e-14)
    np.testing.assert_allclose(D.sum(axis=1), 1.0, rtol=1e-12)


def test_no_turns_is_one_global_row():
    assert Simulation.from_config({"scenario": {"agents": 16, "tasks": 64}}).state.demand.shape == (1, 64)
