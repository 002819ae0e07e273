"""Tuning learned from generated stimuli: diversification from identical neurons, better
reconstruction, decorrelated responses (law 1 in this domain); and star versus core-periphery."""

import numpy as np
import pytest
from dps_metrics import bhattacharyya_profiles, hill_numbers, profiles_as_distributions, similarity_times
from dps_neuroscience import feature_stimuli, lasso, pink_noise_patches, response_correlation
from dps_neuroscience.coding import code_quality
from dps_neuroscience.plugin import generating_dictionary

from dps_core import Simulation


def tuning_hill(A):
    P = profiles_as_distributions(A, signed=True)
    p = np.full(len(A), 1 / len(A))
    R, _ = bhattacharyya_profiles(P)
    return hill_numbers(p, similarity_times(p, R), (1,))[1]


@pytest.fixture(scope="module")
def learned():
    sim = Simulation.from_config({"scenario": {"name": "dictionary_learning"}, "run": {"seed": 1, "steps": 200000}})
    start = sim.state.profile["atoms"].copy()
    sim.run()
    return sim, start


@pytest.mark.slow
def test_law_1_tuning_diversifies_and_reconstruction_improves(learned):
    """From identical neurons (plus the seeded perturbation) the tuning diversifies (Hill number
    of the atoms, q = 1, equal weights) while the reconstruction of the stimuli improves, and the
    learned code beats the best homogeneous one: identical atoms reconstruct through one
    direction only, at best the top principal component's share of the stimulus energy."""
    sim, start = learned
    h = sim.history
    rec = np.array(h["reconstruction"][1:])
    assert tuning_hill(start) < 1.1 and h["hill_q1"][-1] > 3.0
    assert rec[:20].mean() < 0.5 and rec[-50:].mean() > 0.85
    F = generating_dictionary(sim.model.demand.params, 32)
    X = feature_stimuli(F, 4000, 0.1, 0.01, np.random.default_rng(99))
    top_share = np.linalg.svd(X, compute_uv=False)[0] ** 2 / (X**2).sum()
    assert rec[-50:].mean() > top_share + 0.5


@pytest.mark.slow
def test_learned_features_match_the_generating_ones(learned):
    sim, _ = learned
    F = generating_dictionary(sim.model.demand.params, 32)
    best = np.abs(F @ sim.state.profile["atoms"].T).max(axis=1)
    assert np.median(best) > 0.85  # most features have a learned atom close to them


@pytest.mark.slow
def test_responses_decorrelate(learned):
    """Efficient coding: the settled responses (the LASSO codes) of the learned neurons to fresh
    stimuli are less correlated with each other than those of a random dictionary of the same
    size, which has not adapted to the stimuli."""
    sim, _ = learned
    F = generating_dictionary(sim.model.demand.params, 32)
    X = feature_stimuli(F, 150, 0.1, 0.01, np.random.default_rng(7))
    learned_atoms = sim.state.profile["atoms"]
    rand = np.random.default_rng(3).standard_normal(learned_atoms.shape)
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    corr_learned = response_correlation(np.array([lasso(learned_atoms, x, 0.05) for x in X]))
    corr_random = response_correlation(np.array([lasso(rand, x, 0.05) for x in X]))
    assert corr_learned < 0.75 * corr_random


def test_pink_noise_patches_have_a_one_over_f_spectrum():
    """Amplitude ~ 1/f, so power ~ 1/f^2: the log-log slope of the radially averaged power
    spectrum of the patches is about -2 (steeper than white noise's 0)."""
    P = pink_noise_patches(2000, 64, np.random.default_rng(0)).reshape(-1, 8, 8)
    power = (np.abs(np.fft.fft2(P)) ** 2).mean(axis=0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(8), np.fft.fftfreq(8), indexing="ij"))
    keep = f > 0
    slope = np.polyfit(np.log(f[keep]), np.log(power[keep]), 1)[0]
    assert -2.6 < slope < -1.4
    sim = Simulation.from_config(
        {
            "scenario": {"name": "dictionary_learning", "inputs": 64},
            "demand": {"source": "pink_noise"},
            "run": {"steps": 2000},
        }
    )
    sim.run()
    assert np.isfinite(sim.history["reconstruction"][-1])


@pytest.mark.slow
def test_star_versus_core_periphery():
    """Two-modality input. In the star, peripheral neurons compete only with the hub: neurons of
    one modality learn the same tuning (Hill 1) and the code is redundant and hard to read. The
    layered core-periphery circuit (competition within each modality and within the core) gives
    diverse peripheral tuning, a core whose neurons divide the modalities between them
    (heterogeneous, balanced as a population), and a code a linear readout decodes almost fully
    with little activity."""
    out = {}
    for layout in ("star", "core_periphery"):
        sim = Simulation.from_config(
            {"scenario": {"name": "circuits", "layout": layout}, "run": {"seed": 1, "steps": 60000}}
        )
        sim.run()
        A = sim.state.profile["atoms"]
        core = sim.setup_info["core"]
        share = (A[core, :16] ** 2).sum(axis=1)  # tuning energy in modality A
        out[layout] = {"periphery": tuning_hill(A[:8]), "share": share, **code_quality(sim, 100)}
    star, cp = out["star"], out["core_periphery"]
    assert star["periphery"] < 1.05 < 1.3 < cp["periphery"]
    assert cp["share"].max() - cp["share"].min() > 0.5  # core neurons specialise differently
    assert abs(cp["share"].mean() - 0.5) < 0.25  # and cover both modalities together
    assert cp["decoded"] > 0.95 > 0.5 > star["decoded"]
    assert cp["efficiency"] > 20 * star["efficiency"]
