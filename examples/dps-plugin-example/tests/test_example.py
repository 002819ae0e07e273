"""The example plugin keeps the dps contract and its pieces do what they say."""

import math

import numpy as np
import pytest
from dps_example import gini

from dps_core import Simulation
from dps_core.cli import main
from dps_core.testing import check_plugin


def test_the_plugin_passes_the_conformance_harness():
    checks = check_plugin("example")
    assert checks and all(c.status == "pass" for c in checks), [str(c) for c in checks if c.status != "pass"]


def test_gini_closed_forms():
    assert gini(np.ones(7)) == 0.0  # everyone equal
    assert gini(np.r_[np.zeros(4), 3.0]) == pytest.approx(4 / 5)  # one holds everything: (n - 1) / n
    assert gini(np.array([1.0, 3.0])) == pytest.approx(0.25)  # mean |xi - xj| / (2 mean) = (2 * 2 / 4) / (2 * 2)


def test_seasons_turn_the_demand_and_two_markets_split_it():
    sim = Simulation.from_config(
        {
            "scenario": {"name": "two_markets", "agents": 6, "tasks": 8},
            "demand": {"name": "example.seasons", "period": 3, "angle": math.pi / 2},
            "mode": {"name": "example.explore"},
        }
    )
    D0 = sim.state.demand.copy()
    assert D0.shape == (6, 8) and not np.array_equal(D0[0], D0[-1])  # two markets, two demand rows
    sim.step(3)
    np.testing.assert_array_equal(sim.state.demand, np.roll(D0, 2, axis=1))  # a quarter turn of 8 tasks
    assert sim.state.extras["mode.kicks"][0] == 3


def test_the_command_reads_an_archive(tmp_path, capsys):
    path = tmp_path / "run.h5"
    cfg = {
        "run": {"steps": 10, "snapshot_every": 5},
        "scenario": {"name": "two_markets"},
        "archive": {"snapshots": ["w"]},
    }
    Simulation.from_config(cfg).run(path)
    assert main(["gini", str(path)]) == 0
    assert "Gini of resources: first snapshot 0.0000" in capsys.readouterr().out  # a homogeneous start
