"""Spatial-scale measures on graphs whose distances and overlaps are counted by hand: path, ring,
star and complete graphs with two kinds of agents on disjoint tasks (overlap 0 between kinds, 1
within a kind)."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from dps_metrics import (
    correlation_length,
    local_heterogeneity,
    mean_path_length,
    pair_similarity_mean,
    self_sufficiency,
    similarity_by_distance,
    source_distances,
)

from dps_core import Simulation, Topology


def path(n):
    A = sp.diags([np.ones(n - 1)], [1], shape=(n, n))
    return Topology.from_scipy(A + A.T, name="path")


def ring(n):
    i = np.arange(n)
    A = sp.csr_matrix((np.ones(n), (i, (i + 1) % n)), shape=(n, n))
    return Topology.from_scipy(A + A.T, name="ring")


def star(leaves):
    n = leaves + 1
    A = sp.csr_matrix((np.ones(leaves), (np.zeros(leaves, int), np.arange(1, n))), shape=(n, n))
    return Topology.from_scipy(A + A.T, name="star")


def roots(kinds):
    """sqrt of one-hot profiles: agent i works only on task kinds[i]."""
    return np.eye(2)[np.asarray(kinds)]


def entropy_exp(*counts):
    """exp(Shannon entropy) of the proportions counts / sum(counts): the Hill number of order 1
    of agents of disjoint kinds in those numbers."""
    c = np.asarray(counts, dtype=float)
    q = c / c.sum()
    return math.exp(-(q * np.log(q)).sum())


def test_all_pairs_mean_counts_same_kind_pairs():
    # 4 of kind 0 and 4 of kind 1: 12 of the 28 unordered pairs share a kind.
    assert pair_similarity_mean(roots([0] * 4 + [1] * 4)) == pytest.approx(12 / 28, abs=1e-15)


def test_path_alternating_kinds():
    # path 0-1-2-3 with kinds A B A B: d=1 pairs (01,12,23) differ, d=2 pairs (02,13) agree, d=3 (03) differs;
    # all-pairs mean 2/6 = 1/3, so C = (-1/3, 2/3, -1/3); |C| never falls to |C(1)|/e.
    sd = source_distances(path(4), sources=10)
    assert sd.exact
    C, se, pairs = similarity_by_distance(roots([0, 1, 0, 1]), sd, max_distance=3)
    assert C[1:] == pytest.approx([-1 / 3, 2 / 3, -1 / 3], abs=1e-12)
    assert list(pairs[1:]) == [6, 4, 2]  # ordered pairs
    assert se[1] == 0.0  # exact: every agent is a source
    assert math.isnan(correlation_length(C))


def test_ring_of_two_blocks():
    # ring of 8, kinds 0 0 0 0 1 1 1 1. Same-kind share of pairs at distance d: 6/8, 4/8, 2/8, 0/4;
    # all-pairs 3/7. So C = 9/28, 1/14, -5/28, -3/7 and |C| falls to C(1)/e between d = 1 and 2:
    # d* = 1 + (C1 - C1/e) / (C1 - C2) = 1 + (9/7)(1 - 1/e).
    C, _, _ = similarity_by_distance(roots([0] * 4 + [1] * 4), source_distances(ring(8), 8), max_distance=4)
    assert C[1:] == pytest.approx([9 / 28, 1 / 14, -5 / 28, -3 / 7], abs=1e-12)
    assert correlation_length(C) == pytest.approx(1 + (9 / 7) * (1 - 1 / math.e), rel=1e-12)


def test_complete_graph_has_no_spatial_structure():
    # every pair is at distance 1, so C(1) is the all-pairs mean minus itself
    sd = source_distances(Topology.complete(6), 6)
    C, _, _ = similarity_by_distance(roots([0, 0, 1, 1, 1, 0]), sd, max_distance=2)
    assert C[1] == pytest.approx(0.0, abs=1e-15)
    assert math.isnan(C[2])
    assert mean_path_length(sd)[0] == 1.0


@pytest.mark.parametrize(
    ("topology", "expected"),
    [
        (path(7), (7 + 1) / 3),  # mean |i - j| over i != j on a path of n nodes: (n + 1) / 3
        (ring(10), 10**2 / (4 * 9)),  # ring of even n: n^2 / (4 (n - 1))
        (star(5), 2 * 5 / 6),  # star of n leaves: (2n * 1 + n(n-1) * 2) / (n (n + 1)) = 2n / (n + 1)
    ],
)
def test_mean_path_closed_forms(topology, expected):
    mean, se = mean_path_length(source_distances(topology, topology.n))
    assert mean == pytest.approx(expected, rel=1e-12)
    assert se == 0.0


def test_sampled_sources_error_covers_the_exact_value():
    # a ring of 2000 with blocks of 50: estimate from 64 sources within 4 standard errors of the exact C(1)
    n = 2000
    kinds = (np.arange(n) // 50) % 2
    R = roots(kinds)
    exact, _, _ = similarity_by_distance(R, source_distances(ring(n), n), 3)
    est, se, _ = similarity_by_distance(R, source_distances(ring(n), 64, seed=3), 3)
    assert 0 < se[1] < 0.05
    assert abs(est[1] - exact[1]) <= 4 * se[1]


def test_local_heterogeneity_on_a_ring_of_two_blocks():
    # ring of 8, kinds 0000 1111, equal resources; global Hill (q=1) = 2.
    # radius 1: balls of 3; four are pure (Hill 1), four hold 2:1 -> mean ratio (1 + e^H(2/3,1/3)) / 4;
    # radius 2: balls of 5; four hold 3:2 and four 4:1.
    R = roots([0] * 4 + [1] * 4)
    r1 = (1 + entropy_exp(2, 1)) / 4
    r2 = (entropy_exp(3, 2) + entropy_exp(4, 1)) / 4
    assert r1 < 0.9 <= r2
    radius, ratios = local_heterogeneity(R, np.full(8, 1 / 8), source_distances(ring(8), 8), share=0.9)
    assert ratios[0] == pytest.approx(0.5, rel=1e-12)  # one agent alone: Hill 1 of 2
    assert ratios[1:3] == pytest.approx([r1, r2], rel=1e-12)
    assert radius == pytest.approx(1 + (0.9 - r1) / (r2 - r1), rel=1e-12)


def test_self_sufficiency_on_a_ring_of_two_blocks():
    # ring of 8; agents of kind 0 produce one unit of task 0, kind 1 of task 1; every node demands (1/2, 1/2).
    # Demand met in a ball with a of kind 0 out of b: (min(a, b/2) + min(b - a, b/2)) / b; whole graph: 1.
    # r = 0: 1/2; r = 1: pure 1/2, 2:1 -> 5/6, mean 2/3; r = 2: 3:2 -> 9/10, 4:1 -> 7/10, mean 4/5;
    # r = 3: every ball misses one agent, 4:3 -> 13/14. Tolerance 0.1: crossing of 0.9 between r = 2 and 3.
    Y = np.eye(2)[[0] * 4 + [1] * 4]
    radius, met = self_sufficiency(Y, np.array([[0.5, 0.5]]), source_distances(ring(8), 8), tolerance=0.1)
    assert met[:4] == pytest.approx([1 / 2, 2 / 3, 4 / 5, 13 / 14], rel=1e-12)
    assert radius == pytest.approx(2 + (0.9 - 0.8) / (13 / 14 - 0.8), rel=1e-12)


def test_metrics_registered_and_recorded_on_a_run():
    sim = Simulation.from_config(
        {
            "scenario": {"agents": 40, "tasks": 16},
            "topology": {"name": "ring", "k": 2},
            "mixing": {"name": "shared"},
            "init": {"kind": "random"},
            "metrics": {"names": ["spatial_correlation", "local_heterogeneity", "self_sufficiency", "reach"]},
        }
    )
    m = sim.metrics()
    # ring of 40 with k = 2 neighbours each side: distances ceil(|i-j|/2), mean over the 39 others
    expected = sum(math.ceil(min(j, 40 - j) / 2) for j in range(1, 40)) / 39
    assert m["mean_path"] == pytest.approx(expected, rel=1e-12)
    # 32 sampled sources of 40, but a ring looks the same from every node: no sampling spread
    assert m["mean_path_se"] == pytest.approx(0.0, abs=1e-12)
    for key in ("corr_d1", "corr_se_d1", "heterogeneity_radius", "local_met_r0"):
        assert key in m
