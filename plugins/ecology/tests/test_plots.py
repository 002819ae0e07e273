"""Ecology's figures: Lotka–Volterra densities are the archive's snapshots of w, with the interior
equilibrium N1* = (K1 - a12 K2)/(1 - a12 a21), N2* = (K2 - a21 K1)/(1 - a12 a21) (Lotka 1925,
Volterra 1926) drawn; Tilman's figure has one point per plot and the sampling-effect expectation."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dps_ecology.communities import expected_productivity

from dps_core import Simulation, open_archive, plot_archive


def test_densities_figure(tmp_path):
    path = tmp_path / "lv.h5"
    lv = {"growth": [1.0, 0.7], "capacity": [1.5, 1.0], "alpha": [[1.0, 0.4], [0.5, 1.0]]}
    cfg = {"scenario": {"name": "lotka_volterra", **lv}, "run": {"steps": 300, "snapshot_every": 30}}
    Simulation.from_config(cfg).run(path)
    ax = plot_archive(path).axes[0]
    with open_archive(path) as ar:
        W, steps = ar.snapshots("w"), ar.snapshot_steps()
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    for i, line in enumerate(solid):
        np.testing.assert_array_equal(line.get_ydata(), W[:, i])
        np.testing.assert_allclose(line.get_xdata(), steps * 0.01)  # time = step * dt
    den = 1 - 0.4 * 0.5
    assert [line.get_ydata()[0] for line in dashed] == pytest.approx([(1.5 - 0.4) / den, (1.0 - 0.5 * 1.5) / den])


def test_biodiversity_figure(tmp_path):
    path = tmp_path / "bd.h5"
    cfg = {"scenario": {"name": "biodiversity", "richness": [1, 4], "plots": 5}, "run": {"steps": 50}}
    Simulation.from_config(cfg).run(path)
    ax = plot_archive(path).axes[0]
    [points] = ax.collections
    assert len(points.get_offsets()) == 10  # one point per plot
    expected = ax.get_lines()[-1]
    S = expected.get_xdata()
    assert expected.get_ydata()[0] == pytest.approx(expected_productivity(S[0], 20.0, 1.0, 1.0, 9.0))
    assert expected.get_ydata()[0] == pytest.approx(20.0 - (1.0 + 8.0 / 2))  # S = 1: e (I - l (lo + (hi-lo)/2))
    means = ax.get_lines()[0].get_ydata()
    prod = points.get_offsets()[:, 1]
    assert means == pytest.approx([prod[:5].mean(), prod[5:].mean()])
