"""The signal is the gradient of the utility, and the gradient mode ascends J exactly:
every analytic derivative is checked against central finite differences."""

import itertools

import numpy as np
import pytest

from dps_core import Simulation
from dps_core.context import StepContext

pytestmark = pytest.mark.nokernel  # never steps a system: one tox environment is enough

SIGNALS = [
    ("coverage", {"smoothing": 0.05}),
    ("residual", {}),
    ("ces", {"rho": 0.5}),
    ("ces", {"rho": 0.0}),
    ("ces", {"rho": -3.0}),
    ("interaction", {"self_interaction": 2.0}),
]
MIXINGS = [
    ({"name": "mean_field", "gamma": 0.7}, {"name": "complete"}),
    ({"name": "shared", "gamma": 0.5}, {"name": "ring", "k": 1}),
    ({"name": "conservative", "gamma": 0.6}, {"name": "ring", "k": 2}),
    ({"name": "shared", "gamma": 0.8}, {"name": "complete"}),
]


def make(family="vonmises", mixing=MIXINGS[0], signal=SIGNALS[0], alpha=1.0, penalty=None, n=7, k=9, demand="random"):
    cfg = {
        "run": {"steps": 1, "seed": 5},
        "scenario": {"name": "generic", "agents": n, "tasks": k, "peaks": 2, "width": 0.6, "floor": 0.2},
        "profile": {"family": family, "alpha": alpha, "kappa": 2.0},
        "mixing": mixing[0],
        "topology": mixing[1],
        "signal": {"name": signal[0], **signal[1]},
        "penalty": penalty or {},
        "init": {"kind": "random"},
    }
    sim = Simulation.from_config(cfg)
    rng = np.random.default_rng(11)
    sim.state.w = rng.uniform(0.5, 1.5, n)
    sim.state.C = rng.uniform(0.5, 2.0, (n, k))
    return sim


def utility_at(sim, Z):
    ctx = StepContext(sim.model, sim.state)
    ctx._cache["Z"] = Z
    spec = sim.model.signal.spec
    fn = spec.smoothed_utility or spec.utility
    return fn(ctx.component("signal"))


@pytest.mark.parametrize("signal", SIGNALS, ids=lambda s: f"{s[0]}{s[1]}")
def test_signal_is_gradient_of_utility(signal):
    sim = make(signal=signal)
    ctx = sim.context()
    Z = ctx.Z.copy() + 0.05  # keep CES supplies away from the floor
    c = StepContext(sim.model, sim.state)
    c._cache["Z"] = Z
    G = np.asarray(sim.model.signal.spec.gradient(c.component("signal")))
    G = np.broadcast_to(G, Z.shape)
    h = 1e-6
    for i, j in [(0, 0), (2, 3), (6, 8), (4, 1)]:
        Zp, Zm = Z.copy(), Z.copy()
        Zp[i, j] += h
        Zm[i, j] -= h
        fd = (utility_at(sim, Zp) - utility_at(sim, Zm)) / (2 * h)
        assert fd == pytest.approx(G[i, j], rel=1e-5, abs=1e-7), (i, j)


def smoothed_objective(sim, profile, w):
    st = sim.state
    old = st.profile, st.w
    st.profile, st.w = profile, w
    try:
        ctx = StepContext(sim.model, st)
        spec = sim.model.signal.spec
        U = (spec.smoothed_utility or spec.utility)(ctx.component("signal"))
        return sim.model.objective(U, ctx.S, ctx.Y, w)
    finally:
        st.profile, st.w = old


CHAIN = [
    (fam, mix, sig, alpha)
    for fam, mix, sig, alpha in itertools.product(
        ["free", "vonmises", "signed"], range(len(MIXINGS)), [SIGNALS[0], SIGNALS[1], SIGNALS[2]], [1.0, 1.7]
    )
    if not (fam == "signed" and (alpha != 1.0 or sig[0] != "residual"))
]


@pytest.mark.parametrize("family,mix,signal,alpha", CHAIN, ids=[f"{f}-{m}-{s[0]}-{a}" for f, m, s, a in CHAIN])
def test_gradient_mode_ascends_J_exactly(family, mix, signal, alpha):
    """dJ/dtheta from scatter + chain rule equals the finite difference of J, penalties included."""
    pen = {"resource": 0.3, "communication": 0.2}
    if family != "signed":
        pen["specialisation"] = 0.1
    sim = make(family=family, mixing=MIXINGS[mix], signal=signal, alpha=alpha, penalty=pen)
    g_prof, g_w = sim.context().gradients()
    h = 1e-6
    prof0, w0 = sim.state.profile, sim.state.w
    rng = np.random.default_rng(0)
    for name, value in prof0.items():
        for idx in [tuple(rng.integers(0, s) for s in value.shape) for _ in range(4)]:
            plus = {k: v.copy() for k, v in prof0.items()}
            minus = {k: v.copy() for k, v in prof0.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            fd = (smoothed_objective(sim, plus, w0) - smoothed_objective(sim, minus, w0)) / (2 * h)
            if family == "signed":
                # atoms live on the unit sphere: compare the tangent component only
                continue
            assert fd == pytest.approx(g_prof[name][idx], rel=2e-5, abs=2e-7), (name, idx)
    for i in range(len(w0)):
        wp, wm = w0.copy(), w0.copy()
        wp[i] += h
        wm[i] -= h
        fd = (smoothed_objective(sim, prof0, wp) - smoothed_objective(sim, prof0, wm)) / (2 * h)
        assert fd == pytest.approx(g_w[i], rel=2e-5, abs=2e-7), i
    if family == "signed":
        # directional derivative along a tangent direction of each atom's sphere
        A = prof0["atoms"]
        for i in range(A.shape[0]):
            v = rng.normal(size=A.shape[1])
            v -= (v @ A[i]) * A[i]
            plus = {"atoms": A.copy()}
            minus = {"atoms": A.copy()}
            plus["atoms"][i] += h * v
            minus["atoms"][i] -= h * v
            fd = (smoothed_objective(sim, plus, w0) - smoothed_objective(sim, minus, w0)) / (2 * h)
            assert fd == pytest.approx(g_prof["atoms"][i] @ v, rel=2e-5, abs=2e-7)


def test_ces_leontief_limit():
    """CES with large negative rho approaches Leontief (min_k Z/D) and rho = -inf is exactly it."""
    sims = {rho: make(signal=("ces", {"rho": rho})) for rho in (-200.0, float("-inf"))}
    u = {rho: s.context().utility() for rho, s in sims.items()}
    ctx = sims[float("-inf")].context()
    D = np.broadcast_to(ctx.D, ctx.Z.shape)
    expect = float((D.sum(axis=1) * (ctx.Z / D).min(axis=1)).sum())
    assert u[float("-inf")] == pytest.approx(expect, rel=1e-12)
    assert u[-200.0] == pytest.approx(expect, rel=2e-2)
