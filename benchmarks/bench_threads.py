"""Thread-policy benchmark: where a second OpenMP thread pays, and what threads cost when runs share
the cores.

Three measurements (compiled kernel; K = 64; von Mises profiles, coverage signal, mean-field
mixing as in the generic scenario):

1. `scan`: seconds per step with 1 and 2 threads (explicit requests) over N; the speed-up 1→2
   locates the N·K above which a second thread pays (`dps_core.threads.THRESHOLD`).
2. `big`: the speed-up from 2 threads at N = 1e5 (goal ≥ 1.6× on an idle machine).
3. `pair`: `examples/generic.toml` run alone, then two copies side by side, each in its own
   process, without an archive, timed by the run itself. With the policy (the default) each of the pair should take
   at most 1.3× the time alone; `legacy` repeats it with what the kernel did before the policy
   (OMP_NUM_THREADS=2 and libgomp's default spinning, GOMP_SPINCOUNT=300000).
4. `lv`: 1,000 steps of `examples/lotka_volterra.toml` (two species: a tiny step) with the policy
   and with the legacy settings, on whatever else the machine is doing.

On a shared machine run it when it is quiet; `--reps` sets the repetitions (medians are reported).
Usage: python benchmarks/bench_threads.py [--parts scan,big,pair,lv] [--reps 5] [--steps 2000]
       [--variants policy,legacy]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# dps_core first: its thread policy for OpenMP and OpenBLAS takes effect only before NumPy loads
import dps_core  # noqa: F401  # isort: skip
import numpy as np

from dps_core import Simulation, threads

K = 64
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "generic.toml"


def make(n: int) -> Simulation:
    x = 2 * np.pi * np.arange(K) / K
    demand = np.exp(2.0 * np.cos(x - 1.0)) + np.exp(2.0 * np.cos(x - 4.0))
    rng = np.random.default_rng(0)
    cfg = {
        "profile": {"family": "vonmises", "kappa": 8.0},
        "mixing": {"name": "mean_field", "gamma": 1.0},
        "signal": {"name": "coverage", "smoothing": 0.02},
        "mode": {"name": "gradient", "eta": 0.1},
    }
    profile = {"mu": rng.uniform(0, 2 * np.pi, n), "kappa": np.full(n, 8.0)}
    return Simulation.from_arrays(demand / demand.sum(), profile=profile, config=cfg)


def per_step(sim: Simulation, n_threads: int, reps: int, steps: int) -> float:
    """Median seconds per step over `reps` blocks of `steps` steps (whole steps, as a run does)."""
    threads.set_num_threads(n_threads)
    sim.step(2)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        sim.step(steps)
        out.append((time.perf_counter() - t0) / steps)
    threads.set_num_threads(None)
    return statistics.median(out)


def scan(reps: int) -> None:
    print(f"usable cores: {threads.usable_cpus()}; THRESHOLD = {threads.THRESHOLD} (N·K per thread)")
    print(f"{'N':>7} {'N*K':>9} {'1 thread s':>11} {'2 threads s':>12} {'speed-up':>9}  policy")
    for n in (100, 250, 500, 1000, 2000, 4000, 8000, 16000):
        sim = make(n)
        steps = max(5, int(2e6 // (n * K)))
        t1 = per_step(sim, 1, reps, steps)
        t2 = per_step(sim, 2, reps, steps)
        print(f"{n:>7} {n * K:>9} {t1:>11.3g} {t2:>12.3g} {t1 / t2:>9.2f}  {threads.for_size(n, K)}", flush=True)


def big(reps: int) -> None:
    sim = make(100_000)
    t1 = per_step(sim, 1, reps, 3)
    t2 = per_step(sim, 2, reps, 3)
    print(
        f"N = 1e5, K = {K}: 1 thread {t1:.4g} s/step, 2 threads {t2:.4g} s/step, speed-up {t1 / t2:.2f} (goal >= 1.6)"
    )


_CHILD = (
    "import json, sys\n"
    "from dps_core import Simulation\n"
    "sim = Simulation.from_config(sys.argv[1], overrides={'run.steps': int(sys.argv[2])})\n"
    "print(json.dumps({'seconds': sim.run().seconds}))\n"
)


def _start(out: Path, env: dict, steps: int, example: Path = EXAMPLE) -> subprocess.Popen:
    """A run of `example` in its own process, without an archive (archive writes would measure the
    file system, not the threads); it prints the seconds the run took."""
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(example), str(steps)], env=env, stdout=subprocess.PIPE, text=True
    )


def _seconds(proc: subprocess.Popen) -> float:
    out, _ = proc.communicate(timeout=600)
    if proc.returncode:
        raise SystemExit(f"the run failed with exit code {proc.returncode}")
    return float(json.loads(out)["seconds"])


def _variants() -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    return {"policy": base, "legacy": {**base, "OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "300000"}}


def lotka_volterra(reps: int, which: list[str]) -> None:
    example = EXAMPLE.with_name("lotka_volterra.toml")
    print(f"examples/lotka_volterra.toml, 1000 steps, no archive; seconds reported by the run (median of {reps})")
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in _variants().items():
            if name not in which:
                continue
            t = statistics.median(_seconds(_start(Path(tmp, "lv.h5"), env, 1000, example)) for _ in range(reps))
            print(f"{name:<8} {t:>8.3f} s", flush=True)


_CONTROL = (
    "import json, time\n"
    "t = time.perf_counter()\n"
    "x = 0\n"
    "for i in range(20_000_000):\n"
    "    x += i\n"
    "print(json.dumps({'seconds': time.perf_counter() - t}))\n"
)


def control(reps: int) -> float:
    """pair/alone of a plain single-threaded Python loop: what the machine gives a second process
    right now (1.0 on an idle machine with two free cores), the floor for any single-threaded run."""
    alone, paired = [], []
    for _ in range(reps):
        alone.append(_seconds(subprocess.Popen([sys.executable, "-c", _CONTROL], stdout=subprocess.PIPE, text=True)))
        procs = [
            subprocess.Popen([sys.executable, "-c", _CONTROL], stdout=subprocess.PIPE, text=True) for _ in range(2)
        ]
        paired.append(max(_seconds(p) for p in procs))
    return statistics.median(paired) / statistics.median(alone)


def pair(reps: int, steps: int, which: list[str]) -> None:
    variants = {k: v for k, v in _variants().items() if k in which}
    print(f"examples/generic.toml, {steps} steps, no archive; seconds as reported by each run (median of {reps})")
    print(f"{'variant':<8} {'alone s':>8} {'pair s':>8} {'pair/alone':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in variants.items():
            alone, paired = [], []
            for _ in range(reps):
                alone.append(_seconds(_start(Path(tmp, "a.h5"), env, steps)))
                procs = [_start(Path(tmp, f"p{i}.h5"), env, steps) for i in range(2)]
                paired.append(max(_seconds(p) for p in procs))
            a, p = statistics.median(alone), statistics.median(paired)
            print(f"{name:<8} {a:>8.3f} {p:>8.3f} {p / a:>11.2f}", flush=True)
    print(f"control  (a plain Python loop, one thread)   pair/alone {control(reps):.2f}")
    print("goal: policy pair/alone <= 1.3 (on a machine whose control is about 1)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="scan,big,pair,lv", help="comma separated among scan, big, pair, lv")
    ap.add_argument("--reps", type=int, default=5, help="repetitions (medians reported)")
    ap.add_argument("--steps", type=int, default=2000, help="steps of each generic run in 'pair'")
    ap.add_argument("--variants", default="policy,legacy", help="pair/lv variants: policy, legacy")
    args = ap.parse_args()
    parts = args.parts.split(",")
    from dps_core import backend

    if backend() != "compiled":
        raise SystemExit(f"the compiled kernel is not in use (backend: {backend()}); nothing to measure")
    if "scan" in parts:
        scan(args.reps)
    if "big" in parts:
        big(args.reps)
    if "pair" in parts:
        pair(args.reps, args.steps, args.variants.split(","))
    if "lv" in parts:
        lotka_volterra(args.reps, args.variants.split(","))


if __name__ == "__main__":
    main()
