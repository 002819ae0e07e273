"""Law 4 measured: laws 1 and 2 again at layer 2 of a nested system, with and without coordination.

`python -m dps_nesting.law4` prints the time course of one coordinated run and of its control
(every ask split equally: `demand.asks = "equal"`), then the sweep over the number of demand peaks
that shows the heterogeneity between modules bounded by the demand. The figures in the plugin's
README are this output; `--per-layer` gives every layer's between-module heterogeneity and `--corr`
every layer's C(1) and correlation length between modules.
"""

from __future__ import annotations

import argparse
from typing import Any

from dps_core import Simulation

__all__ = ["nested_config", "run", "main"]

SERIES = ("system_efficacy", "layer2_within", "layer2_between", "layer2_beta", "layer2_gamma", "layer2_demand_modes")


def nested_config(peaks: int, coordinated: bool, steps: int, seed: int, **scenario: Any) -> dict[str, Any]:
    """The config of one run: scenario `nested` (default branching 2, 3, 4; peaks of width 0.3 rad
    one radian apart), gradient agents; coordinated asks or the equal split (`asks = "equal"`);
    the metrics of every layer."""
    depth = len(scenario.get("branching", (2, 3, 4)))
    return {
        "run": {"steps": steps, "seed": seed, "record_every": max(1, steps // 8)},
        "scenario": {"name": "nested", "peaks": peaks, **scenario},
        "demand": {"name": "nesting.coordination", "asks": "planned" if coordinated else "equal"},
        "mode": {"name": "gradient", "eta": 0.1},
        "metrics": {"names": ["efficacy", "system_efficacy", *(f"layer{layer}" for layer in range(2, depth + 1))]},
    }


def run(peaks: int, coordinated: bool, steps: int = 2000, seed: int = 1, **scenario: Any) -> Simulation:
    """Run one configuration to the end and return the simulation (its `history` holds the series)."""
    sim = Simulation.from_config(nested_config(peaks, coordinated, steps, seed, **scenario))
    sim.run()
    return sim


def _row(values: list[str]) -> str:
    return "| " + " | ".join(values) + " |"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peaks", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    ap.add_argument(
        "--per-layer", nargs="+", type=int, metavar="B", help="only the per-layer table, for this branching"
    )
    ap.add_argument(
        "--corr",
        action="store_true",
        help="only the correlation table: C(1) and the correlation length between modules at every layer",
    )
    args = ap.parse_args(argv)
    if args.corr:
        correlation(args.per_layer or [2, 3, 4], args.peaks, args.steps, args.seed)
        return
    if args.per_layer:
        per_layer(args.per_layer, args.peaks, args.steps, args.seed)
        return
    print("time course, 5 peaks (step: system efficacy / layer-2 between / layer-2 within)")
    for coordinated in (True, False):
        sim = run(5, coordinated, args.steps, args.seed)
        h = sim.history
        course = ", ".join(
            f"{s}: {e:.2f} / {b:.2f} / {w:.2f}"
            for s, e, b, w in zip(h["step"], h["system_efficacy"], h["layer2_between"], h["layer2_within"], strict=True)
        )
        print(f"  {'planned asks' if coordinated else 'equal asks  '}  {course}")
    print()
    head = ["peaks", "asks", "system efficacy", "within", "between", "beta", "gamma", "demand modes", "layer-3 between"]
    print(_row(head))
    print(_row(["---"] * len(head)))
    for peaks in args.peaks:
        for coordinated in (True, False):
            m = run(peaks, coordinated, args.steps, args.seed).history
            vals = [m[s][-1] for s in SERIES] + [m["layer3_between"][-1]]
            print(_row([str(peaks), "planned" if coordinated else "equal", *(f"{v:.2f}" for v in vals)]))


def _layer_table(branching: list[int], peaks: list[int], steps: int, seed: int, head: list[str], column: str, cells):
    """One row per (peaks, planned or equal asks): the `head` columns, then `column` for every layer;
    `cells(history, layers)` gives a row's values."""
    layers = range(2, len(branching) + 1)
    head = ["peaks", "asks", *head, *(f"layer {layer} {column}" for layer in layers)]
    print(f"branching {branching}")
    print(_row(head))
    print(_row(["---"] * len(head)))
    for n in peaks:
        for coordinated in (True, False):
            m = run(n, coordinated, steps, seed, branching=branching).history
            print(_row([str(n), "planned" if coordinated else "equal", *cells(m, layers)]))


def per_layer(branching: list[int], peaks: list[int], steps: int, seed: int) -> None:
    """Between-module heterogeneity and its demand bound at every layer, planned against equal asks."""

    def cells(m, layers):
        between = [f"{m[f'layer{L}_between'][-1]:.2f} ({m[f'layer{L}_demand_modes'][-1]:.2f})" for L in layers]
        return [f"{m['system_efficacy'][-1]:.2f}", *between]

    _layer_table(branching, peaks, steps, seed, ["system efficacy"], "between (demand modes)", cells)


def correlation(branching: list[int], peaks: list[int], steps: int, seed: int) -> None:
    """C(1) between neighbouring modules and the correlation length at every layer (tree distance
    in the nested scenario, whose graph links no two modules), planned against equal asks."""

    def cells(m, layers):
        return [f"{m[f'layer{L}_corr_near'][-1]:+.2g} ({m[f'layer{L}_corr_length'][-1]:.2f})" for L in layers]

    _layer_table(branching, peaks, steps, seed, [], "C(1) (length)", cells)


if __name__ == "__main__":
    main()
