"""Archive benchmark: what durability costs. One function per measurement; each returns rows
(dicts) that `main` prints as a table (or JSON). Add a measurement by writing a function and
listing it in MEASUREMENTS.

- record_cost: milliseconds of archive work per record (buffering, the flushes the
  `archive.flush_every` policy asks for, durable counts), with the metrics precomputed so only
  the archive is timed. Goal: < 1 ms per record with the default policy.
- run_overhead: milliseconds per record that writing the archive adds to a whole run
  (record_every = 1), against the same run without an archive, in the same process.

Usage: python benchmarks/bench_archive.py [--smoke] [--json] [--only NAME ...]
       (--smoke: tiny sizes, for CI: checks that every measurement runs)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from dps_core import Simulation
from dps_core.archive import ArchiveWriter

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


def record_cost(workdir: Path, *, records: int, agents: int, tasks: int) -> list[dict]:
    """Milliseconds per record of the writer alone, for each flush policy."""
    rows = []
    for policy in POLICIES:
        sim = _system(agents, tasks, policy)
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
        rows.append({"measurement": "record_cost", "flush_every": policy, "records": records,
                     "ms_per_record": 1e3 * seconds / records})  # fmt: skip
    return rows


def run_overhead(workdir: Path, *, records: int, agents: int, tasks: int) -> list[dict]:
    """Milliseconds per record that the archive adds to a run recording every step."""
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
        rows.append({"measurement": "run_overhead", "flush_every": policy, "records": records + 1,
                     "run_s": seconds, "bare_run_s": bare,
                     "ms_per_record": 1e3 * (seconds - bare) / (records + 1)})  # fmt: skip
    return rows


MEASUREMENTS = {"record_cost": record_cost, "run_overhead": run_overhead}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check that every measurement runs")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--only", nargs="+", choices=sorted(MEASUREMENTS), help="run only these measurements")
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--agents", type=int, default=48)
    ap.add_argument("--tasks", type=int, default=64)
    args = ap.parse_args()
    size = {"records": 20, "agents": 4, "tasks": 5} if args.smoke else {
        "records": args.records, "agents": args.agents, "tasks": args.tasks}  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="dps-bench-archive-") as tmp:
        for name in args.only or MEASUREMENTS:
            rows += MEASUREMENTS[name](Path(tmp), **size)
    if args.json:
        print(json.dumps(rows, default=str))
        return
    print(
        f"archive cost at N = {size['agents']}, K = {size['tasks']}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}"
    )
    for r in rows:
        extra = f"  (run {r['run_s']:.2f} s, without archive {r['bare_run_s']:.2f} s)" if "run_s" in r else ""
        print(f"  {r['measurement']:<13} flush_every={r['flush_every']!s:<4} {r['ms_per_record']:8.3f} ms/record "
              f"over {r['records']} records{extra}")  # fmt: skip


if __name__ == "__main__":
    main()
