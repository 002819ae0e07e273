"""The headline `dps run` prints for Ricardo's example."""

from pathlib import Path

from dps_core import Simulation
from dps_core.cli import scenario_summary

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_ricardo_prices_outputs_and_specialisation():
    # Ricardo (1817): England (cloth 100, wine 120 hours) and Portugal (90, 80) specialise by
    # comparative advantage: England in cloth, Portugal in wine
    sim = Simulation.from_config(EXAMPLES / "ricardo.toml")
    sim.run()
    h = scenario_summary(sim)
    assert h["labour shares"] == "England cloth 1.00, wine 0.00; Portugal cloth 0.00, wine 1.00"
    prices = dict(part.rsplit(" ", 1) for part in h["relative prices"].split(", "))
    assert abs(float(prices["cloth"]) + float(prices["wine"]) - 1.0) < 1e-3
    assert set(dict(part.rsplit(" ", 1) for part in h["world output"].split(", "))) == {"cloth", "wine"}
