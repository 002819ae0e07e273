"""Each graph family against its definition: degrees and edge counts that follow from it,
structure (blocks, modules, hub), determinism under the seed, and clear errors for bad values."""

import networkx as nx
import numpy as np
import pytest
from dps_topology import from_networkx

from dps_core import ConfigError, Simulation, Topology
from dps_core.cli import main


def build(name, n=12, **params):
    sim = Simulation.from_config(
        {
            "scenario": {"agents": n, "tasks": 4},
            "topology": {"name": name, **params},
            "mixing": {"name": "shared"},
            "run": {"seed": 1},
        }
    )
    return sim.model.topology


def degrees(t: Topology) -> np.ndarray:
    return np.diff(t.indptr)


def undirected(t: Topology) -> bool:
    A = t.matrix()
    return (A != A.T).nnz == 0


def test_registered_by_the_entry_point():
    from dps_core.registry import Registry

    reg = Registry()
    for name in (
        "lattice",
        "star",
        "erdos_renyi",
        "watts_strogatz",
        "barabasi_albert",
        "sbm",
        "hierarchical",
        "edgelist",
    ):
        assert reg.owner("topology", name) == "topology", name


def test_lattice():
    t = build("lattice", n=12)  # most square grid of 12: 3 x 4, torus
    assert t.params["rows"] == 3 and np.all(degrees(t) == 4) and undirected(t)
    t = build("lattice", n=12, periodic=False)  # 3 x 4 grid: 3*3 + 4*2 = 17 edges
    assert t.n_edges == 2 * 17
    assert sorted(degrees(t))[:4] == [2, 2, 2, 2]  # the four corners
    t = build("lattice", n=20, rows=4, neighbourhood="moore")  # 4 x 5 torus, king moves: degree 8
    assert np.all(degrees(t) == 8)
    # node (r, c) = r * cols + c; on a 4 x 5 torus node 0's neighbours are (0,1),(0,4),(1,0),(3,0) and diagonals
    assert set(t.neighbours(0)) == {1, 4, 5, 15, 6, 9, 16, 19}
    with pytest.raises(ConfigError, match=r"config key 'topology.rows' must divide the number of agents N = 12, got 5"):
        build("lattice", n=12, rows=5)


def test_star():
    t = build("star", n=9)
    d = degrees(t)
    assert d[0] == 8 and np.all(d[1:] == 1) and set(t.neighbours(3)) == {0}


def test_erdos_renyi_mean_degree_and_seed():
    n, p = 3000, 0.004
    t = build("erdos_renyi", n=n, p=p)
    # E ~ Binomial(n(n-1)/2, p): mean 17994, sd ~134; allow 5 sd
    edges = t.n_edges / 2
    assert abs(edges - p * n * (n - 1) / 2) < 5 * np.sqrt(p * (1 - p) * n * (n - 1) / 2)
    assert undirected(t)
    same = build("erdos_renyi", n=n, p=p)
    assert np.array_equal(same.indices, t.indices)
    other = Simulation.from_config(
        {
            "scenario": {"agents": n, "tasks": 4},
            "run": {"seed": 2},
            "topology": {"name": "erdos_renyi", "p": p},
            "mixing": {"name": "shared"},
        }
    ).model.topology
    assert not np.array_equal(other.indices[:100], t.indices[:100])
    t = build("erdos_renyi", n=101, mean_degree=100)  # p = 1: the complete graph
    assert np.all(degrees(t) == 100)


def test_watts_strogatz():
    ring = build("watts_strogatz", n=30, k=6, p=0.0)  # no rewiring: the ring lattice of degree 6
    ref = Topology.ring(30, 3)
    assert np.array_equal(ring.indptr, ref.indptr) and np.array_equal(ring.indices, ref.indices)
    t = build("watts_strogatz", n=200, k=6, p=0.5)  # rewiring keeps the edge count n k / 2
    assert t.n_edges == 200 * 6 and undirected(t)
    assert not np.array_equal(t.indices, Topology.ring(200, 3).indices)


def test_barabasi_albert():
    t = build("barabasi_albert", n=500, m=3)
    # a star of m+1 nodes (m edges), then n-m-1 nodes with m edges each: m (n - m) edges
    assert t.n_edges / 2 == 3 * (500 - 3)
    assert degrees(t).max() > 5 * degrees(t).mean()  # hubs: a heavy tail


def test_stochastic_block():
    t = build("sbm", n=12, sizes=[3, 4, 5], p_in=1.0, p_out=0.0)  # three disjoint cliques
    assert t.n_edges / 2 == 3 + 6 + 10
    assert set(t.neighbours(0)) == {1, 2} and set(t.neighbours(3)) == {4, 5, 6}
    t = build("sbm", n=10, blocks=2, p_in=0.0, p_out=1.0)  # complete bipartite K_{5,5}
    assert t.n_edges / 2 == 25 and set(t.neighbours(0)) == {5, 6, 7, 8, 9}
    t = build("sbm", n=6, sizes=[2, 4], p=[[1.0, 0.0], [0.0, 0.0]])
    assert t.n_edges == 2
    n = 4000
    t = build("sbm", n=n, blocks=4, p_in=0.01, p_out=0.0005)
    A = t.matrix()
    within = sum(A[i * 1000 : (i + 1) * 1000, i * 1000 : (i + 1) * 1000].nnz for i in range(4)) / 2
    # within: Binomial(4 * 1000*999/2, 0.01): mean 19980, sd ~140
    assert abs(within - 19980) < 5 * 140


def test_hierarchical():
    t = build("hierarchical", n=16, branching=[2, 2], p=[0.0, 0.0, 1.0])  # 4 cliques of 4
    assert t.n_edges / 2 == 4 * 6 and set(t.neighbours(5)) == {4, 6, 7}
    t = build("hierarchical", n=16, branching=[2, 2], p=[1.0, 0.0, 0.0])  # only between the two halves
    assert t.n_edges / 2 == 64 and set(t.neighbours(0)) == set(range(8, 16))
    t = build("hierarchical", n=16, branching=[2, 2], p=[0.0, 1.0, 0.0])  # between quarters of a half
    assert set(t.neighbours(0)) == {4, 5, 6, 7}


@pytest.mark.parametrize(
    "params,fragment",
    [
        ({"name": "erdos_renyi", "p": 0.1, "mean_degree": 3}, "give exactly one of 'p' and 'mean_degree'"),
        ({"name": "erdos_renyi", "p": 1.5}, "config key 'topology.p' must be in [0, 1]"),
        ({"name": "erdos_renyi", "mean_degree": 50}, "config key 'topology.mean_degree' must be at most N - 1 = 11"),
        ({"name": "watts_strogatz", "k": 3}, "k must be even"),
        (
            {"name": "watts_strogatz", "k": 12},
            "config key 'topology.k' must be smaller than the number of agents N = 12",
        ),
        ({"name": "barabasi_albert", "m": 0}, "config key 'topology.m' must be >= 1"),
        ({"name": "sbm", "sizes": [5, 5]}, "config key 'topology.sizes' must sum to the number of agents N = 12"),
        ({"name": "sbm", "p": [[0.1, 0.2], [0.3, 0.1]]}, "symmetric 2 x 2 matrix"),
        ({"name": "hierarchical", "branching": [2], "p": [0.1]}, "len(branching) + 1 = 2 probabilities"),
        ({"name": "hierarchical", "branching": [4, 4]}, "makes 16 innermost modules, more than the N = 12 agents"),
        (
            {"name": "lattice", "neighbourhood": "hex"},
            "config key 'topology.neighbourhood' must be one of 'von_neumann', 'moore'",
        ),
        ({"name": "latice"}, "unknown topology 'latice' (config key 'topology.name'). Did you mean 'lattice'?"),
    ],
)
def test_bad_parameters_name_the_key(params, fragment):
    with pytest.raises(ConfigError) as exc:
        Simulation.from_config(
            {"scenario": {"agents": 12, "tasks": 4}, "topology": params, "mixing": {"name": "shared"}}
        )
    assert fragment in str(exc.value)


def test_from_networkx_and_direction():
    t = from_networkx(nx.path_graph(5))
    assert t.n == 5 and t.n_edges == 8 and set(t.neighbours(2)) == {1, 3}
    D = nx.DiGraph([(0, 1), (1, 2)])  # 0's output reaches 1, 1's reaches 2
    t = from_networkx(D)
    assert list(t.neighbours(1)) == [0] and list(t.neighbours(2)) == [1] and list(t.neighbours(0)) == []
    G = nx.Graph()
    G.add_edge("b", "a", weight=2.5)
    t = from_networkx(G)  # nodes sorted: a = 0, b = 1
    assert t.data.tolist() == [2.5, 2.5]
    sim = Simulation.from_arrays(
        np.ones(3) / 3,
        profile={"logits": np.zeros((5, 3))},
        topology=from_networkx(nx.cycle_graph(5)),
        config={"mixing": {"name": "shared"}},
    )
    assert sim.model.topology.n_edges == 10


def test_edgelist_file_from_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sub = tmp_path / "cfg"
    sub.mkdir()
    (sub / "edges.txt").write_text("# a path and a weighted chord\n0 1\n1 2\n2 3\n3 4\n0 4\n")
    (sub / "run.toml").write_text(
        '[run]\nsteps = 3\n[scenario]\nagents = 5\ntasks = 4\n[topology]\nname = "edgelist"\nfile = "edges.txt"\n'
        '[mixing]\nname = "shared"\n'
    )
    assert main(["run", str(sub / "run.toml"), "-o", "e.h5", "--no-progress"]) == 0
    from dps_core import open_archive

    with open_archive(tmp_path / "e.h5") as ar:
        assert ar.f["topology"].attrs["name"] == "edgelist" and ar.f["topology"].attrs["n_edges"] == 10
    (sub / "bad.txt").write_text("0 1\n1 x\n")
    (sub / "bad.toml").write_text((sub / "run.toml").read_text().replace("edges.txt", "bad.txt"))
    capsys.readouterr()
    assert main(["run", str(sub / "bad.toml"), "-o", "b.h5"]) == 2
    err = capsys.readouterr().err
    assert "bad.txt:2: node ids must be integers" in err and "Traceback" not in err
    (sub / "far.txt").write_text("0 9\n")
    (sub / "far.toml").write_text((sub / "run.toml").read_text().replace("edges.txt", "far.txt"))
    assert main(["run", str(sub / "far.toml"), "-o", "f.h5"]) == 2
    assert "far.txt:1: node ids must lie in [0, 4] (the scenario has 5 agents)" in capsys.readouterr().err


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_harness(tmp_path):
    from dps_core.testing import check_plugin

    edges = tmp_path / "ring.txt"
    edges.write_text("".join(f"{i} {(i + 1) % 9}\n" for i in range(9)))  # the harness's systems have 9 agents
    given = {
        "topology.erdos_renyi": {"mean_degree": 3.0},
        "topology.edgelist": {"file": str(edges)},
        "topology.hierarchical": {"branching": [3], "p": [0.1, 0.9]},
    }
    checks = check_plugin("topology", params=given)
    assert checks and all(c.status == "pass" for c in checks), [str(c) for c in checks if c.status != "pass"]
