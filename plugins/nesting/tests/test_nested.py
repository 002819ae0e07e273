"""The nested scenario end to end: three and four layers, the compiled kernel, reproducibility,
exact resume, the archive's hierarchy, clear errors, and law 4 against its control."""

import h5py
import numpy as np
import pytest
from dps_nesting.law4 import nested_config

from dps_core import ConfigError, PluginError, SignalSpec, Simulation, backend, hookimpl


def _sim(peaks=5, coordinated=True, steps=600, **extra):
    cfg = nested_config(peaks, coordinated, steps, seed=1)
    for section, table in extra.items():
        cfg[section] = {**cfg.get(section, {}), **table}
    return Simulation.from_config(cfg)


def test_three_layers_run_on_the_installed_kernel_and_conserve_demand():
    sim = _sim(steps=120)
    assert sim.backend == backend()  # built-in mode and signal: the compiled kernel when it is built
    env = sim.state.extras["demand.env"].copy()
    assert env.sum() == pytest.approx(24.0)  # the environment asks what 24 agents of w = 1 can make
    sim.run()
    # asks are apportioned, never created or lost: the agents' rows sum to the environment's demand
    assert np.allclose(sim.state.demand.sum(axis=0), env, rtol=1e-12, atol=1e-12)
    assert not np.allclose(sim.state.demand, sim.state.demand[0])  # modules were asked different things
    for key in ("layer2_within", "layer2_between", "layer2_beta", "layer2_gamma", "layer3_between"):
        assert np.isfinite(sim.history[key]).all()
    # q = 1: the partition is exact, gamma = within * beta, at every record
    h = sim.history
    assert np.allclose(h["layer2_gamma"], np.multiply(h["layer2_within"], h["layer2_beta"]), rtol=1e-10)


def test_pooled_layers_agree_with_the_flat_hill_metric():
    """Two independent paths to one number: gamma at layer 2 pools all agents, which is the
    metrics plugin's flat hill_q1 (C = 1, alpha = 1, abundance w); gamma at layer 3 pools the
    layer-2 modules, which is layer2_between."""
    sim = _sim(steps=100, metrics={"names": ["hill", "layer2", "layer3"]})
    sim.run()
    h = sim.history
    assert np.allclose(h["layer2_gamma"], h["hill_q1"], rtol=1e-10)
    assert np.allclose(h["layer3_gamma"], h["layer2_between"], rtol=1e-10)


def test_same_seed_same_arrays_bit_for_bit():
    a, b = _sim(steps=150), _sim(steps=150)
    a.run()
    b.run()
    for name, arr in a.state.arrays().items():
        assert np.array_equal(arr, b.state.arrays()[name]), name


def test_resume_continues_exactly(tmp_path):
    whole = _sim(steps=200)
    whole.run()
    path = tmp_path / "n.h5"
    half = _sim(steps=200, run={"checkpoint_every": 100})
    half.run(path, steps=125)  # stops at step 125 with a checkpoint; the resume continues to 200
    Simulation.resume(path)
    with h5py.File(path, "r") as f:
        assert f["timeseries/step"][-1] == 200
    resumed = Simulation.from_archive(path)
    for name, arr in whole.state.arrays().items():
        assert np.array_equal(arr, resumed.state.arrays()[name]), name


def test_archive_stores_the_hierarchy_and_per_layer_series(tmp_path):
    path = tmp_path / "h.h5"
    _sim(steps=60).run(path)
    with h5py.File(path, "r") as f:
        g = f["plugins/nesting/hierarchy"]
        assert list(g["parent_layer1"][:4]) == [0, 0, 1, 1]
        assert list(g["parent_layer2"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        assert list(g["parent_layer3"]) == [0, 0, 0, 0]
        assert g.attrs["branching"] == "[2, 3, 4]"
        assert "layer2_between" in f["timeseries"] and "layer3_beta" in f["timeseries"]
        assert '"branching": [2, 3, 4]' in f["scenario"].attrs["info"]


def test_four_layers():
    sim = _sim(steps=100, scenario={"branching": [2, 2, 2, 3]}, metrics={"names": ["layer2", "layer3", "layer4"]})
    sim.run()
    assert sim.state.w.shape == (24,)
    assert np.isfinite(sim.history["layer4_between"]).all()


def test_errors_name_what_is_wrong():
    with pytest.raises(ConfigError, match="needs scenario 'nested'"):
        Simulation.from_config({"demand": {"name": "nesting.coordination"}})
    with pytest.raises(ConfigError, match="branching"):
        _sim(scenario={"branching": [2, 0]})

    class Demo:
        dps_plugin_name = "demo"

        @hookimpl
        def dps_register_signals(self, register):
            register(SignalSpec("residual", lambda ctx: ctx.D - ctx.Z, lambda ctx: 0.0))

    cfg = nested_config(5, True, 10, seed=1)
    cfg["signal"] = {"name": "demo.residual"}
    with pytest.raises(ConfigError, match="core's built-in signals; 'demo.residual' is a plugin's"):
        Simulation.from_config(cfg, plugins=[Demo()])
    sim = _sim(steps=10, metrics={"names": ["layer4"]})
    with pytest.raises(PluginError, match="needs at least 4 layers; branching has 3"):
        sim.run()


@pytest.mark.slow
def test_law4_between_module_heterogeneity_rises_only_with_coordination():
    """Five demand peaks, 12 modules of two agents: coordination makes the modules differ up to
    the demand modes at their breadth; equal asks keep identical modules and meet less demand."""
    coord, equal = _sim(steps=600), _sim(coordinated=False, steps=600)
    coord.run()
    equal.run()
    c, e = coord.history, equal.history
    assert c["layer2_between"][0] == pytest.approx(1.0, abs=1e-3)  # identical start
    assert c["layer2_between"][-1] > 2.5  # law 1 at layer 2: rises under optimisation
    assert c["layer2_between"][-1] <= 1.05 * c["layer2_demand_modes"][-1]  # law 2: bounded by the demand
    assert c["layer3_between"][-1] > 1.5  # and one layer further up
    assert e["layer2_between"][-1] < 1.05  # control: modules stay alike
    assert c["system_efficacy"][-1] > e["system_efficacy"][-1] + 0.25


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_harness():
    from dps_core.testing import check_plugin

    checks = check_plugin("nesting")
    # metrics of layers deeper than the default three-layer scenario are skipped, saying why
    skipped = {c.record for c in checks if c.status == "skip"}
    assert skipped == {f"metric 'layer{L}'" for L in range(4, 9)}, skipped
    passed = {c.record for c in checks if c.status == "pass"}
    assert {"scenario 'nested'", "metric 'layer2'", "metric 'layer3'", "demand 'nesting.coordination'"} <= passed
