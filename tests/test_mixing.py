"""Gather/scatter: scatter is the exact adjoint of gather for every operator and topology, and
conservative mixing preserves total supply (goods are rival: what one node receives, another
no longer has)."""

import numpy as np
import pytest
import scipy.sparse as sp

from dps_core import Topology
from dps_core.mixing import Mixing

pytestmark = pytest.mark.nokernel  # never steps a system: one tox environment is enough


def random_graph(n, seed):
    """Directed, weighted, with one isolated node and one self loop: the awkward cases."""
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=0.3, random_state=rng, data_rvs=lambda m: rng.uniform(0.1, 2.0, m)).tolil()
    A[0, :] = 0
    A[:, 0] = 0
    A[1, 1] = 0.5
    return Topology.from_scipy(A.tocsr())


TOPOLOGIES = {
    "complete": lambda n: Topology.complete(n),
    "ring": lambda n: Topology.ring(n, 2),
    "random": lambda n: random_graph(n, 7),
}
CASES = [(m, t, g, "mean") for m in ("shared", "conservative") for t in TOPOLOGIES for g in (0.0, 0.3, 1.0)]
CASES += [("mean_field", "complete", g, pool) for g in (0.0, 0.3, 1.0) for pool in ("mean", "sum")]


@pytest.mark.parametrize("name,topo,gamma,pool", CASES)
def test_scatter_is_adjoint_of_gather(name, topo, gamma, pool):
    n, k = 11, 5
    mix = Mixing(name, gamma, TOPOLOGIES[topo](n), pool)
    rng = np.random.default_rng(1)
    Y, G = rng.normal(size=(n, k)), rng.normal(size=(n, k))
    lhs = np.sum(mix.gather(Y) * G)
    rhs = np.sum(Y * mix.scatter(G))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))
    # and both equal the dense matrix's action
    M = mix.dense()
    np.testing.assert_allclose(mix.gather(Y), M @ Y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mix.scatter(G), M.T @ G, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mix.diagonal(), np.diag(M), rtol=0, atol=1e-12)


@pytest.mark.parametrize("topo", list(TOPOLOGIES))
@pytest.mark.parametrize("gamma", [0.0, 0.4, 1.0])
def test_conservative_preserves_total_supply(topo, gamma):
    n, k = 13, 4
    mix = Mixing("conservative", gamma, TOPOLOGIES[topo](n))
    Y = np.random.default_rng(2).uniform(size=(n, k))
    np.testing.assert_allclose(mix.gather(Y).sum(axis=0), Y.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(mix.dense().sum(axis=0), np.ones(n), rtol=0, atol=1e-13)


def test_mean_field_formula_and_shared_formula():
    n, k, g = 6, 3, 0.25
    Y = np.random.default_rng(3).uniform(size=(n, k))
    mf = Mixing("mean_field", g, Topology.complete(n))
    np.testing.assert_allclose(mf.gather(Y), (1 - g) * Y + g * Y.mean(axis=0), atol=1e-15)
    # shared on a ring of 6 with k=1: each node sees itself plus gamma times the mean of its 2 neighbours
    sh = Mixing("shared", g, Topology.ring(n, 1))
    expect = Y + g * 0.5 * (np.roll(Y, 1, axis=0) + np.roll(Y, -1, axis=0))
    np.testing.assert_allclose(sh.gather(Y), expect, atol=1e-15)


def test_communication_weights_are_offdiagonal_column_mass():
    """comm_j = sum_{i != j} M_ij: how much of agent j's output travels over edges."""
    for name, topo in [
        ("shared", random_graph(9, 4)),
        ("conservative", random_graph(9, 5)),
        ("mean_field", Topology.complete(9)),
        ("shared", Topology.complete(9)),
    ]:
        mix = Mixing(name, 0.6, topo)
        M = mix.dense()
        off = M.sum(axis=0) - np.diag(M)
        np.testing.assert_allclose(mix.comm, off, atol=1e-13, err_msg=name)


def test_dispersal_conserves_total_and_moves_along_edges():
    topo = Topology.ring(8, 1)
    mix = Mixing("shared", 1.0, topo)
    w = np.zeros(8)
    w[3] = 1.0
    out = mix.disperse(w, 0.2)
    assert out.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(out[[2, 3, 4]], [0.1, 0.8, 0.1], atol=1e-15)
    assert np.all(out[[0, 1, 5, 6, 7]] == 0)
