"""The hook implementations of the example plugin: every record it registers, and the code behind them.

It imports only `dps_core`'s public names, exactly as any third-party plugin must.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

import attrs
import numpy as np

from dps_core import (
    ArraySpec,
    CommandSpec,
    DemandSpec,
    MetricSpec,
    ModeSpec,
    ScenarioSpec,
    Setup,
    hookimpl,
    params,
    peak_mixture,
    ring_positions,
)

if TYPE_CHECKING:  # the engine's classes load on first use; annotations need no import at run time
    from dps_core import ScenarioContext, StepContext

# --- a scenario: two markets on one task ring ----------------------------------------------------------


@attrs.frozen
class TwoMarketsParams:
    agents: int = params.param(20, doc="agents, split evenly between the two markets", validator=params.at_least(2))
    tasks: int = params.param(32, doc="tasks on the ring", validator=params.at_least(2))
    separation: float = params.param(math.pi, doc="angle between the markets' demand peaks", unit="rad")
    width: float = params.param(0.4, doc="width of each market's demand peak", unit="rad", validator=params.positive)


def _two_markets_size(prm: TwoMarketsParams) -> tuple[int, int]:
    return prm.agents, prm.tasks


def _two_markets(ctx: ScenarioContext) -> Setup:
    """Agents 0..N/2-1 face market A's demand, the others market B's: one demand row per agent."""
    prm: TwoMarketsParams = ctx.params
    x = ring_positions(prm.tasks)
    a = peak_mixture(x, [0.0], [prm.width], [1.0])
    b = peak_mixture(x, [prm.separation], [prm.width], [1.0])
    half = prm.agents // 2
    demand = np.vstack([np.tile(a, (half, 1)), np.tile(b, (prm.agents - half, 1))])
    return Setup(demand=demand, n_agents=prm.agents, info={"markets": 2, "separation": prm.separation})


# --- a metric: the Gini coefficient of resources ----------------------------------------------------------


def gini(w: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, (n-1)/n when one holds everything."""
    v = np.sort(np.abs(np.asarray(w, dtype=np.float64)))
    n, total = len(v), v.sum()
    if n == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * ranks - n - 1) @ v / (n * total))


def _gini_metric(ctx: StepContext) -> float:
    return gini(ctx.w)


# --- a mode that draws random numbers: gradient ascent with exploration --------------------------------


@attrs.frozen
class ExploreParams:
    eta: float = params.param(0.1, doc="learning rate of the profile parameters", validator=params.non_negative)
    noise: float = params.param(
        0.05, doc="std of the exploration kicks per sqrt(time)", unit="1/sqrt(time)", validator=params.non_negative
    )


def _explore_draw(ctx: StepContext) -> dict[str, np.ndarray]:
    """Random numbers come from ctx.rng, in draw(): that is what makes runs reproducible and resumable."""
    assert ctx.rng is not None
    return {name: ctx.rng.standard_normal(value.shape) for name, value in ctx.profile.items()}


def _explore(ctx: StepContext) -> dict[str, np.ndarray]:
    """theta <- theta + eta dt dJ/dtheta + noise sqrt(dt) xi; resources stay; counts the kicks."""
    prm: ExploreParams = ctx.params
    grads, _dw = ctx.gradients()  # ({parameter name: dJ/dparameter}, dJ/dw)
    kick = prm.noise * math.sqrt(ctx.dt)
    new = {name: value + prm.eta * ctx.dt * grads[name] + kick * ctx.draws[name] for name, value in ctx.profile.items()}
    new["kicks"] = ctx.arrays["kicks"] + 1
    return new


# --- a demand process: seasons ---------------------------------------------------------------------------


@attrs.frozen
class SeasonsParams:
    period: int = params.param(50, doc="steps per season", validator=params.at_least(1))
    angle: float = params.param(math.pi / 2, doc="how far the demand turns each season", unit="rad")


def _seasons(ctx: StepContext) -> dict[str, np.ndarray]:
    """Every `period` steps the demand turns by `angle` around the ring (a whole number of tasks)."""
    prm: SeasonsParams = ctx.params
    clock = ctx.arrays["clock"] + 1
    if clock[0] < prm.period:
        return {"clock": clock}
    shift = round(prm.angle * ctx.n_tasks / (2 * math.pi))
    return {"D": np.roll(ctx.D, shift, axis=1), "clock": np.zeros_like(clock)}


# --- a command --------------------------------------------------------------------------------------------


def _configure_gini(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", help="a dps archive with 'w' snapshots")


def _run_gini(args: argparse.Namespace) -> int:
    import dps_core  # the archive reader (h5py) loads only when the command runs

    with dps_core.open_archive(args.archive) as archive:
        w = archive.snapshots("w")
    print(f"Gini of resources: first snapshot {gini(w[0]):.4f}, last {gini(w[-1]):.4f} ({len(w)} snapshots)")
    return 0


# --- registration ----------------------------------------------------------------------------------------


@hookimpl
def dps_register_scenarios(register):
    register(
        ScenarioSpec(
            "two_markets", _two_markets, _two_markets_size, TwoMarketsParams, doc="two markets, one demand peak each"
        )
    )


@hookimpl
def dps_register_metrics(register):
    register(MetricSpec("gini", _gini_metric, doc="Gini coefficient of resources (0: equal)"))


@hookimpl
def dps_register_modes(register):
    register(
        ModeSpec(
            "explore",
            _explore,
            ExploreParams,
            draw=_explore_draw,
            arrays=(ArraySpec("kicks", (1,), doc="steps taken"),),
            doc="gradient ascent of the profiles plus exploration noise drawn on the run's stream",
        )
    )


@hookimpl
def dps_register_demands(register):
    register(
        DemandSpec(
            "seasons",
            _seasons,
            SeasonsParams,
            arrays=(ArraySpec("clock", (1,), doc="steps into the current season"),),
            doc="the demand turns around the task ring every season",
        )
    )


@hookimpl
def dps_register_commands(register):
    register(CommandSpec("gini", "Gini coefficient of an archive's resources", _configure_gini, _run_gini))
