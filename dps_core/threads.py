"""How many OpenMP threads the compiled kernel may use: threads only where a step's work pays for
them, never more than the cores this process may run on, and no spinning between steps.

The rules, applied before every compiled step (`for_size`):

- an explicit request (`set_num_threads(n)`, the `limit(n)` context, or `OMP_NUM_THREADS`) is
  honoured, capped by the usable cores;
- otherwise a step with N·K below `THRESHOLD` runs on one thread, a larger one on one thread per
  `THRESHOLD` agent-task entries, up to the usable cores;
- usable cores are the CPU affinity mask (`os.sched_getaffinity`) further capped by the cgroup CPU
  quota (`cpu.max` in cgroup v2, `cpu.cfs_quota_us / cpu.cfs_period_us` in v1), rounded up.

GNU OpenMP (libgomp) reads its wait policy once, when the library is loaded: unset, its idle threads
spin for about 300,000 iterations (a few milliseconds) before sleeping, which on a busy machine
steals the cores other runs need. Importing this module (the package does, before the kernel can
load) therefore sets `OMP_WAIT_POLICY=PASSIVE` unless the user chose a policy or a
`GOMP_SPINCOUNT`; threads then sleep on a futex between parallel regions.

OpenBLAS (in NumPy's and SciPy's wheels) keeps its idle threads spinning for 2**28 processor cycles
(about 0.1 s) after every call, so the steps after a metric's matrix product shared their cores
with them (the generic example at N = 1e5: three steps after each evaluation of its metrics took
1.8-2.4 times as long). It reads `OPENBLAS_THREAD_TIMEOUT` (2**value cycles) when it loads, at the
first NumPy import: this module sets 20 (about 0.3 ms, still long enough for back-to-back calls)
unless the user set it, which takes effect where dps_core is imported before NumPy, as in the
`dps` command.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

__all__ = [
    "THRESHOLD",
    "usable_cpus",
    "cgroup_cpu_limit",
    "set_num_threads",
    "requested",
    "for_size",
    "limit",
]

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "20"  # 2**20 cycles: see the module's docstring

# N·K per thread below which another thread costs more than it saves (wake-up and barrier costs
# against the per-entry work); measured with benchmarks/bench_threads.py (see docs/performance.md)
THRESHOLD = 100_000

_requested: int | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_paths(proc_cgroup: str) -> tuple[str | None, tuple[str, str] | None]:
    """(v2 path, (v1 cpu hierarchy name, path)) of this process from /proc/self/cgroup's text."""
    v2 = v1 = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif "cpu" in parts[1].split(","):
            v1 = (parts[1], parts[2])
    return v2, v1


def _with_ancestors(base: Path, rel: str) -> list[Path]:
    dirs = [base]
    for part in Path(rel).parts[1:]:
        dirs.append(dirs[-1] / part)
    return dirs


def _ratio(quota: str | None, period: str | None) -> float | None:
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:
        return None  # 'max' (v2) or missing
    return q / p if q > 0 and p > 0 else None  # -1: no quota (v1)


def cgroup_cpu_limit(root: str | Path = "/sys/fs/cgroup", proc_cgroup: str | None = None) -> float | None:
    """The CPU quota of this process's cgroup in cores (the smallest along its ancestors, cgroup v2
    and v1), or None without a quota. `proc_cgroup` is /proc/self/cgroup's text (read when None)."""
    root = Path(root)
    if proc_cgroup is None:
        proc_cgroup = _read(Path("/proc/self/cgroup")) or ""
    v2, v1 = _cgroup_paths(proc_cgroup)
    limits = []
    if v2 is not None:
        v2_root = root / "unified" if (root / "unified").is_dir() and not (root / "cpu.max").exists() else root
        for d in _with_ancestors(v2_root, v2):
            text = _read(d / "cpu.max") or ""
            quota, _, period = text.partition(" ")
            limits.append(_ratio(quota, period))
    if v1 is not None:
        name, rel = v1
        base = root / name if (root / name).is_dir() else root / "cpu"
        for d in _with_ancestors(base, rel):
            limits.append(_ratio(_read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")))
    found = [x for x in limits if x is not None]
    return min(found) if found else None


@lru_cache(maxsize=1)
def usable_cpus() -> int:
    """Cores this process may use: its affinity mask, capped by the cgroup CPU quota (rounded up,
    at least 1). Cached: call `usable_cpus.cache_clear()` after changing the affinity."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def _env_request() -> int | None:
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(text)
    except ValueError:
        return None
    return n if n > 0 else None


def set_num_threads(n: int | None) -> None:
    """Ask for `n` threads in every compiled step (capped by the usable cores); None returns to the
    automatic choice by problem size."""
    global _requested
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"number of threads must be a positive integer or None, got {n!r}")
    _requested = n


def requested() -> int | None:
    """The explicit request in force (set_num_threads, else OMP_NUM_THREADS), or None."""
    return _requested if _requested is not None else _env_request()


def for_size(n_agents: int, n_tasks: int) -> int:
    """Threads for one step over an N x K problem under the rules in this module's docstring."""
    cap = usable_cpus()
    req = requested()
    if req is not None:
        return min(req, cap)
    return max(1, min(cap, (int(n_agents) * int(n_tasks)) // THRESHOLD))


@contextlib.contextmanager
def limit(n: int | None) -> Iterator[None]:
    """Within the block, request `n` threads (None: automatic); the previous request is restored."""
    global _requested
    before = _requested
    set_num_threads(n)
    try:
        yield
    finally:
        _requested = before
