"""Generate a seeded corpus of damaged dps archives (at least 12 per category) with a manifest.

    python tests/damaged_corpus.py OUT_DIR [--seed 0] [--per-category 12]

Two intact bases are written first: a finished run and a run killed with SIGKILL mid-way (its
file still marked as open by a SWMR writer). Every damaged file is a copy of one base with one
kind of damage:

- truncate: cut at a byte count (0, a few bytes, inside the superblock, 25-99 %, one byte short)
- meta-flip: one bit flipped in HDF5 metadata (any byte outside dataset storage)
- data-flip: one bit flipped in stored data that carries a checksum (fletcher32 chunks, the
  latest checkpoint slot)
- attribute: a root attribute removed or given a wrong type or value
- group: a group or dataset the layout needs removed
- count: a checkpoint counter, `latest`, a durable count (`run/records`, `run/snapshots`) or a
  series length made inconsistent

`manifest.json` lists every file with its category, what was done, and what `inspect`,
`inspect --verify` and `resume` must answer: "error" (one clear line, non-zero exit) or
"any" (a flipped metadata bit may land in unused bytes; then the file is still fine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np

CONFIG = {
    "run": {"steps": 60, "record_every": 5, "checkpoint_every": 10, "snapshot_every": 20, "seed": 3},
    "scenario": {"agents": 8, "tasks": 10},
    "archive": {"snapshots": ["S", "w"]},
}
KILL_AT = 45

KILLER = textwrap.dedent("""
    import os, signal, sys
    from dps_core import Simulation, hookimpl

    class Killer:
        dps_plugin_name = "corpus_killer"

        @hookimpl
        def dps_record(self, simulation, step, metrics):
            if step == {kill_at}:
                os.kill(os.getpid(), signal.SIGKILL)

    Simulation.from_config({config!r}, plugins=[Killer()]).run(sys.argv[1])
""")

CATEGORIES = ("truncate", "meta-flip", "data-flip", "attribute", "group", "count")


def make_bases(out: Path) -> dict[str, Path]:
    """A finished and a killed archive of the same small run."""
    from dps_core import Simulation

    finished = out / "base-finished.h5"
    killed = out / "base-killed.h5"
    for p in (finished, killed):
        if p.exists():
            p.unlink()
    Simulation.from_config(CONFIG).run(finished)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", KILLER.format(config=CONFIG, kill_at=KILL_AT), str(killed)],
        capture_output=True,
        cwd=out,
        env=env,
        timeout=120,
    )
    if proc.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the killed base run ended with {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return {"finished": finished, "killed": killed}


def extents(path: Path) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
    """(protected, all) storage extents (offset, size, dataset) of every dataset; protected ones
    carry a checksum (chunked with fletcher32, or in the latest checkpoint slot). In a killed
    run's file, the chunk holding a series' last counted rows may have been torn by the kill
    (readers prove those rows against the checksum): only its counted rows and its checksum are
    protected, the bytes past them are not data."""
    protected, every = [], []
    with h5py.File(path, "r", swmr=True) as f:
        latest = int(f["checkpoint/latest"][()])
        killed = f["run/status"][()].strip() == b"running"
        counted = {"timeseries": int(f["run/records"][()]), "snapshots": int(f["run/snapshots"][()])}

        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            dcpl = obj.id.get_create_plist()
            if obj.chunks is not None:
                n = counted.get(name.split("/")[0], 0)
                row = obj.dtype.itemsize * int(np.prod(obj.shape[1:], dtype=np.int64))
                for i in range(obj.id.get_num_chunks()):
                    info = obj.id.get_chunk_info(i)
                    every.append((info.byte_offset, info.size, name))
                    if not obj.fletcher32:
                        continue
                    first = info.chunk_offset[0]
                    if killed and first < n < first + obj.chunks[0] and obj.compression is None:
                        protected.append((info.byte_offset, (n - first) * row, name))
                        protected.append((info.byte_offset + info.size - 4, 4, name))
                    else:
                        protected.append((info.byte_offset, info.size, name))
            elif dcpl.get_layout() == h5py.h5d.CONTIGUOUS and obj.id.get_offset() is not None:
                ext = (obj.id.get_offset(), obj.id.get_storage_size(), name)
                every.append(ext)
                if name.startswith(f"checkpoint/slot{latest}/") and not name.endswith("sha256"):
                    protected.append(ext)

        f.visititems(visit)
    return protected, every


def flip(src: Path, dst: Path, offset: int, bit: int) -> None:
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([b ^ (1 << bit)]))


def _edit(src: Path, dst: Path, fn) -> None:
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        fn(f)


ATTRIBUTE_EDITS = [
    ("dps_schema = 'abc'", lambda f: f.attrs.__setitem__("dps_schema", "abc")),
    ("dps_schema = ''", lambda f: f.attrs.__setitem__("dps_schema", "")),
    ("dps_schema = 1 (an integer)", lambda f: f.attrs.__setitem__("dps_schema", 1)),
    ("dps_schema = '9.0.0'", lambda f: f.attrs.__setitem__("dps_schema", "9.0.0")),
    ("dps_schema removed", lambda f: f.attrs.__delitem__("dps_schema")),
    ("config removed", lambda f: f.attrs.__delitem__("config")),
    ("config = 'not json {'", lambda f: f.attrs.__setitem__("config", "not json {")),
    ("config = '[1, 2]'", lambda f: f.attrs.__setitem__("config", "[1, 2]")),
    ("config with an unknown key", lambda f: f.attrs.__setitem__("config", json.dumps({"run": {"stepz": 3}}))),
    ("n_agents = 'eight'", lambda f: f.attrs.__setitem__("n_agents", "eight")),
    ("n_tasks = -1", lambda f: f.attrs.__setitem__("n_tasks", -1)),
    ("seed_entropy = 'abc'", lambda f: f.attrs.__setitem__("seed_entropy", "abc")),
    ("run_id removed", lambda f: f.attrs.__delitem__("run_id")),
    ("plugins = 'not json'", lambda f: f.attrs.__setitem__("plugins", "not json")),
]


def _latest(f) -> int:
    return int(f["checkpoint/latest"][()])


GROUP_EDITS = [
    ("/timeseries removed", lambda f: f.__delitem__("timeseries")),
    ("/checkpoint removed", lambda f: f.__delitem__("checkpoint")),
    ("/run removed", lambda f: f.__delitem__("run")),
    ("/snapshots removed", lambda f: f.__delitem__("snapshots")),
    ("latest checkpoint slot removed", lambda f: f.__delitem__(f"checkpoint/slot{_latest(f)}")),
    ("latest slot's arrays removed", lambda f: f.__delitem__(f"checkpoint/slot{_latest(f)}/arrays")),
    ("latest slot's w removed", lambda f: f.__delitem__(f"checkpoint/slot{_latest(f)}/arrays/w")),
    ("latest slot's rng removed", lambda f: f.__delitem__(f"checkpoint/slot{_latest(f)}/rng")),
    ("/run/status removed", lambda f: f.__delitem__("run/status")),
    ("/run/pid removed", lambda f: f.__delitem__("run/pid")),
    ("/timeseries/step removed", lambda f: f.__delitem__("timeseries/step")),
    ("/checkpoint/latest removed", lambda f: f.__delitem__("checkpoint/latest")),
]


def _set(name: str, value):
    def fn(f):
        ds = f[name.replace("LATEST", str(_latest(f)))]
        ds[()] = value

    return fn


def _recreate(name: str, data):
    def fn(f):
        full = name.replace("LATEST", str(_latest(f)))
        del f[full]
        f.create_dataset(full, data=data)

    return fn


def _shorten(name: str, by: int):
    def fn(f):
        ds = f[name]
        ds.resize(ds.shape[0] - by, axis=0)

    return fn


COUNT_EDITS = [
    ("checkpoint records = -5", _set("checkpoint/slotLATEST/records", -5)),
    ("checkpoint records = 1000000", _set("checkpoint/slotLATEST/records", 1_000_000)),
    ("checkpoint snapshots = -1", _set("checkpoint/slotLATEST/snapshots", -1)),
    ("checkpoint snapshots = 99", _set("checkpoint/slotLATEST/snapshots", 99)),
    ("checkpoint step = -2", _set("checkpoint/slotLATEST/step", -2)),
    (
        "checkpoint step changed (+1)",
        lambda f: _set("checkpoint/slotLATEST/step", int(f[f"checkpoint/slot{_latest(f)}/step"][()]) + 1)(f),
    ),
    ("checkpoint latest = 7", _set("checkpoint/latest", 7)),
    ("checkpoint latest = -3", _set("checkpoint/latest", -3)),
    ("checkpoint rng of 5 words", _recreate("checkpoint/slotLATEST/rng", np.arange(5, dtype=np.uint64))),
    ("checkpoint w of another length", _recreate("checkpoint/slotLATEST/arrays/w", np.ones(3))),
    ("time series 'efficacy' 3 rows short", _shorten("timeseries/efficacy", 3)),
    ("run status not UTF-8", _set("run/status", np.bytes_(b"\xff\xfe running".ljust(32)))),
    ("durable records = -5", _set("run/records", -5)),
    ("durable records beyond the series (1000000)", _set("run/records", 1_000_000)),
    ("durable snapshots = 99", _set("run/snapshots", 99)),
    ("durable records count removed", lambda f: f.__delitem__("run/records")),
]


# plain `inspect` reads the stored config as JSON and the checkpoint's counters only, so these
# pass it; `inspect --verify` (digests) and `resume` (which builds the run) must refuse them
PLAIN_INSPECT_MAY_PASS = {
    "config with an unknown key",
    "checkpoint step changed (+1)",
    "checkpoint w of another length",
}


def generate(out: Path, seed: int = 0, per_category: int = 12) -> list[dict]:
    """Write the bases and the damaged files into `out`; return (and write) the manifest."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bases = make_bases(out)
    entries: list[dict] = [
        {"file": p.name, "category": "intact", "detail": f"{k} run", "inspect": "ok", "verify": "ok", "resume": "ok"}
        for k, p in bases.items()
    ]

    def add(name, category, detail, inspect="error", verify="error", resume="error"):
        entries.append(
            {
                "file": name,
                "category": category,
                "detail": detail,
                "inspect": inspect,
                "verify": verify,
                "resume": resume,
            }
        )

    base_list = list(bases.items())
    # truncations: fixed points plus seeded fractions
    for i in range(per_category):
        kind, base = base_list[i % 2]
        size = base.stat().st_size
        fixed = [0, 1, 7, 40, 352, size - 1]
        cut = fixed[i] if i < len(fixed) else int(size * rng.uniform(0.25, 0.999))
        name = f"truncate-{i:02d}-{kind}.h5"
        with open(base, "rb") as src, open(out / name, "wb") as dst:
            dst.write(src.read(cut))
        add(name, "truncate", f"{kind} base cut to {cut} of {size} bytes")

    for kind, base in base_list:
        protected, every = extents(base)
        size = base.stat().st_size
        data_bytes = np.zeros(size, dtype=bool)
        for off, n, _ in every:
            data_bytes[off : off + n] = True
        meta_offsets = np.flatnonzero(~data_bytes)
        n_here = per_category // 2 + (per_category % 2 if kind == "finished" else 0)
        for j in range(n_here):
            off = int(rng.choice(meta_offsets))
            bit = int(rng.integers(8))
            name = f"meta-flip-{kind}-{j:02d}.h5"
            flip(base, out / name, off, bit)
            add(name, "meta-flip", f"{kind} base, bit {bit} of byte {off} flipped", "any", "any", "any")
        for j in range(n_here):
            off0, n, ds = protected[int(rng.integers(len(protected)))]
            off = off0 + int(rng.integers(n))
            bit = int(rng.integers(8))
            name = f"data-flip-{kind}-{j:02d}.h5"
            flip(base, out / name, off, bit)
            add(name, "data-flip", f"{kind} base, bit {bit} of byte {off} in /{ds} flipped", inspect="any")

    finished = bases["finished"]
    for category, edits in (("attribute", ATTRIBUTE_EDITS), ("group", GROUP_EDITS), ("count", COUNT_EDITS)):
        for j, (detail, fn) in enumerate(edits):
            name = f"{category}-{j:02d}.h5"
            _edit(finished, out / name, fn)
            add(name, category, detail, inspect="any" if detail in PLAIN_INSPECT_MAY_PASS else "error")
    (out / "manifest.json").write_text(json.dumps(entries, indent=1))
    return entries


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-category", type=int, default=12)
    args = ap.parse_args(argv)
    entries = generate(args.out, args.seed, args.per_category)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["category"]] = counts.get(e["category"], 0) + 1
    print(f"{len(entries)} files in {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
