"""The topology plugin's layouts for `dps plot --kind graph`: lattices on their grid, random
families by a seeded spring layout; the figure has one node per agent and one segment per edge."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dps_topology.graphs import erdos_renyi, lattice
from dps_topology.layouts import grid_layout, spring_layout

from dps_core import Simulation, open_archive, plot_archive


def test_grid_layout_places_the_lattice():
    topo = lattice(12, 3, True, "von_neumann")
    pos = grid_layout(topo)
    assert pos.shape == (12, 2)
    # a 3 x 4 grid: columns 0..3, rows 0..-2, each position once
    assert sorted(map(tuple, pos.tolist())) == sorted((c, -r) for r in range(3) for c in range(4))
    # grid neighbours are lattice neighbours (distance 1 unless wrapping around)
    i, j = np.nonzero(topo.matrix().toarray())
    d = np.abs(pos[i] - pos[j]).sum(axis=1)
    assert np.all((d == 1) | (d == 3) | (d == 2))  # 2: the 3-row wrap, 3: the 4-column wrap


def test_spring_layout_is_seeded():
    topo = erdos_renyi(30, 0.2, np.random.default_rng(1))
    a, b, c = spring_layout(topo, 0), spring_layout(topo, 0), spring_layout(topo, 1)
    assert a.shape == (30, 2) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_graph_kind_uses_the_plugin_layout(tmp_path):
    path = tmp_path / "lattice.h5"
    cfg = {
        "run": {"steps": 5},
        "scenario": {"name": "generic", "agents": 16, "tasks": 8},
        "topology": {"name": "lattice", "rows": 4},
        "mixing": {"name": "shared"},
    }
    Simulation.from_config(cfg).run(path)
    fig = plot_archive(path, "graph")
    ax = fig.axes[0]
    [nodes] = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    [edges] = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    with open_archive(path) as ar:
        n_edges = int(ar.f["topology"].attrs["n_edges"])
    assert len(nodes.get_offsets()) == 16
    assert len(edges.get_segments()) == n_edges // 2  # undirected edges stored both ways
    assert "layout grid" in fig.get_suptitle()
