"""Roofline capabilities in closed form, memory capacity, equal-cost clusters against an LP,
store versus recompute against its closed-form crossover, and `dps aicompute redesign`."""

import json
import re

import attrs
import numpy as np
import pytest
from dps_aicompute import CATALOGUE, PHASES, capabilities, load_devices, roofline
from dps_aicompute.cluster import ClusterParams, best_homogeneous, cluster_problem, optimal_mix
from dps_aicompute.storage import StoreParams, crossover_reuse, item_grid, recompute_cost, store_cost
from dps_aicompute.workload import phase_times, phase_work

from dps_core import ConfigError, Simulation
from dps_core.cli import main


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_roofline_in_closed_form(name):
    """Below the ridge point peak/bandwidth a kernel is memory-bound (bandwidth x intensity),
    above it compute-bound (peak)."""
    dev = CATALOGUE[name]
    peak, bw = dev.peak_bf16_tflops * 1e12, dev.memory_bandwidth_gbs * 1e9
    assert dev.ridge == pytest.approx(peak / bw)
    assert roofline(dev, dev.ridge / 4) == pytest.approx(bw * dev.ridge / 4)
    assert roofline(dev, dev.ridge * 4) == pytest.approx(peak)
    # a workload phase: decode at batch 128 in BF16 has intensity 2 B / b = 128 FLOP/byte
    wl = attrs.evolve(ClusterParams().workload(), batch=128)
    W, Q = phase_work(wl)
    k = PHASES.index("decode")
    assert W[k] / Q[k] == pytest.approx(128.0)
    single = attrs.evolve(dev, domain=1, memory_gb=10_000.0)  # no all-reduce, everything fits
    t = phase_times(wl, single)
    assert t[k] == pytest.approx(W[k] / min(peak, bw * 128.0))


def test_h100_numbers_by_hand():
    # H100 SXM: 989.4 TFLOP/s, 3.35 TB/s -> ridge 295.3 FLOP/byte; decode of a 70B model at
    # batch 128: W = 2 * 70e9 * 1024 FLOP per request, memory-bound at 3.35e12 * 128 FLOP/s
    dev = attrs.evolve(CATALOGUE["H100-SXM"], domain=1, memory_gb=10_000.0)
    assert dev.ridge == pytest.approx(295.34, rel=1e-3)
    wl = attrs.evolve(ClusterParams().workload(), batch=128, dense_params=70.0, output=1024)
    t = phase_times(wl, dev)[PHASES.index("decode")]
    assert t == pytest.approx(2 * 70e9 * 1024 / (3.35e12 * 128), rel=1e-12)


def test_memory_capacity_bounds_what_fits():
    wl = ClusterParams().workload()  # 70B in BF16 (140 GB) + 128 requests of KV cache (~103 GB)
    need = wl.weight_bytes() + wl.batch * wl.kv_bytes_per_request()
    assert 8 * 24e9 < need < 8 * 48e9
    C_l4, C_l40s = capabilities(wl, CATALOGUE["L4"]), capabilities(wl, CATALOGUE["L40S"])
    assert C_l4[PHASES.index("decode")] == 0 and C_l4[PHASES.index("prefill")] == 0
    assert C_l40s[PHASES.index("decode")] > 0
    assert C_l4[PHASES.index("retrieval")] > 0  # the 30 GB index fits


def test_lp_optimum_and_best_homogeneous():
    prm = ClusterParams()
    devs, C, d, prices = cluster_problem(prm)
    X, h = optimal_mix(C, d, prices, prm.budget)
    assert prices @ h.sum(axis=1) <= prm.budget * (1 + 1e-9)
    assert np.all((C * h).sum(axis=0)[d > 0] >= X * d[d > 0] * (1 - 1e-9))  # every phase covered
    for i in range(len(devs)):  # one type alone: X_i = B / (p_i sum_k d_k / C_ik)
        Xi, _hi = optimal_mix(C[i : i + 1], d, prices[i : i + 1], prm.budget)
        assert Xi == pytest.approx(prm.budget / (prices[i] * (d / C[i])[d > 0].sum()), rel=1e-6)
    _, Xh = best_homogeneous(C, d, prices, prm.budget)
    assert X > 1.03 * Xh


def test_law_1_heterogeneous_cluster():
    """From a homogeneous start (equal spend on every device type, every device splitting its
    time equally over the phases) the dps dynamics specialise the device types by phase: the Hill
    number rises while throughput rises, and the result beats the best homogeneous cluster at the
    same cost. The global optimum (LP) is higher still: the gradient dynamics are a local optimiser."""
    sim = Simulation.from_config({"scenario": {"name": "cluster"}})
    sim.run()
    h = sim.history
    assert h["hill_q1"][0] == pytest.approx(1.0, abs=0.01) and h["hill_q1"][-1] > 1.4
    assert h["throughput"][-1] > 2.5 * h["throughput"][0]
    prm = ClusterParams()
    _, Cc, dc, prices = cluster_problem(attrs.evolve(prm, disaggregated=False))
    _, X_homog = best_homogeneous(Cc, dc, prices, prm.budget)
    X_opt, _ = optimal_mix(*cluster_problem(prm)[1:], prm.budget)
    assert X_homog < h["throughput"][-1] < X_opt
    assert h["throughput"][-1] > 0.9 * X_opt
    spend = sim.model.costs @ sim.state.w
    assert spend == pytest.approx(prm.budget, rel=1e-9)  # equal cost throughout


def test_store_versus_recompute_crossover():
    """Keeping wins above r*(D) = 3600 b / (capacity (D c0/peak - b/bandwidth)); the optimised
    split of the dps simulation puts clear cases on the cheaper side."""
    p = StoreParams()
    dev = CATALOGUE[p.device]
    r, depth = item_grid(p)
    rstar = crossover_reuse(depth, p.item_bytes, p.flops_per_level, dev)
    keep_cheaper = store_cost(r, p.item_bytes, dev) < recompute_cost(r, depth, p.flops_per_level, dev)
    assert np.array_equal(keep_cheaper, r > rstar)  # the closed form is the crossover
    rs = crossover_reuse(np.array(p.depth), p.item_bytes, p.flops_per_level, dev)
    assert np.all(np.diff(rs) < 0)  # deeper: keep at lower reuse
    # deriving faster than reading: never keep
    assert np.isinf(crossover_reuse(np.array([1e-9]), p.item_bytes, p.flops_per_level, dev))[0]
    sim = Simulation.from_config({"scenario": {"name": "store_recompute"}})
    sim.run()
    Y = sim.context().Y
    kept = Y[0] / Y.sum(axis=0)
    ratio = store_cost(r, p.item_bytes, dev) / recompute_cost(r, depth, p.flops_per_level, dev)
    clear = ((ratio < 1 / 3) | (ratio > 3)) & (r >= 1)
    assert np.all((kept[clear] > 0.5) == keep_cheaper[clear])
    assert ((kept > 0.5) == keep_cheaper).mean() > 0.9
    assert sim.history["efficacy"][-1] > 0.99  # demand met within the cheapest budget


def test_catalogue_extension_and_bad_input(tmp_path):
    f = tmp_path / "dev.toml"
    f.write_text(
        "[devices.MYCHIP]\npeak_bf16_tflops = 500.0\nmemory_bandwidth_gbs = 2000.0\nmemory_gb = 96.0\n"
        'interconnect_gbs = 400.0\nnetwork_gbs = 50.0\ndomain = 8\nprice_per_hour = 2.5\nsource = "mine"\n'
        "[devices.L4]\nprice_per_hour = 0.5\n"
    )
    devices = load_devices(f, {"H100-SXM": 3.0})
    assert devices["MYCHIP"].ridge == pytest.approx(250.0)
    assert devices["L4"].price_per_hour == 0.5 and devices["L4"].memory_gb == 24.0
    assert devices["H100-SXM"].price_per_hour == 3.0
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[devices.X]\npeak_bf16_tflops = -1.0\nmemory_bandwidth_gbs = 1.0\nmemory_gb = 1.0\n"
        "interconnect_gbs = 1.0\nnetwork_gbs = 1.0\ndomain = 1\nprice_per_hour = 1.0\n"
    )
    with pytest.raises(ConfigError, match="device 'X': peak_bf16_tflops must be positive"):
        load_devices(bad)
    with pytest.raises(ConfigError, match="names unknown device\\(s\\) \\['H300'\\]"):
        Simulation.from_config({"scenario": {"name": "cluster", "devices": ["H300"]}})
    with pytest.raises(ConfigError, match="'scenario.prices' names unknown device 'Z'"):
        Simulation.from_config({"scenario": {"name": "cluster", "prices": {"Z": 1.0}}})
    with pytest.raises(ConfigError, match="active_experts must be between 1 and experts"):
        Simulation.from_config({"scenario": {"name": "cluster", "experts": 8, "active_experts": 9}})


def test_redesign_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scenario]\nname = "cluster"\n[run]\nsteps = 3000\n')
    assert main(["aicompute", "redesign", str(cfg), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["gain_over_homogeneous"] > 1.03 and rec["disaggregated"]
    # whole devices within the budget, never above the fractional (LP) bound
    assert all(isinstance(m["devices"], int) and m["devices"] > 0 for m in rec["mix"])
    assert rec["spent"] == pytest.approx(sum(m["dollars_per_hour"] for m in rec["mix"])) and rec["spent"] <= 1000.0
    assert rec["throughput"] <= rec["fractional_optimum"] * (1 + 1e-9)
    assert rec["homogeneous"]["devices"] == int(rec["homogeneous"]["devices"])
    assert (tmp_path / rec["archive"]).exists()
    assert main(["aicompute", "redesign", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "best homogeneous cluster" in out and "requests/hour" in out
    assert not re.search(r"^\S+\s+\d+\.\d", out.split("phases (share of busy time)")[1], re.M)  # no "95.3 H100"
    other = tmp_path / "g.toml"
    other.write_text('[scenario]\nname = "generic"\n[run]\nsteps = 5\n')
    assert main(["aicompute", "redesign", str(other)]) == 2
    assert 'needs a config with [scenario] name = "cluster"' in capsys.readouterr().err


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_harness():
    from dps_core.testing import check_plugin

    checks = check_plugin("aicompute")
    assert checks and all(c.status == "pass" for c in checks), [str(c) for c in checks if c.status != "pass"]


def test_whole_devices_by_hand():
    """One phase, type A: 10 requests/hour for $4, type B: 3 for $1, $9.5: fractional devices give
    9.5 x 3 = 28.5 (all B); whole devices: 9 B (27) beats 1 A + 5 B (25) and 2 A + 1 B (23)."""
    from dps_aicompute.cluster import best_whole_homogeneous, optimal_mix, whole_mix

    C, d, prices = np.array([[10.0], [3.0]]), np.array([1.0]), np.array([4.0, 1.0])
    assert optimal_mix(C, d, prices, 9.5)[0] == pytest.approx(28.5)
    X, m, h = whole_mix(C, d, prices, 9.5)
    assert X == pytest.approx(27.0) and m.tolist() == [0, 9]
    assert np.all(h.sum(axis=1) <= m + 1e-9)  # no device works more than its hour
    assert best_whole_homogeneous(C, d, prices, 9.5) == (1, 9, pytest.approx(27.0))
