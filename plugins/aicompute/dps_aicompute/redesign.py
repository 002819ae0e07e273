"""`dps aicompute redesign CONFIG.toml`: a device mix for a workload and a budget.

Runs the config's `cluster` scenario (writing its archive: the dps dynamics from a homogeneous
start), solves the same problem globally with whole devices (a mixed-integer programme; the linear
programme with fractional devices is the bound it is compared with), and prints the recommended mix
(whole devices per type, how busy they are and what they do), its throughput per cost, and the best
homogeneous cluster of whole devices at the same cost (one device type running whole requests, no
KV cache over the network).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

import dps_core
from dps_core import CommandSpec, ConfigError, params, parse_override

if TYPE_CHECKING:
    from dps_core import Simulation

from .cluster import ClusterParams, best_whole_homogeneous, cluster_problem, optimal_mix, whole_mix

__all__ = ["REDESIGN", "redesign"]


def redesign(sim: Simulation) -> dict:
    """The recommendation for a finished (or fresh) cluster simulation."""
    if sim.config.scenario.name != "cluster":
        raise ConfigError(
            f'dps aicompute redesign needs a config with [scenario] name = "cluster", '
            f"got '{sim.config.scenario.name}'"
        )
    prm: ClusterParams = params.build(ClusterParams, sim.config.scenario.params, "scenario")
    base = Path(sim.config.run.output).parent if sim.config.run.output else None
    # the best mix of whole devices with and without disaggregated prefill/decode (moving the KV
    # cache costs network capacity, so disaggregation is a choice, not a given)
    designs = []
    for disaggregated in (True, False):
        option = attrs.evolve(prm, disaggregated=disaggregated)
        devs, C, d, prices = cluster_problem(option, base)
        X, m, h = whole_mix(C, d, prices, prm.budget)
        X_lp, _ = optimal_mix(C, d, prices, prm.budget)
        designs.append((X, disaggregated, m, h, X_lp, option.workload().phases))
        if not disaggregated:  # a homogeneous cluster runs whole requests on one device type
            best_i, best_m, X_homog = best_whole_homogeneous(C, d, prices, prm.budget)
    X, disaggregated, m, h, X_lp, phases = max(designs, key=lambda t: t[0])
    mix = []
    for i, dev in enumerate(devs):
        n = int(m[i])
        busy = float(h[i].sum())
        if n > 0:
            mix.append(
                {
                    "device": dev.name,
                    "devices": n,
                    "dollars_per_hour": n * dev.price_per_hour,
                    "busy": busy / n,
                    "phases": {phases[k]: float(h[i, k] / busy) for k in range(len(phases)) if h[i, k] > 1e-6 * busy},
                }
            )
    dyn = sim.history.get("throughput")
    return {
        "budget": prm.budget,
        "spent": float(sum(x["dollars_per_hour"] for x in mix)),
        "disaggregated": disaggregated,
        "mix": mix,
        "throughput": X,
        "throughput_per_cost": X / prm.budget,
        "fractional_optimum": X_lp,
        "homogeneous": {
            "device": devs[best_i].name if best_i >= 0 else None,
            "devices": best_m,
            "throughput": X_homog,
            "throughput_per_cost": X_homog / prm.budget,
        },
        "gain_over_homogeneous": X / X_homog if X_homog > 0 else math.inf,
        "dynamics": {"throughput": dyn[-1] if dyn else None, "share_of_optimum": (dyn[-1] / X) if dyn else None},
    }


def _configure(parser):
    sub = parser.add_subparsers(dest="aicompute_command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("redesign", help="recommend a device mix for a workload and a budget")
    p.add_argument("config", help='TOML config with [scenario] name = "cluster"')
    p.add_argument("-o", "--output", help="archive path (default: CONFIG-NAME-redesign.h5, never overwriting)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config key")
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")


def _run(args) -> int:
    overrides = dict(parse_override(s) for s in (args.set or []))
    sim = dps_core.Simulation.from_config(args.config, overrides=overrides)
    out = Path(args.output) if args.output else _free(Path(args.config))
    sim.run(out)
    rec = redesign(sim)
    rec["archive"] = str(out)
    if args.json:
        print(json.dumps(rec, sort_keys=True))
        return 0
    print(
        f"redesign for {sim.model.n_agents} device types, budget ${rec['budget']:.0f} per hour; prefill and decode "
        + ("on different devices (the KV cache crosses the network)" if rec["disaggregated"] else "on the same devices")
    )
    print(f"{'device':<16}{'devices':>8}{'$/hour':>10}{'busy':>7}  phases (share of busy time)")
    for m in rec["mix"]:
        phases = ", ".join(f"{k} {v:.0%}" for k, v in m["phases"].items() if v >= 0.005)
        print(f"{m['device']:<16}{m['devices']:>8d}{m['dollars_per_hour']:>10.1f}{m['busy']:>7.0%}  {phases}")
    hom = rec["homogeneous"]
    print(
        f"spent ${rec['spent']:.1f} of ${rec['budget']:.0f} per hour on whole devices; predicted throughput "
        f"{rec['throughput']:.4g} requests/hour,\n{rec['throughput'] / rec['fractional_optimum']:.2%} of the "
        f"bound with fractional devices ({rec['fractional_optimum']:.4g})"
    )
    print(
        f"best homogeneous cluster ({hom['devices']} x {hom['device']}): {hom['throughput']:.4g} requests/hour, "
        f"{hom['throughput_per_cost']:.4g} per $/hour; the mix gains x{rec['gain_over_homogeneous']:.3f}"
    )
    dyn = rec["dynamics"]
    if dyn["throughput"] is not None:
        print(
            f"dps dynamics from a homogeneous start reached {dyn['throughput']:.4g} requests/hour "
            f"({dyn['share_of_optimum']:.1%} of the optimum)"
        )
    print(f"archive: {out}")
    return 0


def _free(config: Path) -> Path:
    path, i = Path(f"{config.stem}-redesign.h5"), 1
    while path.exists():
        path, i = Path(f"{config.stem}-redesign-{i}.h5"), i + 1
    return path


REDESIGN = CommandSpec(
    "aicompute", "AI-compute tools (redesign: a device mix for a workload and budget)", _configure, _run
)
