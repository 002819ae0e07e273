"""Kill runs with SIGKILL at random moments and report what the archives look like afterwards.

    python tests/kill_stress.py OUT_DIR [--runs 150] [--seed 1]

Each run records and flushes every step, so a kill often lands in a flush. For every archive
left at its final path this counts those where HDF5 alone refuses a counted row (a chunk torn by
the kill), checks that dps reads and verifies every archive, and that the rows it reads from a
torn one equal those of an uninterrupted run. Exit status 1 if any archive was refused or wrong.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

CONFIG = {
    "run": {"steps": 100000, "record_every": 1, "checkpoint_every": 50, "seed": 11},
    "scenario": {"agents": 8, "tasks": 10, "peaks": 2},
    "mode": {"name": "gradient", "eta": 0.3, "noise": 0.05},
    "archive": {"flush_every": 1, "compression": "none"},
}
CHILD = """
import sys
from dps_core import Simulation
sim = Simulation.from_config({config!r}, entry_points=False)
print("started", flush=True)
sim.run(sys.argv[1])
"""


def torn_series(path: Path) -> list[str]:
    """Series whose counted rows HDF5 alone refuses to read."""
    with h5py.File(path, "r", swmr=True) as f:
        n = int(f["run/records"][()])
        out = []
        for name, ds in f["timeseries"].items():
            if ds.maxshape and ds.maxshape[0] is None:
                try:
                    ds[:n]
                except OSError:
                    out.append(name)
        return out


def same_as_uninterrupted(path: Path, series: dict[str, np.ndarray]) -> bool:
    from dps_core import Simulation, open_archive

    config = {**CONFIG, "run": {**CONFIG["run"], "steps": int(series["step"][-1])}}
    reference = path.with_suffix(".reference.h5")
    Simulation.from_config(config, entry_points=False).run(reference, overwrite=True)
    with open_archive(reference) as ar:
        want = ar.timeseries()
    reference.unlink()
    return all(np.array_equal(v, want[k][: len(v)], equal_nan=True) for k, v in series.items())


def main(argv=None) -> int:
    from dps_core import DPSError, open_archive

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    counts = {"runs": args.runs, "published": 0, "torn": 0, "refused": 0, "wrong": 0}
    for i in range(args.runs):
        path = args.out / f"run{i}.h5"
        path.unlink(missing_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD.format(config=CONFIG), str(path)], stdout=subprocess.PIPE, env=env
        )
        child.stdout.readline()  # imports done: the kill lands in the run
        time.sleep(rng.uniform(0.2, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        if not path.exists():
            continue
        counts["published"] += 1
        torn = torn_series(path)
        try:
            with open_archive(path) as ar:
                series = ar.timeseries()
                ar.verify()
        except DPSError as exc:
            counts["refused"] += 1
            print(f"{path}: refused: {exc}")
            continue
        if torn:
            counts["torn"] += 1
            ok = same_as_uninterrupted(path, series)
            counts["wrong"] += not ok
            print(f"{path}: torn chunk in {', '.join(torn)}; counted rows read and {'equal' if ok else 'NOT equal'}")
        else:
            path.unlink()
    print(counts)
    return 1 if counts["refused"] or counts["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
