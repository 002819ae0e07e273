"""The conformance harness finds what breaks the contract, and passes a plugin that keeps it."""

import attrs
import numpy as np
import pytest

from dps_core import ArraySpec, CommandSpec, MetricSpec, ModeSpec, ScenarioSpec, Setup, hookimpl, params
from dps_core.testing import check_plugin


@attrs.frozen
class JitterParams:
    scale: float = params.param(0.01, doc="size of the random kicks", validator=params.non_negative)


def _draw(ctx):
    return {"kick": ctx.rng.normal(size=ctx.n_agents)}


def _jitter(ctx):
    """Resources take a random kick drawn on the run's stream (through draw): reproducible and resumable."""
    return {"w": np.abs(ctx.w + ctx.params.scale * ctx.draws["kick"]), "kicks": ctx.arrays["kicks"] + 1}


class Good:
    dps_plugin_name = "good"

    @hookimpl
    def dps_register_modes(self, register):
        register(ModeSpec("jitter", _jitter, JitterParams, draw=_draw, arrays=(ArraySpec("kicks", (1,)),)))

    @hookimpl
    def dps_register_metrics(self, register):
        register(MetricSpec("spread", lambda ctx: {"w_std": float(np.std(ctx.w))}, outputs=("w_std",)))


_HIDDEN = np.random.default_rng(0)  # the pitfall: randomness outside ctx.rng survives no resume


class Wrong:
    dps_plugin_name = "wrong"

    @hookimpl
    def dps_register_modes(self, register):
        register(ModeSpec("private_rng", lambda ctx: {"w": np.abs(ctx.w + 0.01 * _HIDDEN.normal(size=ctx.n_agents))}))
        register(ModeSpec("extra_key", lambda ctx: {"w": ctx.w, "velocity": ctx.w}))

    @hookimpl
    def dps_register_metrics(self, register):
        register(MetricSpec("liar", lambda ctx: {"a": 1.0}, outputs=("b",)))

    @hookimpl
    def dps_register_scenarios(self, register):
        register(ScenarioSpec("misfit", lambda ctx: Setup(demand=np.ones(5), n_agents=3), size=lambda p: (4, 5)))


def test_a_plugin_that_keeps_the_contract_passes():
    checks = check_plugin(Good())
    assert {c.status for c in checks} == {"pass"}
    names = {(c.record, c.name) for c in checks}
    assert ("mode 'good.jitter'", "resume equals an uninterrupted run") in names
    assert ("metric 'spread'", "metrics return their declared outputs") in names


def test_the_harness_names_each_broken_promise():
    with pytest.raises(AssertionError) as info:
        check_plugin(Wrong())
    report = str(info.value)
    failed = {(c.record, c.name) for c in check_plugin(Wrong(), raise_on_failure=False) if c.status == "fail"}
    assert ("mode 'wrong.private_rng'", "same seed, same arrays") in failed
    assert ("mode 'wrong.private_rng'", "resume equals an uninterrupted run") in failed
    assert ("mode 'wrong.extra_key'", "steps") in failed and "returned ['velocity']" in report
    assert ("metric 'liar'", "metrics return their declared outputs") in failed
    assert ("scenario 'misfit'", "size() matches build()") in failed
    assert "size() says (4, 5), build() made (3, 5)" in report


def test_records_that_need_parameters_are_given_them():
    @attrs.frozen
    class Needs:
        level: float = params.param(doc="no default: the user must say")

    class P:
        dps_plugin_name = "needy"

        @hookimpl
        def dps_register_metrics(self, register):
            register(MetricSpec("level", lambda ctx: ctx.params.level, params=Needs))

    failed = [c for c in check_plugin(P(), raise_on_failure=False) if c.status == "fail"]
    assert len(failed) == 1 and "check_plugin(params={'metric.level': ...})" in failed[0].detail
    assert {c.status for c in check_plugin(P(), params={"metric.level": {"level": 2.0}})} == {"pass"}


def test_a_command_must_build_its_arguments():
    def broken(parser):
        parser.add_argument("--x", type=int, default=1)
        parser.add_argument("--x")  # argparse refuses a second --x

    class Commands:
        dps_plugin_name = "cmds"

        @hookimpl
        def dps_register_commands(self, register):
            register(CommandSpec("fine", "works", lambda p: p.add_argument("path"), lambda args: 0))
            register(CommandSpec("broken", "does not", broken, lambda args: 0))

    checks = {c.record: c for c in check_plugin(Commands(), raise_on_failure=False)}
    assert checks["command 'fine'"].status == "pass"  # a plugin of commands only registers something
    assert checks["command 'broken'"].status == "fail" and "--x" in checks["command 'broken'"].detail
