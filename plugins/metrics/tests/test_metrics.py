"""Metrics on cases computed by hand, and against a direct O(N^2) evaluation of the
Leinster-Cobbold formula (Leinster & Cobbold 2012, Ecology 93:477, eq. 1)."""

import math

import numpy as np
import pytest
from dps_metrics import (
    abundances,
    bhattacharyya_profiles,
    demand_modes,
    entropy,
    hill_numbers,
    kept_share,
    mutual_information,
    profiles_as_distributions,
    similarity_times,
    specialisation,
)
from dps_metrics.diversity import circulant_times, ring_kernel_row

from dps_core import ConfigError, Simulation


def hill_direct(P, p, q, Z=None):
    """The definition with the explicit N x N similarity matrix (slow, independent of the plugin)."""
    if Z is None:
        Z = np.sqrt(P) @ np.sqrt(P).T
    Zp = Z @ p
    live = p > 0
    if q == 1:
        return math.exp(-sum(p[i] * math.log(Zp[i]) for i in range(len(p)) if live[i]))
    return sum(p[i] * Zp[i] ** (q - 1) for i in range(len(p)) if live[i]) ** (1 / (1 - q))


def hill(P, p, qs=(0, 1, 2)):
    R, _ = bhattacharyya_profiles(P)
    return hill_numbers(p, similarity_times(p, R), qs)


def test_dissimilar_equally_abundant_agents_give_N_for_every_q():
    N = 7
    P = np.eye(N)  # each agent on its own task: Z = I
    h = hill(P, np.full(N, 1 / N), (0, 0.5, 1, 2, 3, np.inf))
    for q, v in h.items():
        assert v == pytest.approx(N, rel=1e-12), q


def test_identical_agents_give_one():
    P = np.tile([0.2, 0.3, 0.5], (9, 1))
    h = hill(P, abundances(np.arange(1, 10)))
    for q, v in h.items():
        assert v == pytest.approx(1.0, rel=1e-12), q


def test_two_agents_with_a_known_overlap():
    # s1 = (1/2, 1/2, 0), s2 = (0, 1/2, 1/2): Z12 = sqrt(0*0) + sqrt(1/4) + 0 = 1/2.
    # Abundances p = (1/4, 3/4): Zp = (1/4 + 3/8, 3/4 + 1/8) = (5/8, 7/8).
    #   q = 0: sum p/Zp = (1/4)/(5/8) + (3/4)/(7/8) = 2/5 + 6/7 = 44/35
    #   q = 1: exp(-(1/4 ln 5/8 + 3/4 ln 7/8))
    #   q = 2: 1 / (1/4 * 5/8 + 3/4 * 7/8) = 1 / (26/32) = 16/13
    P = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    h = hill(P, np.array([0.25, 0.75]))
    assert h[0] == pytest.approx(44 / 35, rel=1e-12)
    assert h[1] == pytest.approx(math.exp(-(0.25 * math.log(5 / 8) + 0.75 * math.log(7 / 8))), rel=1e-12)
    assert h[2] == pytest.approx(16 / 13, rel=1e-12)


def test_factorised_evaluation_equals_the_definition_on_random_populations():
    rng = np.random.default_rng(3)
    for _ in range(5):
        P = profiles_as_distributions(rng.exponential(size=(40, 12)) ** 3)
        p = abundances(rng.exponential(size=40))
        p[3] = 0.0  # an extinct agent does not count
        h = hill(P, p / p.sum(), (0, 1, 2, 3.5))
        for q, v in h.items():
            assert v == pytest.approx(hill_direct(P, p / p.sum(), q), rel=1e-10), q


def test_task_kernel_similarity_is_normalised_and_factorised():
    rng = np.random.default_rng(4)
    K = 16
    P = profiles_as_distributions(rng.exponential(size=(25, K)))
    p = abundances(rng.exponential(size=25))
    row = ring_kernel_row(K, 3.0)
    T = row[(np.arange(K)[None, :] - np.arange(K)[:, None]) % K]
    R, scale = bhattacharyya_profiles(P, T)
    Zp = similarity_times(p, R, scale, T)
    Z = np.sqrt(P) @ T @ np.sqrt(P).T
    Z = Z / np.sqrt(np.outer(np.diag(Z), np.diag(Z)))
    np.testing.assert_allclose(Zp, Z @ p, rtol=1e-12)
    assert np.allclose(np.diag(Z), 1.0)
    v = rng.normal(size=K)
    np.testing.assert_allclose(circulant_times(row, v), T @ v, atol=1e-12)


def test_ring_kernel_overlap_matches_its_definition():
    K, kappa = 24, 5.0
    x = 2 * np.pi * np.arange(K) / K
    f = np.exp(kappa * (np.cos(x[:, None] - x[None, :]) - 1))
    f /= f.sum(axis=1, keepdims=True)
    direct = np.sqrt(f) @ np.sqrt(f).T  # Bhattacharyya overlap of kernels at tasks k and l
    np.testing.assert_allclose(ring_kernel_row(K, kappa), direct[0], atol=1e-12)


def test_mutual_information_and_specialisation():
    N = 5
    assert mutual_information(np.eye(N), np.full(N, 1 / N)) == pytest.approx(math.log(N))  # N distinct roles
    assert mutual_information(np.tile(np.full(4, 0.25), (3, 1)), np.full(3, 1 / 3)) == pytest.approx(0.0, abs=1e-15)
    # two agents of equal abundance on (1,0) and (1/2,1/2): H(mix) = H(3/4,1/4), mean H = log(2)/2
    info = mutual_information(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([0.5, 0.5]))
    assert info == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) - math.log(2) / 2)
    assert specialisation(np.eye(6)) == pytest.approx(1.0)
    assert specialisation(np.full((3, 6), 1 / 6)) == pytest.approx(0.0, abs=1e-15)
    assert specialisation(np.array([[0.5, 0.5, 0, 0]])) == pytest.approx(0.5)  # 1 - log 2 / log 4


def test_many_rows_give_the_entropy_of_each_row_alone():
    # entropy takes many rows in blocks; each row's value must be what that row alone gives, and
    # the shared row entropies must leave mutual information and specialisation unchanged
    P = profiles_as_distributions(np.random.default_rng(2).random((5000, 16)) ** 4)
    h = entropy(P)
    assert np.array_equal(h[[0, 2047, 2048, 4999]], [entropy(P[i]) for i in (0, 2047, 2048, 4999)])
    p = np.full(len(P), 1 / len(P))
    assert mutual_information(P, p, h) == mutual_information(P, p)
    assert specialisation(P, h) == specialisation(P)


def test_signed_atoms_become_squared_distributions():
    A = np.array([[0.6, -0.8], [1.0, 0.0]])
    np.testing.assert_allclose(profiles_as_distributions(A, signed=True), [[0.36, 0.64], [1.0, 0.0]])
    # integer counts (e.g. read from a table) become distributions too
    np.testing.assert_array_equal(profiles_as_distributions(np.array([[1, 3], [0, 0]])), [[0.25, 0.75], [0.0, 0.0]])


def test_demand_modes():
    K = 60
    assert demand_modes(np.ones(K)) == pytest.approx(K)  # uniform: K tasks
    d = np.zeros(K)
    d[[0, 20, 40]] = 1.0
    assert demand_modes(d) == pytest.approx(3.0)  # three equal spikes
    assert demand_modes(d, q=2) == pytest.approx(3.0)
    # three spikes far apart, through a kernel about 2 tasks wide: still about 3 modes; adjacent
    # spikes within one kernel count as about one
    assert demand_modes(d, ring_kappa=50.0) == pytest.approx(3.0, rel=0.01)
    close = np.zeros(K)
    close[[10, 11]] = 1.0
    assert demand_modes(close, ring_kappa=50.0) == pytest.approx(1.0, rel=0.05)
    assert demand_modes(close) == pytest.approx(2.0)


def test_kept_share():
    assert kept_share(2.0, 1.5) == pytest.approx(0.75)
    assert kept_share(-1.0, -2.0) == pytest.approx(0.0)  # twice the residual: everything lost
    assert math.isnan(kept_share(0.0, 1.0))


def test_robustness_on_disjoint_specialists():
    """Four one-task specialists with resources w = (1, 1, 1, 3) in a world market (mean field):
    each node sees Z_k = w_k / 4, exactly its demand D_k = w_k / 4, so U = N * sum_k w_k / 4 and
    removing agent i removes the share w_i / 6 of it. Targeted removal (the largest, w = 3) keeps
    1/2; a random one keeps (5/6 + 5/6 + 5/6 + 1/2) / 4 = 3/4 on average."""
    w = np.array([1.0, 1.0, 1.0, 3.0])
    cfg = {
        "metrics": {"names": ["robustness"], "robustness": {"fraction": 0.25, "trials": 400, "steps": 0}},
        "signal": {"name": "coverage", "smoothing": 0.0},
        "mixing": {"name": "mean_field", "gamma": 1.0},
    }
    sim = Simulation.from_arrays(w / 4, profile={"logits": np.log(np.eye(4) + 1e-300)}, resources=w, config=cfg)
    assert sim.context().utility() == pytest.approx(4 * w.sum() / 4)
    m = sim.metrics()
    assert m["robust_targeted"] == pytest.approx(0.5, rel=1e-9)
    assert m["robust_random"] == pytest.approx(0.75, abs=0.03)  # 400 trials: sd of the mean ~0.007
    assert m["robust_random_adapted"] == pytest.approx(m["robust_random"])  # steps = 0


def test_robustness_readaptation_recovers_and_does_not_disturb_the_run():
    cfg = {
        "run": {"seed": 2},
        "scenario": {"agents": 20, "tasks": 24, "peaks": 2},
        "profile": {"kappa": 6.0},
        "mode": {"eta": 0.5},
        "metrics": {"names": ["efficacy", "robustness"], "robustness": {"fraction": 0.3, "steps": 60}},
    }
    sim = Simulation.from_config(cfg)
    sim.step(300)
    m = sim.metrics()
    assert m["robust_targeted_adapted"] >= m["robust_targeted"] - 1e-12
    assert m["robust_random_adapted"] >= m["robust_random"] - 1e-12
    # computing the metric left the run exactly where it was
    plain = Simulation.from_config({**cfg, "metrics": {"names": ["efficacy"]}})
    plain.step(300)
    sim.step(5)
    plain.step(5)
    assert np.array_equal(sim.state.profile["mu"], plain.state.profile["mu"])


def test_metrics_in_a_run_and_bad_parameters():
    cfg = {
        "run": {"steps": 400, "record_every": 100},
        "scenario": {"agents": 30, "tasks": 48, "peaks": 3},
        "profile": {"kappa": 8.0},
        "mode": {"eta": 0.3},
        "metrics": {"names": ["efficacy", "hill", "mutual_information", "demand_modes", "specialisation"]},
    }
    sim = Simulation.from_config(cfg)
    sim.run()
    h = sim.history
    assert h["hill_q1"][0] == pytest.approx(1.0, abs=0.01) and h["hill_q1"][-1] > 2.0  # law 1 in miniature
    assert h["hill_q0"][-1] >= h["hill_q1"][-1] >= h["hill_q2"][-1]  # D decreases with q
    assert h["effective_roles"][-1] > 2.0
    assert h["demand_modes"][0] == pytest.approx(3.0, abs=0.3)
    with pytest.raises(ConfigError, match="config key 'metrics.hill.similarity' must be one of"):
        Simulation.from_config({**cfg, "metrics": {"names": ["hill"], "hill": {"similarity": "cosine"}}})
    with pytest.raises(ConfigError, match="config key 'metrics.robustness.fraction' must be in"):
        Simulation.from_config({**cfg, "metrics": {"names": ["robustness"], "robustness": {"fraction": 1.0}}})
    with pytest.raises(ConfigError, match="unknown metric 'hil'.*Did you mean 'hill'"):
        Simulation.from_config({**cfg, "metrics": {"names": ["hil"]}})


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_harness():
    from dps_core.testing import check_plugin

    checks = check_plugin("metrics")
    assert checks and all(c.status == "pass" for c in checks), [str(c) for c in checks if c.status != "pass"]


def test_demand_modes_not_applicable_for_free_profiles():
    # a free profile can copy any demand shape: no breadth defines a mode, so the metric is NaN
    cfg = {"profile": {"family": "free"}, "metrics": {"names": ["demand_modes"]}}
    assert math.isnan(Simulation.from_config(cfg).metrics()["demand_modes"])
    cfg["metrics"]["demand_modes"] = {"kernel_kappa": 8.0}  # an explicit breadth makes it defined again
    assert Simulation.from_config(cfg).metrics()["demand_modes"] == pytest.approx(3.0, abs=0.3)
