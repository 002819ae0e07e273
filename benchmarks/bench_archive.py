"""Archive benchmark: what durability costs, how files grow, how fast damaged-file checks are.
One function per measurement; each returns rows (dicts) that `main` prints as one table per
measurement (or JSON). Add a measurement by writing a function and listing it in MEASUREMENTS.

- record_cost: milliseconds of archive work per record (buffering, the flushes the
  `archive.flush_every` policy asks for, durable counts), with the metrics precomputed so only
  the archive is timed. Goal: < 1 ms per record with the default policy.
- run_overhead: milliseconds per record that writing the archive adds to a whole run
  (record_every = 1), against the same run without an archive, in the same process.
- growth: file size and write throughput against run length, `archive.swmr` on and off (8 agents,
  10 tasks, every step recorded, a snapshot of S and w every 10 steps). "data" is the bytes the
  appended datasets hold (uncompressed); the claim checked is file <= 2 x data + a constant, the
  constant being the file of a run with one record (layout, checkpoint slots, first chunks).
- snapshots: 1e5 agents x 16 tasks, a gzip snapshot of S and w every step: MB/s of snapshot data
  and the size ratio.
- inspect: an uncompressed archive of about `--inspect-gb` GB (1e5 x 64 snapshots of S); times
  plain `dps inspect` (metadata and last values only) and `dps inspect --verify` (every byte).

Set OMP_NUM_THREADS=1 on a shared machine (an OpenMP kernel spinning on busy cores distorts the
step time, not the archive's). Usage:
    python benchmarks/bench_archive.py [--smoke] [--json] [--only NAME ...] [--lengths 500,2000,8000]
           [--inspect-gb 1] [--dir SCRATCH]
(--smoke: tiny sizes, for CI: checks that every measurement runs)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

import h5py

from dps_core import Simulation
from dps_core.archive import ArchiveWriter
from dps_core.cli import main as dps_main

POLICIES = [1, 10, "1s"]  # flush after every record, every 10 records, every second (the default)


def _system(agents: int, tasks: int, policy, record_every: int = 1, steps: int = 100) -> Simulation:
    return Simulation.from_config(
        {
            "scenario": {"agents": agents, "tasks": tasks, "peaks": 3},
            "run": {"steps": steps, "record_every": record_every, "checkpoint_every": 0, "seed": 1},
            "archive": {"flush_every": policy, "snapshots": ["S"]},
        },
        entry_points=False,
    )


def record_cost(workdir: Path, size: dict) -> list[dict]:
    """Milliseconds per record of the writer alone, for each flush policy."""
    rows = []
    records = size["records"]
    for policy in POLICIES:
        sim = _system(size["agents"], size["tasks"], policy)
        metrics = sim.metrics()
        path = workdir / f"record-{policy}.h5"
        writer = ArchiveWriter(path, sim, overwrite=True)
        writer.publish()
        t0 = time.perf_counter()
        for i in range(records):
            writer.record(i, float(i), metrics)
            writer.maybe_flush()
        writer.flush()
        seconds = time.perf_counter() - t0
        writer.finish("finished")
        rows.append({"flush_every": policy, "records": records, "ms_per_record": 1e3 * seconds / records})
    return rows


def run_overhead(workdir: Path, size: dict) -> list[dict]:
    """Milliseconds per record that the archive adds to a run recording every step."""
    records, agents, tasks = size["records"], size["agents"], size["tasks"]
    sim = _system(agents, tasks, 1, steps=records)
    t0 = time.perf_counter()
    sim.run()
    bare = time.perf_counter() - t0
    rows = []
    for policy in POLICIES:
        sim = _system(agents, tasks, policy, steps=records)
        t0 = time.perf_counter()
        sim.run(workdir / f"run-{policy}.h5", overwrite=True)
        seconds = time.perf_counter() - t0
        rows.append({"flush_every": policy, "records": records + 1, "run_s": seconds, "bare_run_s": bare,
                     "ms_per_record": 1e3 * (seconds - bare) / (records + 1)})  # fmt: skip
    return rows


def appended_bytes(path: Path) -> int:
    """Uncompressed bytes of the appended datasets (time series and snapshots)."""
    total = 0
    with h5py.File(path, "r") as f:
        for group in ("timeseries", "snapshots"):
            for ds in f[group].values():
                if isinstance(ds, h5py.Dataset) and ds.maxshape and ds.maxshape[0] is None:
                    total += ds.size * ds.dtype.itemsize
    return total


def _growth_run(path: Path, steps: int, swmr: bool) -> dict:
    cfg = {
        "run": {"steps": steps, "record_every": 1, "snapshot_every": 10, "checkpoint_every": 1000, "seed": 1},
        "scenario": {"agents": 8, "tasks": 10},
        "archive": {"swmr": swmr, "snapshots": ["S", "w"]},
    }
    sim = Simulation.from_config(cfg)
    t = time.perf_counter()
    sim.run(path, overwrite=True)
    seconds = time.perf_counter() - t
    return {"size": path.stat().st_size, "data": appended_bytes(path), "seconds": seconds}


def growth(workdir: Path, size: dict) -> list[dict]:
    """File size against run length, SWMR on and off; the constant is a run with one record."""
    rows = []
    for swmr in (True, False):
        base = _growth_run(workdir / "base.h5", 0, swmr)
        for steps in size["lengths"]:
            r = _growth_run(workdir / "g.h5", steps, swmr)
            rows.append({"swmr": swmr, "records": steps + 1, "file_MB": r["size"] / 1e6, "data_MB": r["data"] / 1e6,
                         "file_per_data": r["size"] / r["data"], "constant_MB": base["size"] / 1e6,
                         "growth_per_data": (r["size"] - base["size"]) / max(1, r["data"] - base["data"]),
                         "records_per_s": (steps + 1) / r["seconds"]})  # fmt: skip
    return rows


def snapshots(workdir: Path, size: dict) -> list[dict]:
    """A large system with a gzip snapshot of S and w every step: throughput and size ratio."""
    n, k, steps = size["snap_agents"], size["snap_tasks"], size["snap_steps"]
    cfg = {
        "run": {"steps": steps, "record_every": 1, "snapshot_every": 1, "checkpoint_every": 5, "seed": 1},
        "scenario": {"agents": n, "tasks": k},
        "archive": {"snapshots": ["S", "w"]},
        "topology": {"name": "ring", "k": 4},
        "mixing": {"name": "shared", "gamma": 0.5},
    }
    sim = Simulation.from_config(cfg)
    t0 = time.perf_counter()
    sim.step(steps)
    kernel = time.perf_counter() - t0
    path = workdir / "snap.h5"
    t = time.perf_counter()
    Simulation.from_config(cfg).run(path, overwrite=True)
    seconds = time.perf_counter() - t
    data, file_size = appended_bytes(path), path.stat().st_size
    return [{"agents": n, "tasks": k, "snapshots": steps + 1, "file_MB": file_size / 1e6, "data_MB": data / 1e6,
             "file_per_data": file_size / data, "run_s": seconds, "stepping_s": kernel,
             "MB_per_s": data / 1e6 / max(1e-9, seconds - kernel)}]  # fmt: skip


def _timed_cli(argv: list[str]) -> float:
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = dps_main(argv)
    assert code == 0, argv
    return time.perf_counter() - t


def inspect(workdir: Path, size: dict) -> list[dict]:
    """Plain `dps inspect` and `dps inspect --verify` on a large uncompressed archive."""
    n, k = size["inspect_agents"], 64
    per = n * k * 8
    snaps = max(2, round(size["inspect_gb"] * 1e9 / per))
    cfg = {
        "run": {"steps": snaps - 1, "record_every": 1, "snapshot_every": 1, "checkpoint_every": 1000, "seed": 1},
        "scenario": {"agents": n, "tasks": k},
        "archive": {"snapshots": ["S"], "compression": "none"},
        "topology": {"name": "ring", "k": 4},
        "mixing": {"name": "shared", "gamma": 0.5},
    }
    path = workdir / "big.h5"
    Simulation.from_config(cfg).run(path, overwrite=True)
    _timed_cli(["inspect", str(path)])  # warm the imports and the plugin registry
    plain = min(_timed_cli(["inspect", str(path)]) for _ in range(3))
    verify = _timed_cli(["inspect", "--verify", str(path)])
    return [{"file_GB": path.stat().st_size / 1e9, "snapshots": snaps, "inspect_s": plain, "verify_s": verify}]


MEASUREMENTS = {
    "record_cost": record_cost,
    "run_overhead": run_overhead,
    "growth": growth,
    "snapshots": snapshots,
    "inspect": inspect,
}
SMOKE = {"records": 20, "agents": 4, "tasks": 5, "lengths": [5, 20], "snap_agents": 200, "snap_tasks": 4,
         "snap_steps": 3, "inspect_agents": 500, "inspect_gb": 0.001}  # fmt: skip


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check that every measurement runs")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--only", nargs="+", choices=sorted(MEASUREMENTS), help="run only these measurements")
    ap.add_argument("--records", type=int, default=2000, help="record_cost, run_overhead: records")
    ap.add_argument("--agents", type=int, default=48, help="record_cost, run_overhead: N")
    ap.add_argument("--tasks", type=int, default=64, help="record_cost, run_overhead: K")
    ap.add_argument("--lengths", default="500,2000,8000", help="growth: run lengths in steps (records = steps + 1)")
    ap.add_argument("--inspect-gb", type=float, default=1.0, help="inspect: archive size in GB")
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    size = SMOKE if args.smoke else {
        "records": args.records, "agents": args.agents, "tasks": args.tasks,
        "lengths": [int(x) for x in args.lengths.split(",")], "snap_agents": 100_000, "snap_tasks": 16,
        "snap_steps": 10, "inspect_agents": 100_000, "inspect_gb": args.inspect_gb}  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory(prefix="dps-bench-archive-", dir=args.dir) as tmp:
        for name in args.only or MEASUREMENTS:
            results[name] = MEASUREMENTS[name](Path(tmp), size)
    if args.json:
        print(json.dumps(results, default=str))
        return
    print(
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"h5py {h5py.version.version}, HDF5 {h5py.version.hdf5_version}"
    )
    for name, rows in results.items():
        print(f"\n## {name}: {MEASUREMENTS[name].__doc__}")
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |")
        print("|" + " --- |" * len(keys))
        for r in rows:
            print("| " + " | ".join(_cell(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
