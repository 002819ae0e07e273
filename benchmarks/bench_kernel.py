"""Kernel benchmark: seconds per step of the compiled kernel (1 and 2 threads) and the NumPy
reference, measured in one process, against the memory-bandwidth bound.

Every configuration runs K = 64 tasks on a ring of degree 8 (`Topology.ring(n, 4)`) with `shared`
mixing (gamma = 0.5), the `gradient` mode (profile learning, eta = 0.2), capabilities all ones:

- `signed-residual`: signed atoms, residual signal (sparse-coding-like; no transcendental per entry)
- `free-coverage`: free (softmax) profiles, smoothed coverage (two exponentials per entry)
- `vonmises-coverage`: von Mises profiles, smoothed coverage (the generic scenario's choice)

The bandwidth bound is the time to move the bytes the step must move at the copy bandwidth
measured here: the profile state read and written once (2 N*K doubles; for von Mises the state is
O(N), but the profiles must still be formed), and the production and the signal each written once
and read once to reach the neighbours (4 N*K): 6 N*K * 8 bytes.

Usage: python benchmarks/bench_kernel.py [--sizes 1e3,1e4,1e5,1e6] [--configs all] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from dps_core import Simulation, Topology, reference

K = 64
CONFIGS = {
    "signed-residual": ("signed", "residual"),
    "free-coverage": ("free", "coverage"),
    "vonmises-coverage": ("vonmises", "coverage"),
}


def make(n: int, family: str, signal: str) -> Simulation:
    rng = np.random.default_rng(0)
    x = 2 * np.pi * np.arange(K) / K
    demand = np.exp(2.0 * np.cos(x - 1.0)) + np.exp(2.0 * np.cos(x - 4.0))
    demand /= demand.sum()
    cfg = {
        "profile": {"family": family, "kappa": 4.0},
        "mixing": {"name": "shared", "gamma": 0.5},
        "signal": {"name": signal, **({"smoothing": 0.05} if signal == "coverage" else {})},
        "mode": {"name": "gradient", "eta": 0.2},
    }
    profile = {
        "free": {"logits": 0.1 * rng.standard_normal((n, K))},
        "signed": {"atoms": rng.standard_normal((n, K))},
        "vonmises": {"mu": rng.uniform(0, 2 * np.pi, n), "kappa": np.full(n, 4.0)},
    }[family]
    return Simulation.from_arrays(demand, profile=profile, topology=Topology.ring(n, 4), config=cfg)


def time_step(fn, sim: Simulation, reps: int) -> float:
    """Median seconds of one step from the same state (draws are empty for this mode)."""
    fn(sim.model, sim.state, {})  # warm up (plans, caches)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(sim.model, sim.state, {})
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def copy_bandwidth(nbytes: int = 1 << 29) -> float:
    """Bytes per second of a large NumPy copy (read + write counted)."""
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    np.copyto(b, a)
    best = min(_timed(lambda: np.copyto(b, a)) for _ in range(5))
    return 2 * a.nbytes / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6", help="agent counts, comma separated")
    ap.add_argument("--configs", default="all", help=f"comma separated among {', '.join(CONFIGS)}, or all")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per timing (median)")
    args = ap.parse_args()
    from dps_core import compiled

    names = list(CONFIGS) if args.configs == "all" else args.configs.split(",")
    bw = copy_bandwidth()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, OpenMP: {compiled.has_openmp()}; "
        f"copy bandwidth {bw / 1e9:.1f} GB/s; K = {K}"
    )
    header = (
        f"{'config':<18} {'N':>8} {'ref s/step':>11} {'c1 s/step':>10} {'c2 s/step':>10} {'c1 upd/s':>9} "
        f"{'ref/c1':>7} {'c1/c2':>6} {'bound s':>9} {'c1/bound':>9}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        for n in [int(float(s)) for s in args.sizes.split(",")]:
            sim = make(n, *CONFIGS[name])
            reps = args.reps if n < 1e6 else 2
            compiled.set_num_threads(1)
            c1 = time_step(compiled.step, sim, reps)
            compiled.set_num_threads(2)
            c2 = time_step(compiled.step, sim, reps)
            ref = time_step(reference.step, sim, reps if n < 1e5 else 2)
            bound = 6 * n * K * 8 / bw
            print(
                f"{name:<18} {n:>8} {ref:>11.4g} {c1:>10.4g} {c2:>10.4g} {n * K / c1:>9.3g} "
                f"{ref / c1:>7.2f} {c1 / c2:>6.2f} {bound:>9.3g} {c1 / bound:>9.2f}",
                flush=True,
            )
            del sim


if __name__ == "__main__":
    main()
