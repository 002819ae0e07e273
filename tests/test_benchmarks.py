"""Every benchmark script runs in its smoke mode (tiny sizes): CI checks that the scripts work and
that their comparators still agree with dps, never their timings (docs/performance.md has those)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

SMOKE = {
    # script: (arguments, fragments of its output that show each measurement ran)
    "bench_kernel.py": (["--smoke"], ["in-place NumPy", "idiomatic NumPy", "dps compiled", "bytes bound"]),
    "bench_end_to_end.py": (["--smoke"], ["run+archive"]),
    "bench_memory.py": (["--n", "2e4", "--steps", "1"], ["peak while stepping", "the memory check estimates"]),
    "bench_archive.py": (["--smoke"], ["## inspect"]),
    "bench_sweep.py": (["--smoke"], ["local1", "local2", "dask2"]),
    "bench_plugins.py": (["--nodes", "2000"], ["watts_strogatz", "spatial_correlation"]),
    "bench_threads.py": (["--parts", "big,lv", "--reps", "1", "--variants", "policy"], ["speed-up", "policy"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_script_runs_in_smoke_mode(script, tmp_path):
    args, fragments = SMOKE[script]
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for fragment in fragments:
        assert fragment in proc.stdout, (fragment, proc.stdout[-2000:])
    # an implementation that disagrees with dps is reported and left out of the timings
    assert "not timed" not in proc.stdout, proc.stdout[-2000:]


def test_every_benchmark_script_has_a_smoke_run():
    assert {p.name for p in BENCH.glob("bench_*.py")} == set(SMOKE)
