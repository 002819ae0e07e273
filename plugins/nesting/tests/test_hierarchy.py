"""The tree, the clique graph, the von Mises moment fit and the apportioning of asks."""

import numpy as np
import pytest
from dps_nesting import Hierarchy, apportion, clique_blocks, fit_vonmises, resultant, vonmises_rows


def test_sizes_parents_and_aggregation():
    h = Hierarchy((2, 3, 4))
    assert h.n_agents == 24 and h.depth == 3
    assert [h.size(layer) for layer in (1, 2, 3, 4)] == [24, 12, 4, 1]
    assert list(h.parents(1)[:6]) == [0, 0, 1, 1, 2, 2]
    assert list(h.parents(2)) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert list(h.parents(3)) == [0, 0, 0, 0]
    w = np.arange(24.0)
    assert h.aggregate(w, 2)[0] == 0 + 1 and h.aggregate(w, 3)[1] == sum(range(6, 12))
    assert h.aggregate(w, 4)[0] == w.sum()
    with pytest.raises(ValueError, match="layer must be in 1..3"):
        h.parents(4)
    with pytest.raises(ValueError, match="positive integers"):
        Hierarchy((2, 0))


def test_clique_blocks_make_conservative_mixing_the_module_mean():
    A = clique_blocks(3, 4).toarray()
    assert A.shape == (12, 12) and np.all(np.diag(A) == 1)
    assert A[0, 3] == 1 and A[0, 4] == 0  # same module, next module
    M = A / A.sum(axis=1, keepdims=True)  # row-normalised; conservative at gamma = 1 gathers with M^T
    Y = np.arange(12.0)
    assert np.allclose(M.T @ Y, np.repeat([1.5, 5.5, 9.5], 4))


def test_fit_recovers_a_von_mises_profile_and_is_never_narrower_than_its_members():
    x = 2 * np.pi * np.arange(64) / 64
    mu, kappa = np.array([0.3, 2.0, 5.0]), np.array([0.5, 8.0, 40.0])
    fmu, fk = fit_vonmises(vonmises_rows(mu, kappa, x), x, 1e-3, 1e3)
    assert np.allclose(fmu, mu, atol=1e-9) and np.allclose(fk, kappa, rtol=1e-6)
    # two members of concentration 8 at +-0.5 rad: resultant length cos(0.5) times a member's
    pair = vonmises_rows(np.array([-0.5, 0.5]), np.array([8.0, 8.0]), x).sum(axis=0, keepdims=True)
    _, R_member = resultant(vonmises_rows(np.zeros(1), np.array([8.0]), x), x)
    m, k = fit_vonmises(pair, x, 1e-3, 1e3)
    assert m[0] == pytest.approx(0.0, abs=1e-12) or m[0] == pytest.approx(2 * np.pi, abs=1e-12)
    assert k[0] < 8.0
    _, R_fit = resultant(vonmises_rows(m, k, x), x)
    assert R_fit[0] == pytest.approx(np.cos(0.5) * R_member[0], rel=1e-9)


def test_asks_are_conserved_and_follow_the_plan():
    rows = np.array([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]])  # parent ask (4, 4, 4) shared by two children
    Y = np.array([[3.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    Z = np.tile(Y.mean(axis=0), (2, 1))  # siblings' mean plan
    ask = apportion(rows, Y, Z)
    assert np.allclose(ask.sum(axis=0), [4.0, 4.0, 4.0])  # conserved
    assert np.allclose(ask[:, 0], [3.0, 1.0]) and np.allclose(ask[:, 1], [2.0, 2.0])  # by planned share
    assert np.allclose(ask[:, 2], [2.0, 2.0])  # nobody plans task 3: equal split
