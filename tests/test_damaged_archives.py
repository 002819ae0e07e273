"""Damaged archives: every `dps inspect`, `dps inspect --verify` and `dps resume` on the seeded
corpus of tests/damaged_corpus.py ends within seconds with exit 0 (intact, or a harmless flipped
bit) or one line naming the file and what is wrong; never a hang, a traceback or exit 70."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).parent
PER_COMMAND_SECONDS = 5.0  # "within seconds"; typical answers take a few milliseconds

RUNNER = textwrap.dedent("""
    import contextlib, io, json, sys, time
    from pathlib import Path
    from dps_core.cli import main

    out = Path(sys.argv[1])
    results = []
    for entry in json.loads((out / "manifest.json").read_text()):
        path = str(out / entry["file"])
        for command, argv in (("inspect", ["inspect", path]), ("verify", ["inspect", "--verify", path]),
                              ("resume", ["resume", "--no-progress", path])):
            err = io.StringIO()
            t = time.perf_counter()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
            results.append({**entry, "command": command, "code": code, "stderr": err.getvalue(),
                            "seconds": time.perf_counter() - t})
            print(entry["file"], command, code, file=sys.__stderr__, flush=True)
    (out / "results.json").write_text(json.dumps(results))
""")


@pytest.fixture(scope="module")
def corpus_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    gen = subprocess.run(
        [sys.executable, str(HERE / "damaged_corpus.py"), str(out), "--seed", "0"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert gen.returncode == 0, gen.stderr.decode()[-2000:]
    # one child process for the whole corpus: a hang or a crash inside HDF5 fails the test
    # (timeout / signal) instead of hanging pytest
    run = subprocess.run([sys.executable, "-c", RUNNER, str(out)], capture_output=True, env=env, timeout=80, cwd=out)
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_corpus_has_at_least_ten_files_per_category(corpus_results):
    files: dict[str, set] = {}
    for r in corpus_results:
        files.setdefault(r["category"], set()).add(r["file"])
    for category in ("truncate", "meta-flip", "data-flip", "attribute", "group", "count"):
        assert len(files.get(category, ())) >= 10, category
    assert len(files["intact"]) == 2


@pytest.mark.slow
def test_every_answer_is_quick_and_one_clear_line(corpus_results):
    bad = []
    for r in corpus_results:
        where = f"{r['file']} ({r['detail']}) {r['command']}: exit {r['code']}, {r['stderr']!r}"
        if r["seconds"] > PER_COMMAND_SECONDS:
            bad.append(f"{where} took {r['seconds']:.1f} s")
        if r["code"] == 0:
            if r[r["command"]] == "error":
                bad.append(f"{where}: accepted a damaged file")
            continue
        if r[r["command"]] == "ok":
            bad.append(f"{where}: refused an intact file")
        lines = r["stderr"].strip().splitlines()
        if r["code"] == 70 or len(lines) != 1 or not lines[0].startswith("dps: error:"):
            bad.append(f"{where}: not one clear error line")
        elif r["file"] not in lines[0]:
            bad.append(f"{where}: the line does not name the file")
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_damaged_data_is_detected_never_resumed(corpus_results):
    for r in corpus_results:
        if r["category"] in ("data-flip", "truncate", "count") and r["command"] in ("verify", "resume"):
            assert r["code"] != 0, (r["file"], r["detail"], r["command"])
