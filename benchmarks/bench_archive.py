"""Archive benchmark: file size and write throughput against run length (SWMR on and off), a
1e5-agent snapshot run, and how long `dps inspect` takes on a large archive.

- `growth`: a small system (8 agents, 10 tasks, every step recorded, a snapshot of S and w every
  10 steps) run for several lengths, with `archive.swmr` on and off. "data" is the bytes the
  appended datasets hold (time series and snapshots, uncompressed); the claim checked is that the
  file is at most 2 x data + a constant, i.e. that its growth per record is linear. The constant
  is the file of a run with one record (layout, topology, checkpoint slots, first chunks).
- `snapshots`: 1e5 agents x 16 tasks, a snapshot of S and w every step (gzip), for throughput in
  MB/s of snapshot data and the size ratio.
- `inspect`: builds an uncompressed archive of about `--inspect-gb` GB (1e5 x 64 snapshots of S)
  and times plain `dps inspect` (metadata and last values only) and `dps inspect --verify`.

Set OMP_NUM_THREADS=1 on a shared machine (an OpenMP kernel spinning on busy cores distorts the
step time, not the archive's). Usage:
    python benchmarks/bench_archive.py [--lengths 500,2000,8000] [--skip-inspect] [--inspect-gb 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import h5py

from dps_core import Simulation
from dps_core.cli import main as dps_main


def appended_bytes(path: Path) -> int:
    """Uncompressed bytes of the appended datasets (time series and snapshots)."""
    total = 0
    with h5py.File(path, "r") as f:
        for group in ("timeseries", "snapshots"):
            for ds in f[group].values():
                if isinstance(ds, h5py.Dataset) and ds.maxshape and ds.maxshape[0] is None:
                    total += ds.size * ds.dtype.itemsize
    return total


def growth_run(path: Path, steps: int, swmr: bool) -> dict:
    cfg = {
        "run": {"steps": steps, "record_every": 1, "snapshot_every": 10, "checkpoint_every": 1000, "seed": 1},
        "scenario": {"agents": 8, "tasks": 10},
        "archive": {"swmr": swmr, "snapshots": ["S", "w"]},
    }
    sim = Simulation.from_config(cfg)
    t = time.perf_counter()
    sim.run(path, overwrite=True)
    seconds = time.perf_counter() - t
    size, data = path.stat().st_size, appended_bytes(path)
    return {"steps": steps, "swmr": swmr, "size": size, "data": data, "seconds": seconds}


def bench_growth(lengths: list[int], folder: Path) -> None:
    print("## size and throughput against run length (8 agents x 10 tasks, every step recorded)")
    print("| swmr | records | file MB | data MB | file / data | (file - const) / data | records/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for swmr in (True, False):
        base = growth_run(folder / "base.h5", 0, swmr)
        for steps in lengths:
            r = growth_run(folder / "g.h5", steps, swmr)
            extra = (r["size"] - base["size"]) / max(1, r["data"] - base["data"])
            print(
                f"| {'on' if swmr else 'off'} | {steps + 1} | {r['size'] / 1e6:.3f} | {r['data'] / 1e6:.3f} | "
                f"{r['size'] / r['data']:.2f} | {extra:.2f} | {(steps + 1) / r['seconds']:.0f} |"
            )
        print(f"constant (a run with one record, SWMR {'on' if swmr else 'off'}): {base['size'] / 1e6:.3f} MB")


def bench_snapshots(folder: Path, n: int = 100_000, k: int = 16, steps: int = 10) -> None:
    print(f"\n## snapshot run: {n} agents x {k} tasks, S and w every step, gzip")
    cfg = {
        "run": {"steps": steps, "record_every": 1, "snapshot_every": 1, "checkpoint_every": 5, "seed": 1},
        "scenario": {"agents": n, "tasks": k},
        "archive": {"snapshots": ["S", "w"]},
        "topology": {"name": "ring", "k": 4},
        "mixing": {"name": "shared", "gamma": 0.5},
    }
    sim = Simulation.from_config(cfg)
    path = folder / "snap.h5"
    t0 = time.perf_counter()
    sim.step(steps)
    kernel = time.perf_counter() - t0
    sim = Simulation.from_config(cfg)
    t = time.perf_counter()
    sim.run(path, overwrite=True)
    seconds = time.perf_counter() - t
    data = appended_bytes(path)
    size = path.stat().st_size
    print(
        f"{steps + 1} snapshots: file {size / 1e6:.1f} MB for {data / 1e6:.1f} MB of data (ratio {size / data:.2f}); "
        f"run {seconds:.1f} s of which stepping alone {kernel:.1f} s; "
        f"archive writing {data / 1e6 / max(1e-9, seconds - kernel):.0f} MB/s of snapshot data"
    )


def _timed_cli(argv: list[str]) -> float:
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = dps_main(argv)
    assert code == 0, argv
    return time.perf_counter() - t


def bench_inspect(folder: Path, gb: float) -> None:
    n, k = 100_000, 64
    per = n * k * 8
    snaps = max(2, round(gb * 1e9 / per))
    print(f"\n## dps inspect on a {snaps * per / 1e9:.2f} GB archive ({snaps} uncompressed snapshots of S, {n} x {k})")
    cfg = {
        "run": {"steps": snaps - 1, "record_every": 1, "snapshot_every": 1, "checkpoint_every": 1000, "seed": 1},
        "scenario": {"agents": n, "tasks": k},
        "archive": {"snapshots": ["S"], "compression": "none"},
        "topology": {"name": "ring", "k": 4},
        "mixing": {"name": "shared", "gamma": 0.5},
    }
    path = folder / "big.h5"
    Simulation.from_config(cfg).run(path, overwrite=True)
    size = path.stat().st_size
    _timed_cli(["inspect", str(path)])  # warm the imports and the plugin registry
    plain = min(_timed_cli(["inspect", str(path)]) for _ in range(3))
    verify = _timed_cli(["inspect", "--verify", str(path)])
    print(f"file {size / 1e9:.2f} GB: plain inspect {plain:.3f} s, inspect --verify {verify:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="500,2000,8000", help="run lengths in steps (records = steps + 1)")
    ap.add_argument("--skip-snapshots", action="store_true")
    ap.add_argument("--skip-inspect", action="store_true")
    ap.add_argument("--inspect-gb", type=float, default=1.0)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    print(
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, h5py {h5py.version.version}, HDF5 {h5py.version.hdf5_version}"
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        bench_growth([int(x) for x in args.lengths.split(",")], folder)
        if not args.skip_snapshots:
            bench_snapshots(folder)
        if not args.skip_inspect:
            bench_inspect(folder, args.inspect_gb)


if __name__ == "__main__":
    main()
