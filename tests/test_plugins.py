"""The hook contract: records are registered by name, duplicates name both plugins, entry points
load one by one (a broken plugin is named and the rest load), plugin modes are namespaced, their
extra arrays are archived and resumed, lifecycle hooks run at record intervals."""

import textwrap

import attrs
import numpy as np
import pytest

from dps_core import (
    ArchiveGroupSpec,
    ArraySpec,
    ConfigError,
    DemandSpec,
    MetricSpec,
    ModeSpec,
    PluginError,
    Simulation,
    hookimpl,
    open_archive,
    params,
)
from dps_core.registry import Registry


@attrs.frozen
class DecayParams:
    rate: float = params.param(0.5, doc="decay rate", validator=params.non_negative)


def decay_update(ctx):
    """A plugin mode: resources relax toward a memory array the mode keeps."""
    mem = ctx.arrays["memory"]
    return {"w": ctx.w - ctx.dt * ctx.params.rate * (ctx.w - mem), "memory": 0.9 * mem + 0.1 * ctx.w}


class MyPlugin:
    dps_plugin_name = "mine"

    def __init__(self):
        self.records = []
        self.events = []

    @hookimpl
    def dps_register_modes(self, register):
        register(
            ModeSpec(
                "decay",
                decay_update,
                DecayParams,
                arrays=(ArraySpec("memory", ("agents",), fill=0.25),),
                doc="test mode",
            )
        )

    @hookimpl
    def dps_register_metrics(self, register):
        register(MetricSpec("mean_w", lambda ctx: float(ctx.w.mean()), doc="mean resource"))
        register(MetricSpec("pair", lambda ctx: {"pair_a": 1.0, "pair_b": 2.0}, outputs=("pair_a", "pair_b")))

    @hookimpl
    def dps_register_archive_groups(self, register):
        def declare(group, sim):
            group.create_dataset("w_sum", shape=(0,), maxshape=(None,), dtype="f8", chunks=(64,))

        def write(group, sim):
            ds = group["w_sum"]
            ds.resize(ds.shape[0] + 1, axis=0)
            ds[-1] = sim.state.w.sum()

        register(ArchiveGroupSpec("results", "0.3", declare, write, doc="sum of w per record"))

    @hookimpl
    def dps_run_start(self, simulation):
        self.events.append("start")

    @hookimpl
    def dps_record(self, simulation, step, metrics):
        self.records.append((step, metrics["mean_w"]))

    @hookimpl
    def dps_checkpoint(self, simulation, step):
        self.events.append(f"checkpoint {step}")

    @hookimpl
    def dps_run_end(self, simulation, status):
        self.events.append(status)


CONFIG = {
    "run": {"steps": 20, "record_every": 5, "checkpoint_every": 10},
    "scenario": {"agents": 6, "tasks": 8, "peaks": 2},
    "mode": {"name": "mine.decay", "rate": 0.3},
    "metrics": {"names": ["productivity", "mean_w", "pair"]},
    "archive": {"snapshots": ["w", "mode.memory"]},
}


def test_plugin_object_mode_metric_group_and_lifecycle(tmp_path):
    plugin = MyPlugin()
    config = {**CONFIG, "run": {**CONFIG["run"], "snapshot_every": 10}}
    sim = Simulation.from_config(config, plugins=[plugin])
    assert sim.model.mode.name == "mine.decay" and sim.model.mode.plugin == "mine"
    assert sim.backend == "reference"  # plugin modes always step with the NumPy pipeline
    sim.run(tmp_path / "p.h5")
    assert [s for s, _ in plugin.records] == [0, 5, 10, 15, 20]
    assert plugin.events == ["start", "checkpoint 0", "checkpoint 10", "checkpoint 20", "finished"]
    # the mode's rule, checked against its closed form: w and memory follow a linear recurrence
    w, m = np.ones(6), np.full(6, 0.25)
    for _ in range(20):
        w, m = w - 0.3 * (w - m), 0.9 * m + 0.1 * w
    np.testing.assert_allclose(sim.state.w, w, rtol=1e-13)
    with open_archive(tmp_path / "p.h5") as ar:
        ts = ar.timeseries()
        np.testing.assert_allclose(ts["mean_w"], [v for _, v in plugin.records])
        assert list(ts["pair_b"]) == [2.0] * 5
        g = ar.f["plugins/mine/results"]
        assert g.attrs["version"] == "0.3" and g["w_sum"].shape == (5,)
        np.testing.assert_allclose(ar.checkpoint()["state"].extras["mode.memory"], m, rtol=1e-13)
        assert ar.snapshots("mode.memory").shape == (3, 6)  # steps 0, 10, 20


def test_duplicate_names_name_both_plugins():
    class A:
        dps_plugin_name = "alpha"

        @hookimpl
        def dps_register_metrics(self, register):
            register(MetricSpec("same", lambda ctx: 0.0))

    class B(A):
        dps_plugin_name = "beta"

    with pytest.raises(PluginError, match="metric 'same' is registered by both plugin 'alpha' and plugin 'beta'"):
        Registry([A(), B()], entry_points=False)


def test_builtin_names_cannot_be_taken_and_modes_are_namespaced():
    class Clash:
        dps_plugin_name = "clash"

        @hookimpl
        def dps_register_metrics(self, register):
            register(MetricSpec("productivity", lambda ctx: 0.0))

    with pytest.raises(PluginError, match="both plugin 'core' and plugin 'clash'"):
        Registry([Clash()], entry_points=False)
    reg = Registry([MyPlugin()], entry_points=False)
    assert "mine.decay" in reg.names("mode") and "gradient" in reg.names("mode")


def test_bad_records_and_failing_hooks_name_the_plugin():
    class Wrong:
        dps_plugin_name = "wrong"

        @hookimpl
        def dps_register_modes(self, register):
            register("not a record")

    with pytest.raises(PluginError, match="plugin 'wrong', hook dps_register_modes: register\\(\\) takes a ModeSpec"):
        Registry([Wrong()], entry_points=False)

    class Boom:
        dps_plugin_name = "boom"

        @hookimpl
        def dps_register_signals(self, register):
            raise RuntimeError("kaput")

    with pytest.raises(PluginError, match="plugin 'boom' failed in hook dps_register_signals: RuntimeError: kaput"):
        Registry([Boom()], entry_points=False)


def test_plugin_errors_at_run_time_name_the_plugin():
    base = {**CONFIG, "archive": {"snapshots": ["w"]}}

    class BadMetric:
        dps_plugin_name = "badmetric"

        @hookimpl
        def dps_register_metrics(self, register):
            register(MetricSpec("broken", lambda ctx: 1 / 0))
            register(MetricSpec("liar", lambda ctx: {"x": 1.0}, outputs=("y",)))

    sim = Simulation.from_config(
        {**base, "mode": {"name": "gradient"}, "metrics": {"names": ["broken"]}}, plugins=[BadMetric()]
    )
    with pytest.raises(PluginError, match="plugin 'badmetric' failed in metric 'broken': ZeroDivisionError"):
        sim.run()
    sim = Simulation.from_config(
        {**base, "mode": {"name": "gradient"}, "metrics": {"names": ["liar"]}}, plugins=[BadMetric()]
    )
    with pytest.raises(PluginError, match="metric 'liar' returned \\['x'\\]; it declared outputs \\['y'\\]"):
        sim.metrics()

    class BadMode:
        dps_plugin_name = "badmode"

        @hookimpl
        def dps_register_modes(self, register):
            register(ModeSpec("oops", lambda ctx: {"velocity": ctx.w}))

    sim = Simulation.from_config(
        {**base, "mode": {"name": "badmode.oops"}, "metrics": {"names": []}}, plugins=[BadMode()]
    )
    with pytest.raises(
        PluginError, match="plugin 'badmode', mode 'badmode.oops': update\\(\\) returned \\['velocity'\\]"
    ):
        sim.step()


def write_dist(root, dist, module, body, ep_name):
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist.replace('-', '_')}-1.2.dist-info"  # as wheels name it
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text(f"[dps]\n{ep_name} = {module}\n")


GOOD = """
from dps_core import hookimpl, MetricSpec

@hookimpl
def dps_register_metrics(register):
    register(MetricSpec("good_metric", lambda ctx: 42.0))
"""


def test_entry_points_load_one_by_one(tmp_path, monkeypatch):
    write_dist(tmp_path, "dps-good", "dps_good_plugin", GOOD, "good")
    write_dist(tmp_path, "dps-broken", "dps_broken_plugin", "raise ImportError('missing dependency foo')\n", "broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry()
    assert "good_metric" in reg.names("metric"), (reg.info, reg.failures)
    assert reg.owner("metric", "good_metric") == "good"
    assert {i.name: i.version for i in reg.info}["good"] == "1.2"
    [fail] = [f for f in reg.failures if f.name == "broken"]
    assert "import failed: ImportError: missing dependency foo" in fail.error and fail.distribution == "dps-broken"
    # the failure is named when someone asks for a name that plugin might have provided
    with pytest.raises(ConfigError, match="Plugins that failed to load: broken: import failed"):
        reg.get("metric", "nonexistent")
    monkeypatch.setenv("DPS_DISABLE_PLUGINS", "good")
    assert "good_metric" not in Registry().names("metric")
    monkeypatch.setenv("DPS_DISABLE_PLUGINS", "")
    monkeypatch.setenv("DPS_PLUGINS", "broken")
    reg = Registry()
    assert "good_metric" not in reg.names("metric") and [f.name for f in reg.failures] == ["broken"]


def test_misspelt_hooks_wrappers_and_unmarked_hooks_are_refused_by_name():
    class Misspelt:
        dps_plugin_name = "typo"

        @hookimpl
        def dps_register_metric(self, register):  # the hook is dps_register_metrics
            register(MetricSpec("m", lambda ctx: 0.0))

    with pytest.raises(
        PluginError,
        match="plugin 'typo' implements unknown hook dps_register_metric. Did you mean 'dps_register_metrics'",
    ):
        Registry([Misspelt()], entry_points=False)

    class Wrapper:
        dps_plugin_name = "wrapper"

        @hookimpl(wrapper=True)
        def dps_run_end(self, simulation, status):
            return (yield)

    with pytest.raises(PluginError, match="plugin 'wrapper', hook dps_run_end: hook wrappers are not supported"):
        Registry([Wrapper()], entry_points=False)

    class Unmarked:
        dps_plugin_name = "unmarked"

        def dps_register_metrics(self, register):
            register(MetricSpec("m", lambda ctx: 0.0))

    with pytest.raises(
        PluginError, match="plugin 'unmarked': dps_register_metrics is named like a hook but is not marked"
    ):
        Registry([Unmarked()], entry_points=False)

    class WrongArgs:
        dps_plugin_name = "wrongargs"

        @hookimpl
        def dps_run_end(self, simulation, state):  # the hook passes 'status'
            pass

    with pytest.raises(PluginError, match="plugin 'wrongargs' does not match the hook contract"):
        Registry([WrongArgs()], entry_points=False)


def test_plugin_failures_chain_the_plugins_own_exception():
    class Boom:
        dps_plugin_name = "boom"

        @hookimpl
        def dps_register_signals(self, register):
            raise RuntimeError("kaput")

    with pytest.raises(PluginError) as info:
        Registry([Boom()], entry_points=False)
    cause = info.value.__cause__
    assert isinstance(cause, RuntimeError) and str(cause) == "kaput"
    # the plugin's own frame is in the chained traceback (what `dps --debug` prints)
    frames = [f.name for f in __import__("traceback").extract_tb(cause.__traceback__)]
    assert "dps_register_signals" in frames

    class Late:
        dps_plugin_name = "late"

        @hookimpl
        def dps_run_start(self, simulation):
            raise KeyError("nope")

    sim = Simulation.from_config(
        {**CONFIG, "mode": {"name": "gradient"}, "metrics": {}, "archive": {}}, plugins=[Late()]
    )
    with pytest.raises(PluginError, match="plugin 'late' failed in hook dps_run_start: KeyError") as info:
        sim.run()
    assert isinstance(info.value.__cause__, KeyError)


class _Pulse:
    """A demand process that doubles the demand every `period` steps, counting with its own array:
    written in the current style (returns new arrays) and in the deprecated 0.1 style (mutates its
    array in place and returns a bare demand)."""

    dps_plugin_name = "pulse"

    @staticmethod
    def new_style(ctx):
        count = ctx.arrays["count"] + 1
        if count[0] % 3:
            return {"count": count}
        return {"D": ctx.D * 2.0, "count": count}

    @staticmethod
    def old_style(ctx):
        count = ctx.arrays["count"]
        count[0] += 1
        return None if count[0] % 3 else ctx.D * 2.0

    @hookimpl
    def dps_register_demands(self, register):
        arrays = (ArraySpec("count", (1,)),)
        register(DemandSpec("new", self.new_style, arrays=arrays))
        register(DemandSpec("old", self.old_style, arrays=arrays))
        register(DemandSpec("bad", lambda ctx: {"prices": ctx.D}, arrays=arrays))


def test_demand_processes_return_new_arrays_and_the_old_style_still_works_with_a_warning(recwarn):
    base = {"run": {"steps": 7}, "scenario": {"agents": 4, "tasks": 6, "peaks": 1}}
    runs = {}
    for style in ("new", "old"):
        sim = Simulation.from_config({**base, "demand": {"name": f"pulse.{style}"}}, plugins=[_Pulse()])
        D0, before = sim.state.demand.copy(), sim.state.extras["demand.count"]
        sim.step(7)
        # steps 3 and 6 doubled the demand: 4 x; the count reached 7
        np.testing.assert_array_equal(sim.state.demand, 4.0 * D0)
        assert sim.state.extras["demand.count"][0] == 7
        assert before[0] == 0  # the state's array was never changed in place
        runs[style] = sim
    warned = [w for w in recwarn.list if issubclass(w.category, DeprecationWarning)]
    assert len(warned) == 1 and "demand 'pulse.old'" in str(warned[0].message)
    for k, v in runs["new"].state.arrays().items():
        np.testing.assert_array_equal(v, runs["old"].state.arrays()[k], err_msg=k)

    # a change of demand counts toward convergence: the step that doubles D reports it
    sim = Simulation.from_config({**base, "demand": {"name": "pulse.new"}, "mode": {"name": "gradient", "eta": 0.0, "eta_w": 0.0}},
                                 plugins=[_Pulse()])  # fmt: skip
    D0 = sim.state.demand.copy()
    changes = [sim._advance() for _ in range(3)]
    dt = sim.model.dt
    assert changes[0] == changes[1] == 1.0 / dt  # only the counter moved, by one
    assert changes[2] == pytest.approx(max(np.max(np.abs(D0)), 1.0) / dt)  # D doubled: |2 D0 - D0| = |D0|

    sim = Simulation.from_config({**base, "demand": {"name": "pulse.bad"}}, plugins=[_Pulse()])
    with pytest.raises(
        PluginError, match="demand 'pulse.bad': update\\(\\) returned 'prices'; it may return only \\['D', 'count'\\]"
    ):
        sim.step()
