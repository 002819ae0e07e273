"""Peak memory while stepping, against the bytes of the state (Linux only: reads /proc/self).

Builds one of bench_kernel's configurations, then resets the kernel's peak-RSS counter
(`/proc/self/clear_refs`, value 5) and steps. Reported: the resident memory before the model was
built (interpreter and libraries), after it was built (state, graph, plans), the peak while
stepping, the state's bytes, and the ratio of what stepping adds on top of the built model's
non-state memory to the state's bytes:

    ratio = (peak while stepping - (after build - state bytes)) / state bytes

that is, how many state-sized copies are resident at the worst moment of a step (1.0 would be the
state alone, updated in place). The graph, the interpreter and the libraries are not counted,
since they do not scale with K. Also reported: what a step adds to the built model against the
estimate the memory check makes before the first step (`dps_core.backend.kernel_step_bytes`).

Usage: python benchmarks/bench_memory.py [--n 1e6] [--config free-coverage] [--steps 3] [--threads 1] [--three-passes]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

GIB = 1024**3


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss() -> int:
    return _status("VmRSS")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="1e6", help="agents")
    ap.add_argument("--config", default="free-coverage", help="a bench_kernel configuration")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--three-passes", action="store_true", help="no fused pass (as graphs of wide bandwidth run)")
    args = ap.parse_args(argv)
    before = rss()
    from bench_kernel import CONFIGS, make

    from dps_core import compiled
    from dps_core.backend import kernel_step_bytes

    compiled.set_num_threads(args.threads)
    compiled.FUSED = not args.three_passes
    n = int(float(args.n))
    sim = make(n, *CONFIGS[args.config])
    state_bytes = sum(a.nbytes for a in sim.state.arrays().values())
    built = rss()
    estimate = kernel_step_bytes(sim.model, sim.state)
    reset_peak()
    sim.step(args.steps)
    peak = _status("VmHWM")
    ratio = (peak - (built - state_bytes)) / state_bytes
    print(
        f"{args.config}, N = {n}, K = {sim.model.n_tasks}, {args.threads} thread(s): state {state_bytes / GIB:.3f} GiB; "
        f"RSS before build {before / GIB:.3f} GiB, after build {built / GIB:.3f} GiB, "
        f"peak while stepping {peak / GIB:.3f} GiB; stepping peak / state = {ratio:.2f}; "
        f"a step adds {(peak - built) / GIB:.3f} GiB, the memory check estimates {estimate / GIB:.3f} GiB"
    )


if __name__ == "__main__":
    main()
