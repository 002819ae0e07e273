"""Topology and metric benchmark: seconds to build each graph family at 1e5 nodes (to CSR), and
seconds per evaluation of each metric on 1e5 agents x 64 tasks.

Usage: python benchmarks/bench_plugins.py [--nodes 100000] [--tasks 64]
"""

from __future__ import annotations

import argparse
import time

from dps_core import Simulation

TOPOLOGIES = [
    {"name": "ring", "k": 4},
    {"name": "lattice", "neighbourhood": "moore"},
    {"name": "star"},
    {"name": "erdos_renyi", "mean_degree": 8},
    {"name": "watts_strogatz", "k": 8, "p": 0.1},
    {"name": "barabasi_albert", "m": 4},
    {"name": "sbm", "blocks": 10, "p_in": 7e-4, "p_out": 1e-5},
    {"name": "hierarchical", "branching": [10, 10], "p": [1e-6, 1e-5, 7e-3]},
]
METRICS = [
    "productivity",
    "efficacy",
    "efficiency",
    "specialisation",
    "hill",
    "mutual_information",
    "demand_modes",
    "robustness",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--spatial-only", action="store_true", help="only the spatial-scale metrics")
    args = ap.parse_args()
    n, k = args.nodes, args.tasks
    if args.spatial_only:
        bench_spatial(n, k)
        return
    print(f"graph families at N = {n} (seconds to build the Topology, edges stored both ways)")
    for topo in TOPOLOGIES:
        t0 = time.perf_counter()
        sim = Simulation.from_config(
            {"scenario": {"agents": n, "tasks": 4}, "topology": topo, "mixing": {"name": "shared"}, "run": {"seed": 1}}
        )
        print(f"  {topo['name']:<16} {time.perf_counter() - t0:7.2f} s  {sim.model.topology.n_edges:>9} edges")
    print(f"metrics at N = {n}, K = {k} (seconds per evaluation; robustness without re-adaptation, 3 trials)")
    cfg = {
        "scenario": {"agents": n, "tasks": k, "peaks": 3},
        "profile": {"kappa": 8.0},
        "init": {"kind": "random"},
        "metrics": {"names": METRICS, "robustness": {"steps": 0}},
    }
    sim = Simulation.from_config(cfg)
    for b in sim.metric_specs:
        times = []
        for _ in range(3):  # a fresh context each time: the profiles, supply and signal are derived anew
            ctx = sim.context()
            ctx.simulation = sim
            ctx.params = b.params
            t0 = time.perf_counter()
            b.spec.compute(ctx)
            times.append(time.perf_counter() - t0)
        print(f"  {b.name:<22} {min(times):7.3f} s")
    bench_spatial(n, k)


SPATIAL = ["spatial_correlation", "local_heterogeneity", "self_sufficiency", "reach"]


def bench_spatial(n: int, k: int) -> None:
    """The spatial-scale metrics on two graphs; the first evaluation includes the breadth-first
    search from the sampled sources (cached for the run), the best of the next two does not."""
    print(f"spatial metrics at N = {n}, K = {k}, 32 sources (seconds: first evaluation with BFS / later ones)")
    for topo in ({"name": "ring", "k": 4}, {"name": "watts_strogatz", "k": 8, "p": 0.1}):
        cfg = {
            "scenario": {"agents": n, "tasks": k, "peaks": 3},
            "profile": {"kappa": 8.0},
            "topology": topo,
            "mixing": {"name": "shared"},
            "init": {"kind": "random"},
            "metrics": {"names": SPATIAL},
        }
        sim = Simulation.from_config(cfg)
        for b in sim.metric_specs:
            times = []
            for _ in range(3):
                ctx = sim.context()
                ctx.params = b.params
                t0 = time.perf_counter()
                b.spec.compute(ctx)
                times.append(time.perf_counter() - t0)
            print(f"  {topo['name']:<15} {b.name:<22} {times[0]:7.3f} s / {min(times[1:]):7.3f} s")


if __name__ == "__main__":
    main()
