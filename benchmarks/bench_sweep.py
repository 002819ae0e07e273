"""Sweep benchmark: 200 small runs (generic scenario, 300 steps) serially in this process, on 1 and
2 local worker processes and on a 2-worker Dask LocalCluster.

Reported per engine: wall seconds, runs per second, speed-up over the serial sweep, and the
overhead per run beyond the run itself: wall × workers / runs − the mean time a run takes inside
its worker (build, steps, archive), i.e. what the sweep machinery (process start-up, task
submission, result transfer, index writes, archive checks) costs each run. Goals: ≥ 1.8× on 2
workers, overhead < 50 ms per run on local processes and < 150 ms on Dask.

Usage: python benchmarks/bench_sweep.py [--runs 200] [--steps 300] [--engines serial,local1,local2,dask2]
       python benchmarks/bench_sweep.py --smoke   (10 runs of 50 steps: checks that everything works)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dps_core import threads
from dps_core.design import load_sweep
from dps_core.sweep import Sweep


def plan_dict(runs: int, steps: int) -> dict:
    reps = max(1, runs // 4)
    return {
        "sweep": {"seed": 1, "replicates": reps, "name": "bench"},
        "base": {
            "run": {"steps": steps, "record_every": 20, "checkpoint_every": 100},
            "scenario": {"name": "generic", "agents": 16, "tasks": 32},
            "profile": {"family": "vonmises", "kappa": 8.0},
            "signal": {"name": "coverage", "smoothing": 0.02},
            "mode": {"name": "gradient", "eta": 0.1},
            "metrics": {"names": ["efficacy", "hill"]},
        },
        "grid": {"scenario.peaks": [1, 2, 3, 4]},
    }


def measure(name: str, plan, root: Path) -> dict:
    d = root / name
    workers = {"serial": 1, "local1": 1, "local2": 2, "dask2": 2}[name]
    t0 = time.perf_counter()
    if name == "dask2":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
            ) as c,
            Client(c) as client,
        ):
            client.wait_for_workers(2)
            t0 = time.perf_counter()  # the cluster's start-up is not part of the sweep
            s = Sweep.run(plan, d, executor=client.get_executor(pure=False))
            wall = time.perf_counter() - t0
    else:
        s = Sweep.run(plan, d, workers={"serial": 0, "local1": 1, "local2": 2}[name])
        wall = time.perf_counter() - t0
    rows = s.records()
    bad = [r for r in rows if r["status"] != "finished"]
    if bad:
        raise SystemExit(f"{name}: {len(bad)} runs did not finish: {bad[0]['error']}")
    inside = statistics.fmean(r["seconds"] for r in rows)
    n = len(rows)
    return {
        "engine": name,
        "workers": workers,
        "runs": n,
        "wall_s": wall,
        "runs_per_s": n / wall,
        "run_s": inside,
        "overhead_ms": 1e3 * (wall * workers / n - inside),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--engines", default="serial,local1,local2,dask2")
    ap.add_argument("--smoke", action="store_true", help="10 runs of 50 steps")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.steps = 10, 50
    plan = load_sweep(plan_dict(args.runs, args.steps))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores ({threads.usable_cpus()} usable), "
        f"load average {os.getloadavg()[0]:.1f}; {len(plan.runs)} runs of {args.steps} steps "
        f"(generic, 16 agents x 32 tasks)",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.engines.split(","):
            results.append(measure(name, plan, Path(tmp)))
            r = results[-1]
            print(f"  {name}: {r['wall_s']:.1f} s", file=sys.stderr, flush=True)
    base = next((r for r in results if r["engine"] == "serial"), results[0])
    for r in results:
        r["speedup"] = base["wall_s"] / r["wall_s"]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(
        f"{'engine':<8} {'workers':>7} {'wall s':>8} {'runs/s':>8} {'speed-up':>9} {'run s':>7} {'overhead ms/run':>16}"
    )
    for r in results:
        print(
            f"{r['engine']:<8} {r['workers']:>7} {r['wall_s']:>8.2f} {r['runs_per_s']:>8.2f} {r['speedup']:>9.2f} "
            f"{r['run_s']:>7.3f} {r['overhead_ms']:>16.1f}"
        )
    print("goals: speed-up >= 1.8 on 2 workers; overhead < 50 ms/run (local), < 150 ms/run (Dask)")


if __name__ == "__main__":
    main()
