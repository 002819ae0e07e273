"""The thread policy: cgroup quotas and affinity cap the threads, small steps stay single-threaded,
explicit requests are honoured within the cap, and OpenMP is told not to spin."""

import os
import subprocess
import sys

import pytest

from dps_core import threads


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_is_the_smallest_along_the_ancestors(tmp_path):
    _write(tmp_path / "cpu.max", "max 100000\n")
    _write(tmp_path / "a" / "cpu.max", "300000 100000\n")  # 3 cores
    _write(tmp_path / "a" / "b" / "cpu.max", "150000 100000\n")  # 1.5 cores
    assert threads.cgroup_cpu_limit(tmp_path, "0::/a/b\n") == 1.5
    assert threads.cgroup_cpu_limit(tmp_path, "0::/a\n") == 3.0
    assert threads.cgroup_cpu_limit(tmp_path, "0::/\n") is None  # 'max': no quota


def test_cgroup_v1_quota_and_no_quota(tmp_path):
    _write(tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us", "50000\n")
    _write(tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_period_us", "100000\n")
    _write(tmp_path / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")  # v1 spells 'no quota' as -1
    _write(tmp_path / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert threads.cgroup_cpu_limit(tmp_path, "4:cpu,cpuacct:/job\n") == 0.5
    assert threads.cgroup_cpu_limit(tmp_path, "4:cpu,cpuacct:/\n") is None
    assert threads.cgroup_cpu_limit(tmp_path / "absent", "0::/\n") is None


def test_usable_cpus_never_exceeds_affinity_or_quota(monkeypatch):
    threads.usable_cpus.cache_clear()
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 1.5)
    try:
        assert threads.usable_cpus() == 2  # ceil(1.5): a fractional quota still runs a second thread part-time
        threads.usable_cpus.cache_clear()
        monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: None)
        assert threads.usable_cpus() == 4
        threads.usable_cpus.cache_clear()
        monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 0.2)
        assert threads.usable_cpus() == 1
    finally:
        threads.usable_cpus.cache_clear()


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = threads._requested
    threads.set_num_threads(None)
    yield
    threads._requested = before


def test_threads_follow_the_size_threshold(four_cores):
    t = threads.THRESHOLD
    assert threads.for_size(48, 64) == 1  # the generic example
    assert threads.for_size(1, t - 1) == 1
    assert threads.for_size(2, t) == 2
    assert threads.for_size(3, t) == 3
    assert threads.for_size(100, t) == 4  # capped by the usable cores


def test_explicit_requests_are_capped_and_restored(four_cores, monkeypatch):
    threads.set_num_threads(3)
    assert threads.for_size(1, 1) == 3  # honoured below the threshold
    threads.set_num_threads(16)
    assert threads.for_size(1, 1) == 4  # never more than the usable cores
    threads.set_num_threads(None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.requested() == 2
    with threads.limit(1):
        assert threads.for_size(10**6, 64) == 1
    assert threads.for_size(10**6, 64) == 2
    with pytest.raises(ValueError, match="positive integer"):
        threads.set_num_threads(0)


def test_openmp_is_told_not_to_spin_unless_the_user_chose():
    code = "import os, dps_core; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"}, capture_output=True, text=True
    )
    assert out.stdout.strip() == "ACTIVE"


def test_openblas_is_told_to_stop_spinning_soon_unless_the_user_chose():
    code = "import os, dps_core, numpy; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "20"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, "OPENBLAS_THREAD_TIMEOUT": "28"}, capture_output=True, text=True
    )
    assert out.stdout.strip() == "28"


@pytest.mark.compiled
def test_a_compiled_step_applies_the_policy(small_config, monkeypatch):
    from dps_core import Simulation, backend, compiled

    if backend() != "compiled":
        pytest.skip("reference kernel in use")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = threads._requested
    try:
        compiled.set_num_threads(None)
        sim = Simulation.from_config(small_config)
        sim.step(1)
        assert compiled.get_num_threads() == 1  # 12 x 16 is far below the threshold
        compiled.set_num_threads(2)
        sim.step(1)
        assert compiled.get_num_threads() == min(2, threads.usable_cpus())
    finally:
        threads._requested = before
