"""dps principle end to end: the quick designs agree with the committed full verdicts and every
negative control fails; experiments that cannot apply to a base config say so; the comparison
with the best homogeneous system; bad input gets one clear line."""

import json
from pathlib import Path

import numpy as np
import pytest
from dps_principle import best_homogeneous, protocol
from dps_principle.experiments import _shuffled_ring_file

from dps_core.cli import main

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[2] / "examples"
# the verdicts of the full runs (`dps principle all`, 8 seeds), reported in docs/principle.md
_FULL = json.loads((HERE / "data" / "full_verdicts.json").read_text())
FULL, FULL_CONTROLS = _FULL["verdicts"], _FULL["controls"]


def _laws(out: Path) -> dict:
    return {r["law"]: r for r in json.loads((out / "principle.json").read_text())["laws"]}


@pytest.mark.slow
def test_quick_designs_agree_with_the_full_verdicts_and_every_control_fails(tmp_path):
    out = tmp_path / "p"
    assert main(["principle", "all", "--quick", "-o", str(out), "--no-progress"]) == 0
    laws = _laws(out)
    assert set(laws) == set(protocol.LAWS)
    for law, r in laws.items():
        assert r["applies"]
        # quick and full agree on every verdict, the controls' included, and every control fails
        assert r["verdict"] == FULL[law], (law, r["why"], FULL[law])
        assert r["control"]["verdict"] == FULL_CONTROLS[law] == "fails", (law, r["control"]["why"])
        assert (out / f"{law}.png").stat().st_size > 10_000
    # amendment 3's prediction: without trade the demand's turning alone gives law 3's statistic
    diagnostics = {d["statistic"]: d["verdict"] for d in laws["law3"]["diagnostic"]["statistics"]}
    assert diagnostics["scale (no trade)"] == "holds"
    table = (out / "principle.md").read_text()
    assert table.count("| control |") == sum(len(r["control"]["statistics"]) for r in laws.values())
    # a second run continues the sweeps: nothing reruns, the same numbers come out
    first = {law: [s["values"] for s in r["statistics"]] for law, r in laws.items()}
    assert main(["principle", "all", "--quick", "-o", str(out), "--no-progress"]) == 0
    assert {law: [s["values"] for s in r["statistics"]] for law, r in _laws(out).items()} == first


@pytest.mark.slow
def test_law1_quick_on_a_dask_scheduler_equals_local_processes(tmp_path):
    distributed = pytest.importorskip("distributed")
    args = ["principle", "law1", "--quick", "--seeds", "2", "--no-progress"]
    assert main([*args, "-o", str(tmp_path / "local"), "--workers", "0"]) == 0
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        assert main([*args, "-o", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
    local, dask = _laws(tmp_path / "local")["law1"], _laws(tmp_path / "dask")["law1"]
    assert local["statistics"] == dask["statistics"]  # a run is a pure function of its config and seed
    assert local["verdict"] == dask["verdict"] and local["control"]["verdict"] == dask["control"]["verdict"] == "fails"


@pytest.mark.parametrize(
    ("law", "config", "expected"),
    [
        ("law3", "generic.toml", "needs local mixing"),
        ("law4", "generic.toml", "nested system"),
        ("law2", "nested.toml", "does not have"),
        ("law1", "ricardo.toml", "unknown config key 'mode.eta'"),  # tatonnement has no learning rate to zero
    ],
)
def test_an_experiment_that_cannot_apply_says_so_and_runs_nothing(tmp_path, capsys, law, config, expected):
    out = tmp_path / "p"
    assert main(["principle", law, "--config", str(EXAMPLES / config), "-o", str(out), "--no-progress"]) == 0
    r = _laws(out)[law]
    assert not r["applies"] and expected in r["reason"]
    assert f"{law}: not applicable" in capsys.readouterr().out
    assert not (out / law).exists()  # no sweep was started


@pytest.mark.nokernel
def test_law1_on_a_users_config(tmp_path):
    cfg = tmp_path / "mine.toml"
    text = (EXAMPLES / "generic.toml").read_text().replace("steps = 2000", "steps = 300")
    cfg.write_text(text.replace("peaks = 3", "peaks = 2"))
    out = tmp_path / "p"
    assert main(["principle", "law1", "--config", str(cfg), "--seeds", "2", "-o", str(out), "--workers", "0"]) == 0
    r = _laws(out)["law1"]
    # two peaks: from the homogeneous start plain gradient ascent leaves every agent on one peak (the
    # regime docs/sweeps.md reports), so the optimised system is no better than a homogeneous one
    assert r["applies"] and r["verdict"] == "fails" and r["control"]["verdict"] == "fails"
    assert r["statistics"][1]["statistic"] == "advantage" and r["statistics"][1]["verdict"] == "fails"
    from dps_core import Sweep

    runs = Sweep(out / "law1" / "experiment").records()
    assert {row["step"] for row in runs} == {300}  # the user's run length, not the embedded design's


@pytest.mark.slow
def test_law3_on_a_users_config_keeps_its_mixing_and_the_control_removes_trade(tmp_path):
    cfg = tmp_path / "mine.toml"
    text = (EXAMPLES / "spatial_ring.toml").read_text().replace("steps = 3000", "steps = 200")
    cfg.write_text(text.replace("agents = 240", "agents = 40").replace('name = "conservative"', 'name = "shared"'))
    out = tmp_path / "p"
    assert main(["principle", "law3", "--config", str(cfg), "--seeds", "2", "-o", str(out), "--workers", "0"]) == 0
    r = _laws(out)["law3"]
    assert r["applies"] and r["control"]["verdict"] == "fails"
    assert [s["statistic"] for s in r["diagnostic"]["statistics"]] == [
        "scale (permuted labels)",
        "scale (rewired)",
        "scale (no trade)",
    ]
    from dps_core import Sweep, open_archive

    for name, gamma in (("experiment", 0.5), ("control", 0.0), ("diagnostic-no-trade", 0.0)):
        for row in Sweep(out / "law3" / name).records():
            with open_archive(out / "law3" / name / row["archive"]) as ar:
                mixing = ar.config_dict["mixing"]
            assert (mixing["name"], mixing["gamma"]) == ("shared", gamma), name  # the user's mixing, trade or none
            assert row["step"] == 200  # the user's run length


def test_best_homogeneous_free_profiles_copy_the_demand_exactly():
    # with free profiles and alpha = 1, identical agents whose profile is the demand's own shape meet
    # all of it (each agent makes w_i * d / sum(d); the demand sums to sum(w)): efficacy 1
    cfg = {
        "scenario": {"name": "generic", "agents": 12, "tasks": 32, "peaks": 3},
        "profile": {"family": "free"},
        "mode": {"name": "gradient"},
    }
    eff, where = best_homogeneous(cfg)
    assert eff == pytest.approx(1.0, abs=1e-9)
    assert where == "demand shape to the power 1"


def test_best_homogeneous_von_mises_for_three_even_peaks_is_the_uniform_profile():
    # three evenly spaced peaks: no single (mu, kappa) beats spreading every agent's output evenly,
    # which meets sum_k min(1/K, d_k) of a demand normalised to sum 1 (every agent alike, the
    # market pooled); the grid's broadest kappa (kappa_min = 0.001) is uniform to within 0.1 %
    from dps_core import Simulation

    cfg = protocol.base_config("law1")
    eff, where = best_homogeneous(cfg)
    demand = np.asarray(Simulation.from_config(cfg).state.demand)[0]
    d = demand / demand.sum()
    uniform = float(np.minimum(1.0 / len(d), d).sum())
    assert eff == pytest.approx(uniform, abs=1e-4) and "kappa = 0.001" in where
    assert 0.5 < uniform < 0.6  # far below what three specialised groups reach (about 0.9)


def test_the_shuffled_ring_is_the_same_graph_relabelled(tmp_path):
    import networkx as nx

    rng = np.random.default_rng(0)
    path = _shuffled_ring_file(tmp_path, 30, 2, rng)
    edges = np.loadtxt(path, dtype=int)
    g = nx.Graph([tuple(e) for e in edges])
    ring = nx.circulant_graph(30, [1, 2])
    assert nx.is_isomorphic(g, ring)
    assert not all(g.has_edge(i, (i + 1) % 30) for i in range(30))  # the labels were permuted


def test_the_rewired_ring_keeps_every_degree_and_loses_the_ring(tmp_path):
    import networkx as nx
    from dps_principle.experiments import _rewired_ring_file

    for k in (1, 3):
        edges = np.loadtxt(_rewired_ring_file(tmp_path, 40, k, np.random.default_rng(1)), dtype=int)
        g = nx.Graph([tuple(e) for e in edges])
        ring = nx.circulant_graph(40, range(1, k + 1))
        assert g.number_of_nodes() == 40 and {d for _n, d in g.degree()} == {2 * k} and nx.is_connected(g)
        # a connected 2-regular graph is a cycle; with k = 3 the ring's many triangles are gone
        assert nx.is_isomorphic(g, ring) == (k == 1), k
        if k == 3:
            assert sum(nx.triangles(g).values()) < sum(nx.triangles(ring).values()) / 3


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["principle", "law5", "-o", str(tmp_path)])
    assert exc.value.code == 2
    assert "invalid choice: 'law5'" in capsys.readouterr().err
    assert main(["principle", "law1", "--config", str(tmp_path / "missing.toml"), "-o", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.toml: no such file" in err[0]
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nsteps = 3\n")
    assert main(["principle", "law1", "--config", str(bad), "-o", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.toml" in err[0] and "TOML" in err[0]


def test_the_plugin_passes_the_conformance_harness():
    from dps_core.testing import check_plugin

    assert [(c.record, c.status) for c in check_plugin("principle")] == [("command 'principle'", "pass")]
