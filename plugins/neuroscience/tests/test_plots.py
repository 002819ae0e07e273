"""The neuroscience.lca figure draws the stimulus and x_hat = sum_i a_i phi_i from the archive's
checkpoint; its explained fraction is the one the run recorded."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dps_core import Simulation, open_archive, plot_archive


def test_lca_figure(tmp_path):
    path = tmp_path / "lca.h5"
    cfg = {"scenario": {"name": "lca", "neurons": 16, "inputs": 8}, "run": {"steps": 300}}
    Simulation.from_config(cfg).run(path)
    fig = plot_archive(path)
    left, right = fig.axes
    with open_archive(path) as ar:
        ck = ar.checkpoint()["state"].arrays()
        recorded = ar.final_metrics()["reconstruction"]
    x, xhat = (line.get_ydata() for line in left.get_lines())
    np.testing.assert_allclose(x, ck["demand"][0])
    np.testing.assert_allclose(xhat, ck["w"] @ ck["profile/atoms"])
    assert f"= {recorded:.3f}" in left.get_title()
    assert f"{int(np.sum(ck['w'] != 0))} of 16 neurons active" == right.get_title()
