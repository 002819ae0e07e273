"""Every parameter of every compiled built-in mode and signal reaches the compiled kernel: set to a
non-default value, it changes the reference kernel's result, and the compiled kernel follows it
within 1e-12 at every step. A parameter the binding table does not account for sends the model to
the reference kernel, with the parameter named in the reason.

Needs the compiled extension (marked `compiled`; the pure tox env deselects these tests).
"""

import attrs
import numpy as np
import pytest

from dps_core import Simulation, compiled_binding, reference
from dps_core.backend import kernel_step
from dps_core.context import StepContext
from dps_core.modes import MODES as MODE_SPECS
from dps_core.modes import AscentParams
from dps_core.signals import SIGNALS as SIGNAL_SPECS

pytestmark = pytest.mark.compiled

FAMILIES = ("free", "vonmises", "signed")
BASE_MODE = {"name": "gradient", "eta": 0.3, "eta_w": 0.2}
BASE_SIGNAL = {"name": "coverage", "smoothing": 0.05}

# For each compiled built-in: the settings of a base run, and for each parameter its spec declares a
# non-default valid value with the settings (applied to the base run too) under which it acts.
_ASCENT_CASE = (  # gradient and selfish declare the same parameters (they differ in the objective)
    {"eta": 0.2},
    {
        "eta": (0.6, {}),
        "eta_kappa": (0.4, {}),
        "eta_w": (0.3, {}),
        "noise": (0.05, {}),
        "anneal": (1.2, {"noise": 0.05}),
        "explore": ("payoff", {"noise": 0.05}),
    },
)
MODE_CASES = {
    "gradient": _ASCENT_CASE,
    "selfish": _ASCENT_CASE,
    "replicator": (
        {"eta": 0.1},
        {
            "eta": (0.5, {}),
            "eta_kappa": (0.4, {}),
            "upkeep": (0.3, {}),
            "noise": (0.05, {}),
            "anneal": (1.2, {"noise": 0.05}),
            "explore": ("payoff", {"noise": 0.05}),
        },
    ),
    "lca": (
        {"tau": 2.0, "threshold": 0.02},
        {
            "tau": (1.0, {}),
            "threshold": (0.05, {}),
            "kind": ("hard", {}),
            "nonnegative": (True, {}),
            "eta": (0.3, {}),
        },
    ),
    "imitation": (
        {"rate": 0.8},
        {"rate": (1.6, {}), "temperature": (0.05, {}), "noise": (0.05, {})},
    ),
    "tatonnement": (
        {},
        {"rate": (1.2, {}), "beta": (3.0, {}), "noise": (0.05, {})},
    ),
}
SIGNAL_CASES = {
    "coverage": ({}, {"smoothing": (0.2, {})}),
    "residual": ({}, {}),
    "ces": ({}, {"rho": (-2.0, {}), "floor": (0.02, {})}),
    "price": ({"rate": 0.3}, {"rate": (1.0, {}), "rule": ("additive", {}), "p_min": (0.97, {})}),
    "interaction": ({}, {"self_interaction": (1.5, {}), "use_topology": (False, {})}),
}


def build(family, mode, signal, seed=0):
    cfg = {
        "run": {"seed": seed, "dt": 0.5},
        "scenario": {"name": "generic", "agents": 12, "tasks": 8, "peaks": 2, "width": 0.5, "floor": 0.1},
        "profile": {"family": family, "kappa": 2.0},
        "topology": {"name": "ring", "k": 2},
        "mixing": {"name": "shared", "gamma": 0.5},
        "mode": mode,
        "signal": signal,
        "init": {"kind": "random"},
    }
    sim = Simulation.from_config(cfg)
    sim.state.C = np.random.default_rng(seed + 1).uniform(0.5, 1.5, sim.state.C.shape)
    return sim


def run_both(sim, steps=4):
    """Reference trajectory (the compiled kernel checked against it at every step); its arrays."""
    from dps_core import compiled

    assert compiled.supports(sim.model), compiled.unsupported(sim.model)
    for t in range(steps):
        spec = sim.model.mode.spec
        d = {} if spec.draw is None else spec.draw(StepContext(sim.model, sim.state, sim.rng, kind="mode"))
        ref, c_ref = reference.step(sim.model, sim.state, d)
        com, c_com = compiled.step(sim.model, sim.state, d)
        for key, x in ref.arrays().items():
            np.testing.assert_allclose(com.arrays()[key], x, rtol=1e-12, atol=1e-12, err_msg=f"step {t}: {key}")
        assert c_com == pytest.approx(c_ref, rel=1e-10, abs=1e-12)
        sim.state = ref
    return sim.state.arrays()


def differ(a, b):
    return any(not np.allclose(a[key], b[key], rtol=1e-9, atol=1e-9) for key in a)


def declared(spec):
    return {f.name: f.default for f in attrs.fields(spec.params)}


def check_component(kind, name, base, cases, families):
    spec = {s.name: s for s in (MODE_SPECS if kind == "mode" else SIGNAL_SPECS)}[name]
    params = declared(spec)
    assert set(cases) == set(params), f"{kind} '{name}': give every declared parameter a test value"
    other = ("signal", BASE_SIGNAL) if kind == "mode" else ("mode", BASE_MODE)
    for family in families:
        table = {"name": name, **base}
        run_both(build(family, **{kind: table, other[0]: other[1]}))
    for param, (value, context) in cases.items():
        assert value != params[param], f"{kind}.{param}: the test value must differ from the default"
        acted = False
        for family in families:
            table = {"name": name, **base, **context}
            before = run_both(build(family, **{kind: table, other[0]: other[1]}))
            after = run_both(build(family, **{kind: {**table, param: value}, other[0]: other[1]}))
            acted |= differ(before, after)
        assert acted, f"{kind}.{param} = {value!r} changed nothing: choose a setting where it acts"


@pytest.mark.parametrize("name", sorted(MODE_CASES))
def test_every_mode_parameter_reaches_the_compiled_kernel(name):
    families = {s.name: s for s in MODE_SPECS}[name].families or FAMILIES
    check_component("mode", name, *MODE_CASES[name], families)


@pytest.mark.parametrize("name", sorted(SIGNAL_CASES))
def test_every_signal_parameter_reaches_the_compiled_kernel(name):
    check_component("signal", name, *SIGNAL_CASES[name], FAMILIES)


def test_the_table_covers_exactly_the_core_modes_and_signals():
    assert set(compiled_binding.MODES) == set(MODE_CASES) == {s.name for s in MODE_SPECS}
    assert set(compiled_binding.SIGNALS) == set(SIGNAL_CASES) == {s.name for s in SIGNAL_SPECS}


def test_every_field_the_table_fills_is_a_field_of_the_kernel_struct():
    from dps_core import _kernel

    assert compiled_binding.fields() <= set(_kernel.param_fields())


def test_the_kernel_struct_refuses_an_unknown_or_missing_field():
    from dps_core import _kernel

    full = dict.fromkeys(_kernel.param_fields(), 0)
    _kernel.Params(full)
    with pytest.raises(ValueError, match="momentum"):
        _kernel.Params({**full, "momentum": 0.5})
    del full["beta"]
    with pytest.raises(ValueError, match="beta"):
        _kernel.Params(full)


@attrs.frozen
class MomentumParams(AscentParams):
    momentum: float = 0.0


def test_a_parameter_missing_from_the_table_sends_the_model_to_the_reference_kernel():
    from dps_core import compiled

    sim = build("free", BASE_MODE, BASE_SIGNAL)
    assert compiled.supports(sim.model)
    bound = sim.model.mode
    sim.model.mode = attrs.evolve(
        bound,
        spec=attrs.evolve(bound.spec, params=MomentumParams),
        params=MomentumParams(**attrs.asdict(bound.params), momentum=0.5),
    )
    reason = compiled.unsupported(sim.model)
    assert "momentum" in reason and "gradient" in reason
    assert not compiled.supports(sim.model)
    assert kernel_step(sim.model) is reference.step


def test_a_table_entry_the_spec_does_not_declare_sends_the_model_to_the_reference_kernel(monkeypatch):
    from dps_core import compiled

    sim = build("free", BASE_MODE, {"name": "price"})
    row = compiled_binding.SIGNALS["price"]
    ghost = attrs.evolve(row, kernel={**row.kernel, "ghost": compiled_binding.Read("p_min")})
    monkeypatch.setitem(compiled_binding.SIGNALS, "price", ghost)
    reason = compiled.unsupported(sim.model)
    assert "ghost" in reason and "price" in reason
    assert kernel_step(sim.model) is reference.step
