"""The correlation length between the modules of one layer, against hand computations: C(d) is the
mean Bhattacharyya overlap of module pairs d apart minus the all-pairs mean (ordered pairs i != j),
the length the distance where |C(d)| falls to |C(1)|/e, linearly interpolated (docs/metrics.md)."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from dps_nesting.correlation import layer_correlation, layer_distances, module_graph, tree_distances
from dps_nesting.hierarchy import Hierarchy, clique_blocks
from dps_nesting.law4 import nested_config

from dps_core import Simulation, Topology

# two tasks; A and B are disjoint (overlap 0), a module with itself overlaps 1
A, B = [1.0, 0.0], [0.0, 1.0]


def _path_of_modules(h: Hierarchy) -> Topology:
    """Layer-2 modules as cliques, the last member of module a linked to the first of module a + 1."""
    b, n = h.group(1), h.size(2)
    adj = clique_blocks(n, b).tolil()
    for a in range(n - 1):
        adj[a * b + b - 1, (a + 1) * b] = 1.0
    return Topology.from_scipy(sp.csr_matrix(adj))


def _agents(module_profiles, weights=(1.0, 3.0)):
    """Each module's members make its profile at different rates (aggregation must normalise)."""
    return np.array([np.multiply(p, w) for p in module_profiles for w in weights])


def test_the_induced_graph_of_a_path_of_modules_is_a_path():
    h = Hierarchy((2, 6))
    M = module_graph(_path_of_modules(h), h, 2).toarray()
    assert np.array_equal(M, np.eye(6, k=1) + np.eye(6, k=-1))


def test_two_domains_on_a_path():
    """Six modules on a path, the first three on task A, the last three on B. Same-profile ordered
    pairs: 12 of 30, so the all-pairs mean is 2/5; neighbours: 4 of 5 alike, C(1) = 4/5 - 2/5 = 2/5;
    two apart: 2 of 4 alike, C(2) = 1/10 <= C(1)/e, so the length is 1 + (2/5)(1 - 1/e)/(2/5 - 1/10)
    = 1 + (4/3)(1 - 1/e)."""
    h = Hierarchy((2, 6))
    Y = _agents([A, A, A, B, B, B])
    sd, kind = layer_distances(_path_of_modules(h), h, 2)
    assert kind == "graph"
    length, near = layer_correlation(h.aggregate(Y, 2), sd)
    assert near == pytest.approx(2 / 5, abs=1e-12)
    assert length == pytest.approx(1 + 4 / 3 * (1 - 1 / math.e), abs=1e-12)


def test_alternating_profiles_on_a_path_never_decorrelate():
    """Four modules on a path alternating A, B, A, B: the all-pairs mean is 4/12 = 1/3; neighbours
    never alike, C(1) = -1/3; C(2) = 1 - 1/3 = 2/3; C(3) = -1/3. |C| never falls to |C(1)|/e
    within the path, so there is no length (NaN)."""
    h = Hierarchy((2, 4))
    sd, _ = layer_distances(_path_of_modules(h), h, 2)
    length, near = layer_correlation(h.aggregate(_agents([A, B, A, B]), 2), sd)
    assert near == pytest.approx(-1 / 3, abs=1e-12)
    assert math.isnan(length)


def test_tree_distance_counts_the_layers_to_the_common_module():
    h = Hierarchy((2, 2, 3))  # 6 layer-2 modules in 3 pairs, the pairs make the whole
    d = tree_distances(h, 2, np.arange(6))
    expected = np.where(np.arange(6)[:, None] // 2 == np.arange(6)[None, :] // 2, 1, 2)
    np.fill_diagonal(expected, 0)
    assert np.array_equal(d, expected)
    assert np.array_equal(tree_distances(h, 3, np.arange(3)), 1 - np.eye(3, dtype=int))


def test_disjoint_modules_fall_back_to_the_tree():
    """The nested scenario's own graph (cliques of layer-2 modules) links no two modules. Siblings
    share a task, the three pairs have three tasks: all-pairs mean 6/30 = 1/5, C(1) = 1 - 1/5 = 4/5,
    C(2) = -1/5, so the length is 1 + (4/5)(1 - 1/e)/(4/5 - 1/5) = 1 + (4/3)(1 - 1/e)."""
    h = Hierarchy((2, 2, 3))
    topo = Topology.from_scipy(clique_blocks(6, 2))
    sd, kind = layer_distances(topo, h, 2)
    assert kind == "tree"
    T = np.eye(3)
    length, near = layer_correlation(h.aggregate(_agents([T[0], T[0], T[1], T[1], T[2], T[2]]), 2), sd)
    assert near == pytest.approx(4 / 5, abs=1e-12)
    assert length == pytest.approx(1 + 4 / 3 * (1 - 1 / math.e), abs=1e-12)


def test_sampled_sources_are_a_subset_of_the_exact_distances():
    h = Hierarchy((2, 2, 3))
    topo = Topology.from_scipy(clique_blocks(6, 2))
    exact, _ = layer_distances(topo, h, 2)
    part, _ = layer_distances(topo, h, 2, sources=3, seed=5)
    assert len(part.sources) == 3 and not part.exact and exact.exact
    assert np.array_equal(part.dist, exact.dist[part.sources])


def test_nested_run_two_tree_levels_fix_the_length():
    """Branching 2, 3, 4: a layer-2 module has 2 siblings and 9 cousins, and the all-pairs mean is
    the pair-weighted mean of C over distances, so 2 C(1) + 9 C(2) = 0 whatever the profiles; the
    length is then 1 + (1 - 1/e)/(1 - 2/9) = 1 + (9/7)(1 - 1/e) whenever C(1) != 0. At the top layer
    every pair is at distance 1, C(1) = 0 and there is no length."""
    sim = Simulation.from_config(nested_config(5, True, 150, seed=1))
    sim.run()
    h = sim.history
    assert np.all(np.abs(h["layer2_corr_near"][1:]) > 1e-9)  # modules differ once coordination has begun
    assert np.allclose(h["layer2_corr_length"][1:], 1 + 9 / 7 * (1 - 1 / math.e), rtol=1e-9)
    assert np.allclose(h["layer3_corr_near"], 0.0, atol=1e-12)
    assert np.isnan(h["layer3_corr_length"]).all()


def test_identical_modules_have_no_length():
    """Identical modules: every overlap is 1, C(d) = 1 - 1 = 0 at every distance, so no length."""
    h = Hierarchy((2, 6))
    length, near = layer_correlation(h.aggregate(_agents([A] * 6), 2), layer_distances(_path_of_modules(h), h, 2)[0])
    assert near == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(length)
