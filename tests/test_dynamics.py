"""Every step keeps budgets and profile constraints; runs are bit-for-bit reproducible; each
built-in mode and demand process does what its definition says."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from dps_core import Simulation, Topology
from dps_core.budget import project, project_weighted_simplex
from dps_core.demand import rotate_rows

BASE = {"run": {"steps": 30, "seed": 2}, "scenario": {"agents": 10, "tasks": 12, "peaks": 2}}


def cfg(**sections):
    out = {k: dict(v) for k, v in BASE.items()}
    for k, v in sections.items():
        out[k] = {**out.get(k, {}), **v}
    return out


def test_projection_is_the_euclidean_projection():
    rng = np.random.default_rng(0)
    for _ in range(5):
        v = rng.normal(size=6)
        c = rng.uniform(0.5, 2.0, 6)
        B = 1.7
        w = project_weighted_simplex(v, c, B)
        assert np.all(w >= 0) and c @ w == pytest.approx(B, rel=1e-12)
        # compare with a generic constrained solver (SLSQP)
        res = minimize(
            lambda x: ((x - v) ** 2).sum(),
            np.full(6, B / c.sum()),
            method="SLSQP",
            bounds=[(0, None)] * 6,
            constraints=[{"type": "eq", "fun": lambda x: c @ x - B}],
            options={"ftol": 1e-14, "maxiter": 500},
        )
        np.testing.assert_allclose(w, res.x, atol=1e-6)
    assert np.array_equal(project(np.array([0.2, -1.0, 0.3]), "total", 1.0, None, False), [0.2, 0.0, 0.3])
    assert np.array_equal(project(np.array([2.0, -1.0, 0.5]), "per_agent", 1.0, None, False), [1.0, 0.0, 0.5])


BUDGETS = [
    ({"kind": "total", "value": 7.0}, lambda w, c: w.sum() <= 7.0 + 1e-12),
    ({"kind": "total", "value": 7.0, "equality": True}, lambda w, c: abs(w.sum() - 7.0) < 1e-9),
    ({"kind": "per_agent", "value": 0.8}, lambda w, c: w.max() <= 0.8),
]


@pytest.mark.parametrize("budget,holds", BUDGETS, ids=["total", "total-eq", "per-agent"])
@pytest.mark.parametrize("family", ["free", "vonmises", "signed"])
@pytest.mark.parametrize("mode", ["gradient", "replicator"])
def test_budgets_and_profile_constraints_hold_after_every_step(budget, holds, family, mode):
    params = {"name": mode, "eta": 0.3}
    if mode == "gradient":
        params["eta_w"] = 0.5
    signal = "residual" if family == "signed" else "coverage"
    sim = Simulation.from_config(
        cfg(
            budget=budget,
            profile={"family": family},
            mode=params,
            signal={"name": signal},
            init={"kind": "random"},
            penalty={"resource": 0.01},
        )
    )
    for _ in range(25):
        sim.step()
        w = sim.state.w
        assert np.all(w >= 0) and holds(w, None)
        S = sim.S
        if family == "signed":
            np.testing.assert_allclose(np.linalg.norm(S, axis=1), 1.0, atol=1e-12)
        else:
            assert np.all(S >= 0)
            np.testing.assert_allclose(S.sum(axis=1), 1.0, atol=1e-12)
        if family == "vonmises":
            mu, kappa = sim.state.profile["mu"], sim.state.profile["kappa"]
            assert np.all((0 <= mu) & (mu < 2 * math.pi))
            assert np.all((kappa >= sim.config.profile.kappa_min) & (kappa <= sim.config.profile.kappa_max))


def run_arrays(config, steps):
    sim = Simulation.from_config(config)
    sim.step(steps)
    return sim.state.arrays()


@pytest.mark.parametrize("mode", ["gradient", "imitation", "replicator"])
def test_same_seed_same_arrays_bit_for_bit(mode):
    c = cfg(mode={"name": mode, "noise": 0.05}, init={"kind": "random"})
    a, b = run_arrays(c, 20), run_arrays(c, 20)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    other = run_arrays(cfg(mode={"name": mode, "noise": 0.05}, init={"kind": "random"}, run={"seed": 3}), 20)
    assert not np.array_equal(a["profile/mu"], other["profile/mu"])


def test_stepping_in_pieces_and_clones_agree():
    c = cfg(mode={"name": "gradient", "noise": 0.1}, demand={"name": "drift", "speed": 0.05, "noise": 0.02})
    one = Simulation.from_config(c).step(20)
    two = Simulation.from_config(c).step(7)
    clone = two.clone()
    two.step(13)
    clone.step(13)
    for k, v in one.state.arrays().items():
        assert np.array_equal(v, two.state.arrays()[k]), k
        assert np.array_equal(v, clone.state.arrays()[k]), k


def test_homogeneous_start_is_identical_up_to_the_seeded_perturbation():
    sim = Simulation.from_config(cfg(init={"perturbation": 0.0}))
    mu = sim.state.profile["mu"]
    assert np.all(mu == mu[0])
    sim.step(30)
    assert np.all(sim.state.profile["mu"] == sim.state.profile["mu"][0]), "exact symmetry must never break by itself"
    sim = Simulation.from_config(cfg(init={"perturbation": 0.01}))
    deviation = np.angle(np.exp(1j * sim.state.profile["mu"]))  # signed distance from the centre mu = 0
    assert np.std(deviation) == pytest.approx(0.01, rel=0.6)


def test_convergence_stops_the_run():
    sim = Simulation.from_config(cfg(run={"steps": 100000, "tolerance": 1e-4}, mode={"eta": 0.2}))
    result = sim.run()
    assert result.status == "converged"
    assert result.step < 100000
    assert sim.history["change"][-1] < 1e-4


def test_replicator_growth_matches_its_equation():
    """One step of dw/dt = w (r - m) with a fixed profile: r_i = sum_k H_ik C_ik s_ik."""
    sim = Simulation.from_config(cfg(mode={"name": "replicator", "upkeep": 0.3}, run={"dt": 0.1}))
    ctx = sim.context()
    r = (ctx.H * ctx.C * ctx.S).sum(axis=1)
    w0 = sim.state.w.copy()
    sim.step()
    np.testing.assert_allclose(sim.state.w, w0 * (1 + 0.1 * (r - 0.3)), rtol=1e-13)


def test_lca_fixed_point_with_orthonormal_dictionary_is_soft_threshold():
    """Rozell et al. (2008): with orthonormal atoms, a* = T_lambda(Phi x) (soft threshold)."""
    k = 8
    Q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(k, k)))
    x = np.random.default_rng(5).normal(size=k)
    config = {
        "run": {"steps": 400, "dt": 0.2},
        "profile": {"family": "signed"},
        "mixing": {"name": "mean_field", "gamma": 1.0, "pool": "sum"},
        "signal": {"name": "residual"},
        "mode": {"name": "lca", "tau": 1.0, "threshold": 0.3},
    }
    sim = Simulation.from_arrays(x, profile={"atoms": Q.T}, resources=np.zeros(k), config=config)
    sim.run()
    b = Q.T @ x
    expect = np.sign(b) * np.maximum(np.abs(b) - 0.3, 0)
    np.testing.assert_allclose(sim.state.w, expect, atol=1e-9)


def test_imitation_homogenises():
    """Copying better neighbours removes diversity: the number of distinct profiles falls."""
    c = cfg(
        mode={"name": "imitation", "rate": 0.5}, init={"kind": "random"}, run={"steps": 200}, scenario={"agents": 30}
    )
    sim = Simulation.from_config(c)
    before = len(np.unique(sim.state.profile["mu"]))
    sim.step(200)
    after = len(np.unique(sim.state.profile["mu"]))
    assert before == 30 and after < 10


def test_tatonnement_prices_clear_the_market():
    """Two goods, two agents, each better at one: prices settle where supply meets demand."""
    config = {
        "run": {"steps": 3000, "dt": 0.1},
        "profile": {"family": "free"},
        "signal": {"name": "price", "rate": 0.5},
        "mode": {"name": "tatonnement", "rate": 1.0, "beta": 20.0},
    }
    D = np.array([0.5, 0.5])
    sim = Simulation.from_arrays(
        D,
        profile={"logits": np.zeros((2, 2))},
        capability=[[2.0, 0.5], [0.5, 2.0]],
        resources=[0.5, 0.5],
        config=config,
    )
    sim.step(3000)
    ctx = sim.context()
    np.testing.assert_allclose(ctx.Z[0], D, atol=0.02)
    assert sim.S[0, 0] > 0.9 and sim.S[1, 1] > 0.9


def test_demand_rotation_and_shock():
    x = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    D0 = np.exp(np.cos(x - 1.0))[None, :]
    np.testing.assert_allclose(rotate_rows(D0, 2 * np.pi * 3 / 16), np.roll(D0, 3, axis=1), atol=1e-15)
    half = rotate_rows(rotate_rows(D0, 0.1), 0.1)
    np.testing.assert_allclose(half, rotate_rows(D0, 0.2), atol=1e-12)
    np.testing.assert_allclose(rotate_rows(D0, 0.3).sum(), D0.sum(), rtol=1e-12)
    sim = Simulation.from_config(cfg(scenario={"tasks": 16}, demand={"name": "shock", "at": [5], "angle": math.pi}))
    start = sim.state.demand.copy()
    sim.step(4)
    assert np.array_equal(sim.state.demand, start)
    sim.step(1)
    np.testing.assert_allclose(sim.state.demand, np.roll(start, 8, axis=1), atol=1e-15)
    sim = Simulation.from_config(cfg(scenario={"tasks": 16}, demand={"name": "drift", "speed": 2 * np.pi / 16}))
    sim.step(3)
    np.testing.assert_allclose(sim.state.demand, np.roll(start, 3, axis=1), atol=1e-15)


def test_learning_by_doing_and_dispersal():
    sim = Simulation.from_config(
        cfg(
            learn={"rate": 0.5, "forget": 0.1},
            disperse={"rate": 0.2},
            topology={"name": "ring", "k": 1},
            mixing={"name": "shared"},
            run={"dt": 0.5},
        )
    )
    S0, C0, w0 = sim.S, sim.state.C.copy(), sim.state.w.copy()
    sim.step()
    np.testing.assert_allclose(sim.state.C, C0 + 0.5 * (0.5 * w0[:, None] * S0 - 0.1 * (C0 - 1)), rtol=1e-13)
    assert sim.state.w.sum() == pytest.approx(w0.sum(), rel=1e-13)


def test_conservative_supply_total_in_a_run():
    sim = Simulation.from_config(cfg(mixing={"name": "conservative", "gamma": 0.5}, topology={"name": "ring", "k": 2}))
    sim.step(3)
    ctx = sim.context()
    np.testing.assert_allclose(ctx.Z.sum(axis=0), ctx.Y.sum(axis=0), rtol=1e-13)
    assert isinstance(sim.model.topology, Topology)


def test_a_state_you_hold_is_never_overwritten():
    """Kernels may recycle buffers of dropped states, never of states someone still holds."""
    sim = Simulation.from_config(
        cfg(profile={"family": "free"}, scenario={"agents": 200, "tasks": 32}, mode={"eta": 0.5})
    )
    held = sim.state
    copy = {k: v.copy() for k, v in held.arrays().items()}
    view = sim.state.profile["logits"][:3]
    view_copy = view.copy()
    sim.step(6)
    for k, v in held.arrays().items():
        assert np.array_equal(v, copy[k]), k
    assert np.array_equal(view, view_copy)
    assert not np.array_equal(sim.state.profile["logits"], copy["profile/logits"])


@pytest.mark.parametrize("family,param", [("free", "logits"), ("vonmises", "mu"), ("signed", "atoms")])
def test_nan_in_one_array_is_caught_even_when_later_arrays_are_finite(family, param):
    """Resources stay finite (eta_w = 0); a NaN in one agent's profile must still stop the run."""
    from dps_core import NumericalError

    sim = Simulation.from_config(
        cfg(profile={"family": family}, signal={"name": "residual" if family == "signed" else "coverage"})
    )
    sim.state.profile[param] = sim.state.profile[param].copy()
    sim.state.profile[param][0] = np.nan
    with pytest.raises(NumericalError, match=f"'profile/{param}'"):
        sim.step()
    assert np.all(np.isfinite(sim.state.w))
