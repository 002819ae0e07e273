"""The LCA against closed forms and an independent LASSO solver (Rozell, Johnson, Baraniuk &
Olshausen 2008, Neural Computation 20:2526)."""

import numpy as np
import pytest
from dps_neuroscience import lasso, lca_energy, soft_threshold
from dps_neuroscience.plugin import LCAParams, lca_problem

from dps_core import ConfigError, Simulation


def lca(**over):
    scenario = {"name": "lca", **over.pop("scenario", {})}
    sim = Simulation.from_config({"scenario": scenario, **over})
    return sim, sim.run()


@pytest.mark.parametrize("kind", ["soft", "hard"])
def test_orthonormal_dictionary_fixed_point_in_closed_form(kind):
    """With orthonormal atoms the inhibition vanishes (Phi Phi^T = I): u* = b = Phi x, and
    a* = T_lambda(b): soft threshold sign(b) max(|b| - lambda, 0), or hard b [|b| > lambda]."""
    sim, result = lca(
        scenario={"dictionary": "orthonormal", "neurons": 16, "inputs": 16, "seed": 3},
        mode={"name": "lca", "threshold": 0.15, "kind": kind},
    )
    assert result.status == "converged"
    Phi, x = lca_problem(LCAParams(neurons=16, inputs=16, dictionary="orthonormal", seed=3))
    b = Phi @ x
    expect = soft_threshold(b, 0.15) if kind == "soft" else np.where(np.abs(b) > 0.15, b, 0.0)
    np.testing.assert_allclose(sim.state.w, expect, atol=1e-8)
    assert 0 < np.count_nonzero(expect) < 16  # the threshold does something here


@pytest.mark.parametrize("neurons,inputs,lam,seed", [(48, 24, 0.1, 0), (64, 16, 0.05, 5), (30, 30, 0.2, 9)])
def test_overcomplete_fixed_point_is_the_lasso_solution(neurons, inputs, lam, seed):
    sim, result = lca(
        scenario={"neurons": neurons, "inputs": inputs, "seed": seed}, mode={"name": "lca", "threshold": lam}
    )
    assert result.status == "converged"
    Phi, x = lca_problem(LCAParams(neurons=neurons, inputs=inputs, seed=seed))
    a = lasso(Phi, x, lam)
    np.testing.assert_allclose(sim.state.w, a, atol=1e-7)
    assert np.array_equal(sim.state.w != 0, a != 0)  # the same sparsity pattern as the central solver
    assert lca_energy(Phi, x, sim.state.w, lam) == pytest.approx(lca_energy(Phi, x, a, lam), rel=1e-10)


def test_energy_never_increases():
    """Along the LCA's trajectory E(a) = 1/2 ||x - Phi^T a||^2 + lambda ||a||_1 never rises when the
    step is stable: dt/tau below 1/lambda_max(Phi Phi^T) (here 0.05 * 3.3 = 0.17)."""
    sim = Simulation.from_config({"scenario": {"name": "lca"}, "run": {"dt": 0.05}})
    Phi = sim.state.profile["atoms"]
    assert 0.05 * np.linalg.eigvalsh(Phi @ Phi.T).max() < 1
    x = sim.state.demand[0]
    energies = []
    for _ in range(600):
        sim.step()
        energies.append(lca_energy(Phi, x, sim.state.w, 0.1))
    assert np.all(np.diff(energies) <= 1e-12)
    assert energies[-1] < energies[0]


def test_meaningless_parameters():
    with pytest.raises(ConfigError, match="an orthonormal dictionary needs neurons = inputs"):
        Simulation.from_config({"scenario": {"name": "lca", "dictionary": "orthonormal", "neurons": 10, "inputs": 8}})
    with pytest.raises(ConfigError, match="exceeds tau = 1.0: the leaky integration is unstable"):
        Simulation.from_config({"scenario": {"name": "dictionary_learning"}, "run": {"dt": 2.0}})
    with pytest.raises(ConfigError, match="needs an even number of inputs"):
        Simulation.from_config(
            {"scenario": {"name": "dictionary_learning", "inputs": 31}, "demand": {"source": "two_modalities"}}
        )
    with pytest.raises(ConfigError, match="K must be a square number"):
        Simulation.from_config(
            {"scenario": {"name": "dictionary_learning", "inputs": 30}, "demand": {"source": "pink_noise"}}
        )


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_harness():
    from dps_core.testing import check_plugin

    checks = check_plugin("neuroscience")
    assert checks and all(c.status == "pass" for c in checks), [str(c) for c in checks if c.status != "pass"]


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[3] / "examples"


def test_dictionary_from_a_file_solves_that_lasso_and_is_archived(tmp_path):
    """examples/lasso_file.toml: a chosen dictionary and stimulus from CSV files; the LCA's fixed point
    is the LASSO solution of that problem (independent coordinate-descent solver), its energy is the
    lca_energy metric, and the archive stores the problem."""
    from dps_neuroscience import archived_problem

    Phi = np.loadtxt(EXAMPLES / "data" / "lasso_dictionary.csv", delimiter=",")
    Phi /= np.linalg.norm(Phi, axis=1, keepdims=True)
    x = np.loadtxt(EXAMPLES / "data" / "lasso_stimulus.csv", delimiter=",")
    sim = Simulation.from_config(EXAMPLES / "lasso_file.toml")
    result = sim.run(tmp_path / "lasso.h5")
    a = lasso(Phi, x, 0.1)
    np.testing.assert_allclose(sim.state.w, a, atol=1e-6)
    assert result.metrics["lca_energy"] == pytest.approx(lca_energy(Phi, x, a, 0.1), rel=1e-9)
    P, X = archived_problem(tmp_path / "lasso.h5")
    np.testing.assert_allclose(P, Phi, rtol=1e-15)
    np.testing.assert_allclose(X, x, rtol=1e-15)


def test_dictionary_file_errors_are_one_clear_line(tmp_path):
    bad = tmp_path / "d.csv"
    bad.write_text("1,0\n0,1\n")
    cfg = {"scenario": {"name": "lca", "neurons": 3, "inputs": 2, "dictionary": "file", "dictionary_file": str(bad)}}
    with pytest.raises(ConfigError, match=r"has shape \(2, 2\).*neurons x scenario.inputs = \(3, 2\)"):
        Simulation.from_config(cfg)
    cfg["scenario"]["dictionary_file"] = str(tmp_path / "missing.csv")
    cfg["scenario"]["neurons"] = 2
    with pytest.raises(ConfigError, match="cannot read"):
        Simulation.from_config(cfg)
    with pytest.raises(ConfigError, match="dictionary_file is given exactly when"):
        Simulation.from_config({"scenario": {"name": "lca", "dictionary_file": str(bad)}})
