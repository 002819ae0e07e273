"""End-to-end benchmark: the generic example (`examples/generic.toml`: von Mises profiles, coverage
signal, mean-field mixing, its metrics every 20 steps, snapshots every 200) scaled to N agents, run
by the compiled and the reference kernel, each in its own process, rounds alternating.

Three levels per run, seconds per step:
- `step`: `Simulation.step` alone (the kernel and the engine's bookkeeping, nothing recorded);
- `run`: `Simulation.run` without an archive (adds the example's metrics every 20 steps);
- `run+archive`: `Simulation.run` writing the archive (adds time series, snapshots, checkpoints).

The compiled kernel's gain over the reference is reported at each level: what the kernel gains
survives end to end when the three ratios agree. Each process keeps freed memory for reuse, as the
`dps` command does (`dps_core.keep_freed_memory`); `--return-freed-memory` measures glibc's default.

Usage: python benchmarks/bench_end_to_end.py [--agents 1e5] [--steps 200] [--rounds 3] [--smoke]
       [--return-freed-memory]
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
import tomllib
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "generic.toml"
LEVELS = ("step", "run", "run+archive")


def child(agents: int, steps: int, keep: bool) -> dict[str, float]:
    """One process: the three levels with the kernel this process runs; seconds per step."""
    from dps_core import Simulation, backend, keep_freed_memory

    if keep:
        keep_freed_memory(children=False)

    cfg = tomllib.loads(EXAMPLE.read_text())
    cfg["scenario"]["agents"] = agents
    cfg["run"]["steps"] = steps
    out = {"backend": backend()}
    sim = Simulation.from_config(cfg)
    t = time.perf_counter()
    sim.step(steps)
    out["step"] = (time.perf_counter() - t) / steps
    sim = Simulation.from_config(cfg)
    t = time.perf_counter()
    sim.run()
    out["run"] = (time.perf_counter() - t) / steps
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulation.from_config(cfg)
        t = time.perf_counter()
        sim.run(Path(tmp) / "generic.h5")
        out["run+archive"] = (time.perf_counter() - t) / steps
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", default="1e5")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="1,000 agents, 40 steps, one round: checks the script")
    ap.add_argument("--return-freed-memory", action="store_true", help="glibc's default instead of the dps command's")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    agents, steps, rounds = int(float(args.agents)), args.steps, args.rounds
    if args.smoke:
        agents, steps, rounds = 1000, 40, 1
    if args.child:
        print(json.dumps(child(agents, steps, not args.return_freed_memory)))
        return
    times: dict[str, dict[str, list[float]]] = {k: {lv: [] for lv in LEVELS} for k in ("compiled", "reference")}
    for _ in range(rounds):
        for kernel in times:
            env = {**os.environ, "DPS_PUREPYTHON": "1" if kernel == "reference" else "0"}
            cmd = [sys.executable, __file__, "--child", "--agents", str(agents), "--steps", str(steps)]
            cmd += ["--return-freed-memory"] if args.return_freed_memory else []
            res = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
            if res["backend"] != kernel:
                sys.exit(f"bench_end_to_end: asked for the {kernel} kernel, the process ran {res['backend']}")
            for lv in LEVELS:
                times[kernel][lv].append(res[lv])
    memory = (
        "returned to the system (glibc's default)" if args.return_freed_memory else "kept for reuse (as `dps` does)"
    )
    print(f"examples/generic.toml with {agents} agents, {steps} steps, median of {rounds} round(s); seconds per step")
    print(f"freed memory {memory}")
    print(f"{'level':<12} {'compiled':>10} {'reference':>10} {'gain':>6}")
    for lv in LEVELS:
        c, r = statistics.median(times["compiled"][lv]), statistics.median(times["reference"][lv])
        print(f"{lv:<12} {c:>10.4g} {r:>10.4g} {r / c:>5.2f}x")


if __name__ == "__main__":
    main()
