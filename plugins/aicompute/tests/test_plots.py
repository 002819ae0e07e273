"""The aicompute.mix figure: the dynamics' bars are the archive's devices w_i split by s_ik, the
optimum's are whole devices within the budget."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dps_core import Simulation, open_archive, plot_archive


@pytest.mark.slow
def test_mix_figure(tmp_path):
    path = tmp_path / "cluster.h5"
    Simulation.from_config({"scenario": {"name": "cluster"}, "run": {"steps": 50, "snapshot_every": 50}}).run(path)
    left, right = plot_archive(path).axes
    with open_archive(path) as ar:
        w, S = ar.snapshots("w")[-1], ar.snapshots("S")[-1]
    widths = np.array([p.get_width() for p in left.patches]).reshape(S.shape[1], S.shape[0]).T
    np.testing.assert_allclose(widths, w[:, None] * S)
    counts = [int(t.get_text()) for t in right.texts]
    assert len(counts) == 3 and all(c >= 0 for c in counts)
    with open_archive(path) as ar:
        costs = ar.f["agents/costs"][()]
    assert float(np.dot(costs, counts)) <= 1000.0 + 1e-9
