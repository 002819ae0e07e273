"""The within/between partition on cases computed by hand (Reeve et al. 2016, arXiv:1404.6520;
at q = 1 with no similarity it is Jost's 2007 Shannon partition), and against the definition
evaluated with the explicit similarity matrix."""

import math

import numpy as np
import pytest
from dps_nesting import between_modules, power_mean, reeve_partition

QS = (0.0, 0.5, 1.0, 2.0, 3.0)


def test_power_mean_orders():
    x, u = np.array([1.0, 4.0]), np.array([0.5, 0.5])
    assert power_mean(x, u, 1) == pytest.approx(2.5)  # arithmetic
    assert power_mean(x, u, 0) == pytest.approx(2.0)  # geometric sqrt(1 * 4)
    assert power_mean(x, u, -1) == pytest.approx(1.6)  # harmonic 2 / (1 + 1/4)
    assert power_mean(x, u, np.inf) == 4.0 and power_mean(x, u, -np.inf) == 1.0


def test_two_modules_of_two_distinct_members_give_two_two_four():
    # four members on four disjoint tasks (Z = I), two per module, all equally abundant:
    # within each module 2 equally common distinct types, the modules share nothing.
    P = np.eye(4)
    for q in QS:
        r = reeve_partition(P, np.ones(4), np.array([0, 0, 1, 1]), q)
        assert r["within"] == pytest.approx(2.0, rel=1e-12), q
        assert r["beta"] == pytest.approx(2.0, rel=1e-12), q
        assert r["gamma"] == pytest.approx(4.0, rel=1e-12), q


def test_identical_modules_have_beta_one():
    # each module holds the same two profiles in the same proportions
    P = np.array([[1.0, 0, 0], [0, 0.5, 0.5], [1.0, 0, 0], [0, 0.5, 0.5]])
    p = np.array([1.0, 3.0, 1.0, 3.0])
    for q in QS:
        r = reeve_partition(P, p, np.array([0, 0, 1, 1]), q)
        assert r["beta"] == pytest.approx(1.0, rel=1e-12), q
        assert r["within"] == pytest.approx(r["gamma"], rel=1e-12), q


def test_one_member_per_module_with_a_known_overlap():
    # members (1/2, 1/2, 0) and (0, 1/2, 1/2): Bhattacharyya overlap z = 1/2, equal abundances,
    # each alone in its module: (Z Pbar) = 1 for the member itself, (Z p) = (1 + z)/2 = 3/4, so
    # alpha = 1 and beta = gamma = 1 / (3/4) = 4/3 at every order.
    P = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    for q in QS:
        r = reeve_partition(P, np.ones(2), np.array([0, 1]), q)
        assert r["within"] == pytest.approx(1.0, rel=1e-12), q
        assert r["beta"] == pytest.approx(4 / 3, rel=1e-12), q
        assert r["gamma"] == pytest.approx(4 / 3, rel=1e-12), q


def test_unequal_module_weights():
    # module A: two members on their own tasks with abundance 1/3 each; module B: one member,
    # 1/3. Module weights (2/3, 1/3), metacommunity abundances (1/3, 1/3, 1/3), Z = I.
    #   q = 1: A = exp(2/3 ln 2 + 1/3 ln 1) = 2^(2/3), G = 3, B = G / A = 3 / 2^(2/3)
    #   q = 0: alpha_j = number of members (2, 1): A = 2/3 * 2 + 1/3 * 1 = 5/3
    #   q = 2: alpha_j = 1 / sum Pbar^2 = (2, 1): A = 1 / (2/3 / 2 + 1/3 / 1) = 3/2
    P, p, mod = np.eye(3), np.ones(3), np.array([0, 0, 1])
    r1 = reeve_partition(P, p, mod, 1.0)
    assert r1["within"] == pytest.approx(2 ** (2 / 3), rel=1e-12)
    assert r1["gamma"] == pytest.approx(3.0, rel=1e-12)
    assert r1["beta"] == pytest.approx(3 / 2 ** (2 / 3), rel=1e-12)
    assert reeve_partition(P, p, mod, 0.0)["within"] == pytest.approx(5 / 3, rel=1e-12)
    assert reeve_partition(P, p, mod, 2.0)["within"] == pytest.approx(3 / 2, rel=1e-12)


def reeve_direct(P, p, module, q):
    """The definition with explicit S x M matrices and the N x N similarity (independent of the plugin)."""
    P = P / P.sum(axis=1, keepdims=True)
    p = p / p.sum()
    Z = np.sqrt(P) @ np.sqrt(P).T
    M = module.max() + 1
    Pm = np.zeros((len(p), M))
    Pm[np.arange(len(p)), module] = p
    w = Pm.sum(axis=0)
    Pbar = Pm / w
    ZPbar, Zp = Z @ Pbar, Z @ p

    def pm(x, u, t):
        m = u > 0
        x, u = x[m], u[m]
        return math.exp((u * np.log(x)).sum()) if t == 0 else (u * x**t).sum() ** (1 / t)

    a = [pm(1 / ZPbar[:, j], Pbar[:, j], 1 - q) for j in range(M)]
    b = [pm(ZPbar[:, j] / Zp, Pbar[:, j], q - 1) for j in range(M)]
    g = [pm(1 / Zp, Pbar[:, j], 1 - q) for j in range(M)]
    return {"within": pm(np.array(a), w, 1 - q), "beta": pm(np.array(b), w, 1 - q), "gamma": pm(np.array(g), w, 1 - q)}


def test_factorised_partition_equals_the_definition_and_splits_exactly_at_q1():
    rng = np.random.default_rng(5)
    for _ in range(4):
        P = rng.exponential(size=(30, 10)) ** 3
        p = rng.exponential(size=30)
        module = np.repeat(np.arange(6), 5)
        for q in (0.0, 1.0, 2.0, 3.5):
            got, want = reeve_partition(P, p, module, q), reeve_direct(P, p, module, q)
            for key in want:
                assert got[key] == pytest.approx(want[key], rel=1e-10), (q, key)
        r = reeve_partition(P, p, module, 1.0)
        assert r["gamma"] == pytest.approx(r["within"] * r["beta"], rel=1e-12)  # exact at q = 1


def test_between_module_aggregates():
    # identical aggregates: one effective module; disjoint aggregates of equal weight: their count
    assert between_modules(np.tile([1.0, 2.0, 3.0], (5, 1)), np.ones(5)) == pytest.approx(1.0, rel=1e-12)
    assert between_modules(np.eye(4) * 7.0, np.ones(4), q=2.0) == pytest.approx(4.0, rel=1e-12)
