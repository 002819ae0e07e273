"""The economics.ricardo figure shows the archive's prices and world output, between the autarky
price ratios a_i,cloth / a_i,wine of Ricardo's table (100/120 and 90/80)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dps_economics.ricardo import world_output

from dps_core import Simulation, open_archive, plot_archive


def test_ricardo_figure(tmp_path):
    path = tmp_path / "ricardo.h5"
    cfg = {"scenario": {"name": "ricardo"}, "run": {"steps": 200, "snapshot_every": 20}}
    Simulation.from_config(cfg).run(path)
    fig = plot_archive(path)  # the scenario's own view is the default
    left, right = fig.axes
    with open_archive(path) as ar:
        price = ar.snapshots("signal.price")
        S = ar.snapshots("S")
    world = left.get_lines()[0].get_ydata()
    np.testing.assert_allclose(world, price.mean(axis=1)[:, 0] / price.mean(axis=1)[:, 1])
    autarky = sorted(line.get_ydata()[0] for line in left.get_lines()[1:])
    assert autarky == pytest.approx([100 / 120, 90 / 80])  # Ricardo's table
    a = np.array([[100.0, 120.0], [90.0, 80.0]])
    cloth = right.get_lines()[0].get_ydata()
    np.testing.assert_allclose(cloth, [world_output(a, np.array([220.0, 170.0]), s)[0] for s in S])
