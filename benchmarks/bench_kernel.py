"""Kernel benchmark: seconds per step of dps (compiled on 1 and 2 threads, NumPy reference) against
independent implementations of the same step (benchmarks/comparators.py), in one process.

Every configuration runs K = 64 tasks on a ring of degree 8 (`Topology.ring(n, 4)`) with `shared`
mixing (gamma = 0.5), the `gradient` mode (profile learning, eta = 0.2), capabilities all ones:

- `signed-residual`: signed atoms, residual signal (sparse-coding-like; no transcendental per entry)
- `free-coverage`: free (softmax) profiles, smoothed coverage (two exponentials per entry)
- `vonmises-coverage`: von Mises profiles, smoothed coverage (the generic scenario's choice)

Method. Every comparator is first checked equal to dps's reference step (largest difference of
the new parameters and of the change, 1e-12 relative) and is not timed if it differs. Then the
implementations are timed in interleaved rounds (round r times each once, in turn), so that a
load change on this shared machine hits them all alike; each cell is the median over rounds with
the range (min-max). Ratios between implementations are taken from the same process and rounds.

The bandwidth bound is the time to move the bytes the step must move at the copy bandwidth
measured here (read + write counted): the profile state read and written once (2 N*K doubles; for
von Mises the state is O(N), but the profiles must still be formed), and the production and the
signal each written once and read once to reach the neighbours (4 N*K): 6 N*K * 8 bytes.
`ns/entry` is seconds per step / (N*K + E*K), E the number of directed edges: the step's work.
The `cpu` columns are CPU seconds of the process per step (time.process_time, every thread), the
same interleaved rounds: on a shared machine they do not count the time spent waiting for a core.
The process keeps freed memory for reuse, as the `dps` command does (`dps_core.keep_freed_memory`):
with glibc's default the comparators' N x K temporaries are returned to the system and faulted in
again every step, and that churn slowed the next two-thread step by up to 25 % at N = 1e6.
`--return-freed-memory` measures glibc's default.

Usage: python benchmarks/bench_kernel.py [--sizes 1e4,1e5] [--configs all] [--rounds 7] [--smoke]
       [--return-freed-memory]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

# dps_core first: its thread policy for OpenMP and OpenBLAS takes effect only before NumPy loads
import dps_core  # noqa: F401  # isort: skip
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from comparators import IdiomaticNumpy, InPlaceNumpy, MesaAgents, Problem, mesa_available

from dps_core import Simulation, Topology, reference

K = 64
CONFIGS = {
    "signed-residual": ("signed", "residual"),
    "free-coverage": ("free", "coverage"),
    "vonmises-coverage": ("vonmises", "coverage"),
}
MESA_MAX_N = 10_000  # one Python object per agent: larger systems take minutes per step
TOL = 1e-12


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
    sim = Simulation.from_arrays(demand, profile=profile, topology=Topology.ring(n, 4), config=cfg)
    # every state of a run after its first step sits in the kernel's 64-byte aligned buffers; the
    # initial arrays have NumPy's 16-byte alignment, which splits 64-byte loads across cache lines
    sim.step(1)
    return sim


def cpu_description() -> str:
    """CPU model and the vector instruction sets it offers (from /proc/cpuinfo where it exists)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl") if f in flags]
    return f"{model}; ISA: {' '.join(isa) or 'unknown'}"


def copy_bandwidth(nbytes: int = 1 << 28) -> float:
    """Bytes per second of a large NumPy copy (read + write counted), best of 5."""
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    np.copyto(b, a)
    best = min(_timed(lambda: np.copyto(b, a)) for _ in range(5))
    return 2 * a.nbytes / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _params_of(state) -> dict:
    return dict(state.profile)


def _max_rel_diff(a: dict, b: dict) -> float:
    worst = 0.0
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if name == "mu":  # angles: compare on the circle
            d = np.abs(np.angle(np.exp(1j * (x - y))))
        else:
            d = np.abs(x - y)
        worst = max(worst, float(np.max(d / np.maximum(1.0, np.abs(y)))))
    return worst


def verify(comp, sim: Simulation) -> float:
    """Largest relative difference between the comparator's step and dps's reference step."""
    ref_state, ref_change = reference.step(sim.model, sim.state, {})
    new, _w, change = comp.step(_params_of(sim.state), np.asarray(sim.state.w))
    d = _max_rel_diff(new, ref_state.profile)
    return max(d, abs(change - ref_change) / max(1.0, abs(ref_change)))


def runners(sim: Simulation, family: str, signal: str, n: int, with_reference: bool, isas: list, log) -> dict:
    """name -> zero-argument callable doing one step from the same state. dps's compiled kernel
    runs on 1 and 2 threads with the first instruction set of `isas`, on 1 thread with the others."""
    from dps_core import compiled

    model, state = sim.model, sim.state
    out = {}

    def dps_step(threads, isa):
        def run():
            compiled.set_isa(isa)
            compiled.set_num_threads(threads)
            compiled.step(model, state, {})

        return run

    for isa in isas:
        # the compiled kernel is itself checked against the reference (the tests do it for every combination)
        compiled.set_isa(isa)
        c_state, _ = compiled.step(model, state, {})
        r_state, _ = reference.step(model, state, {})
        d = _max_rel_diff(c_state.profile, r_state.profile)
        if d > TOL:
            log(f"  dps compiled ({isa}) differs from the reference by {d:.2e}: not timed")
        elif isa == isas[0]:
            out["dps compiled, 1 thread"] = dps_step(1, isa)
            out["dps compiled, 2 threads"] = dps_step(2, isa)
        else:
            out[f"dps {isa}, 1 thread"] = dps_step(1, isa)
    compiled.set_isa(isas[0])
    if with_reference:
        out["dps reference (NumPy)"] = lambda: reference.step(model, state, {})
    p = Problem(sim, family, signal)
    classes = [IdiomaticNumpy, InPlaceNumpy]
    if mesa_available() and n <= MESA_MAX_N:
        classes.append(MesaAgents)
    params, w = _params_of(state), np.asarray(state.w)
    for cls in classes:
        comp = cls(p)
        d = verify(comp, sim)
        log(f"  {comp.name}: largest relative difference to dps {d:.1e}")
        if d > TOL:
            log(f"  {comp.name} differs from dps: not timed")
            continue
        out[comp.name] = lambda comp=comp: comp.step(params, w)
    return out


def measure(fns: dict, rounds: int) -> tuple[dict, dict]:
    """Interleaved rounds: each round times every implementation once, in turn. Returns wall-clock
    and CPU seconds (`time.process_time`: all threads of the process, without the time it waits
    for a core, which on a shared machine is the steadier of the two for one thread)."""
    for fn in fns.values():
        fn()  # warm up (plans, caches, first-touch of buffers)
    times: dict = {name: [] for name in fns}
    cpu: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            c0 = time.process_time()
            times[name].append(_timed(fn))
            cpu[name].append(time.process_time() - c0)
    return {name: np.array(t) for name, t in times.items()}, {name: np.array(t) for name, t in cpu.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e4,1e5", help="agent counts, comma separated")
    ap.add_argument("--configs", default="all", help=f"comma separated among {', '.join(CONFIGS)}, or all")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (median and range)")
    ap.add_argument("--no-reference", action="store_true", help="do not time dps's NumPy reference kernel")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and 2 rounds: checks the script in seconds")
    ap.add_argument(
        "--isa",
        default="",
        help="instruction sets of dps's row kernels to time, comma separated, or all (default: the best this "
        "CPU runs; the first is timed on 1 and 2 threads, the others on 1)",
    )
    ap.add_argument("--return-freed-memory", action="store_true", help="glibc's default instead of the dps command's")
    args = ap.parse_args(argv)
    from dps_core import compiled, keep_freed_memory

    kept = not args.return_freed_memory and keep_freed_memory(children=False)

    if args.smoke:
        args.sizes, args.rounds = "2e3", 2
    available = compiled.isas()
    isas = available if args.isa == "all" else args.isa.split(",") if args.isa else available[:1]
    for isa in isas:
        if isa not in available:
            ap.error(
                f"--isa: '{isa}' is not an instruction set this build and CPU run; choose among {', '.join(available)}"
            )
    names = list(CONFIGS) if args.configs == "all" else args.configs.split(",")
    for name in names:
        if name not in CONFIGS:
            ap.error(f"--configs: unknown configuration '{name}'; choose among {', '.join(CONFIGS)}")
    bw = copy_bandwidth(1 << 24 if args.smoke else 1 << 28)
    mesa = "Mesa " + __import__("mesa").__version__ if mesa_available() else "Mesa not installed"
    print(f"CPU: {cpu_description()}; {os.cpu_count()} logical CPUs")
    print(
        f"dps kernel: OpenMP {compiled.has_openmp()}, row kernels {', '.join(isas)} (of {', '.join(available)}); "
        f"NumPy {np.__version__}; {mesa}; "
        f"copy bandwidth {bw / 1e9:.1f} GB/s (this process); K = {K}; {args.rounds} interleaved rounds; "
        f"freed memory {'kept for reuse (as `dps` does)' if kept else 'returned to the system'}"
    )
    for name in names:
        for n in [int(float(s)) for s in args.sizes.split(",")]:
            sim = make(n, *CONFIGS[name])
            edges = sim.model.topology.n_edges
            print(f"\n{name}, N = {n}, edges = {edges}")
            fns = runners(sim, *CONFIGS[name], n, not args.no_reference, isas, print)
            times, cpu = measure(fns, args.rounds)
            bound = 6 * n * K * 8 / bw
            base = float(np.median(times["in-place NumPy"])) if "in-place NumPy" in times else float("nan")
            cbase = float(np.median(cpu["in-place NumPy"])) if "in-place NumPy" in cpu else float("nan")
            header = (
                f"  {'implementation':<30} {'s/step':>10} {'range':>21} {'upd/s':>9} {'ns/entry':>9} "
                f"{'vs in-place':>11} {'/bound':>7} {'cpu s/step':>11} {'cpu range':>19} {'cpu vs in-place':>15}"
            )
            print(header)
            for impl, t in times.items():
                med = float(np.median(t))
                c = cpu[impl]
                cmed = float(np.median(c))
                print(
                    f"  {impl:<30} {med:>10.4g} {f'{t.min():.4g}-{t.max():.4g}':>21} {n * K / med:>9.3g} "
                    f"{med / (n * K + edges * K) * 1e9:>9.3g} {base / med:>10.2f}x {med / bound:>7.2f} "
                    f"{cmed:>11.4g} {f'{c.min():.4g}-{c.max():.4g}':>19} {cbase / cmed:>14.2f}x"
                )
            print(f"  {'bytes bound (6 N K doubles)':<30} {bound:>10.4g}")
            del sim, fns
            sys.stdout.flush()


if __name__ == "__main__":
    main()
