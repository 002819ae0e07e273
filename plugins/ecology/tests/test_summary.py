"""Headline results `dps run` prints for the ecology examples, against closed forms."""

import math
from pathlib import Path

import pytest

from dps_core import Simulation
from dps_core.cli import main, scenario_summary

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_lotka_volterra_densities_printed_by_dps_run(tmp_path, capsys):
    # examples/lotka_volterra.toml: K = (1.5, 1), alpha12 = 0.4, alpha21 = 0.5; coexistence at
    # N1* = (K1 - a12 K2)/(1 - a12 a21) = 1.375, N2* = (K2 - a21 K1)/(1 - a12 a21) = 0.3125
    # (the run's convergence to it is checked in test_competition.py; here the CLI prints both lines)
    cfg = str(EXAMPLES / "lotka_volterra.toml")
    assert main(["run", cfg, "-o", str(tmp_path / "lv.h5"), "--steps", "100", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "\ndensities: species 0 " in out
    assert "\ninterior equilibrium: 1.375, 0.3125\n" in out


def test_macarthur_niche_overlap():
    # examples/consumer_resource.toml: c = ((1, 0.3), (0.4, 0.9)); both survive; Pianka's overlap
    # (1*0.4 + 0.3*0.9) / sqrt((1 + 0.09)(0.16 + 0.81)); it depends on the niches, not the densities
    sim = Simulation.from_config(EXAMPLES / "consumer_resource.toml")  # at the start both are alive
    text = scenario_summary(sim)["niche overlap (Pianka) of survivors"]
    assert text == f"consumer 0/consumer 1 {0.67 / math.sqrt(1.09 * 0.97):.3f}"


def test_tilman_productivity_by_richness_listed():
    sim = Simulation.from_config(
        {"scenario": {"name": "biodiversity", "richness": [1, 4], "plots": 3}, "run": {"steps": 10}}
    )
    sim.step(10)
    text = scenario_summary(sim)["productivity by richness"]
    # expected e (I - l (lo + (hi - lo)/(S + 1))) with I = 20, l = e = 1, R* in [1, 9]: 15 and 17.4
    assert "1: " in text and "(expected 15)" in text and "(expected 17.4)" in text


@pytest.mark.parametrize("name", ["radiation", "metacommunity"])
def test_scenarios_without_a_headline_print_nothing_extra(name):
    sim = Simulation.from_config({"scenario": {"name": name}, "run": {"steps": 1}})
    assert scenario_summary(sim) == {}
