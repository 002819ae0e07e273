"""The neuroscience plugin: scenarios, the stimulus process, the two-time-scale sparse-coding mode
and coding metrics.

Mapping (Rozell et al. 2008): neurons are agents with `signed` unit-norm tuning (dictionary atoms
phi_i), input dimensions are tasks, the stimulus x is the demand, activations a_i are the
resources w_i, the reconstruction x_hat = sum_i a_i phi_i is the supply (mean-field mixing with
`pool = "sum"`, gamma = 1), the residual x - x_hat is the signal, and inhibition between neurons
is the overlap of their tuning (it arises from the shared reconstruction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs
import numpy as np

from dps_core import (
    ArchiveGroupSpec,
    ArraySpec,
    ConfigError,
    DemandSpec,
    MetricSpec,
    ModeSpec,
    ScenarioSpec,
    Setup,
    Topology,
    hookimpl,
    params,
)

from .coding import lca_energy, soft_threshold
from .stimuli import feature_dictionary, feature_stimuli, pink_noise_patches, two_modality_stimuli

# --- the stimulus process ------------------------------------------------------------------------------


@attrs.frozen
class StimuliParams:
    source: Literal["features", "pink_noise", "two_modalities"] = params.param(
        "features",
        doc="sparse mixtures of localised oriented features, 1/f noise patches, or features in two modalities",
    )
    presentation: int = params.param(
        40, doc="steps each stimulus is shown (inference settles within it)", unit="steps", validator=params.at_least(1)
    )
    features: int = params.param(
        24, doc="features of the generating dictionary (features, two_modalities)", validator=params.at_least(1)
    )
    activity: float = params.param(
        0.1, doc="probability that a feature is present in a stimulus", validator=params.probability
    )
    noise: float = params.param(0.01, doc="std of additive input noise", validator=params.non_negative)
    shared: float = params.param(
        0.3,
        doc="two_modalities: fraction of stimuli showing one feature in both modalities",
        validator=params.probability,
    )
    seed: int = params.param(
        0,
        doc="seed of the generating dictionary (the stimuli draw from the run's stream)",
        validator=params.non_negative,
    )


def generating_dictionary(prm: StimuliParams, K: int) -> np.ndarray:
    """The features the stimuli are made of (over K inputs, or K/2 per modality)."""
    return feature_dictionary(prm.features, K // 2 if prm.source == "two_modalities" else K, prm.seed)


def _draw(ctx, count: int) -> np.ndarray:
    prm: StimuliParams = ctx.params
    K = ctx.n_tasks
    if prm.source == "pink_noise":
        return pink_noise_patches(count, K, ctx.rng)
    key = ("neuroscience.features", prm, K)
    F = ctx.model.cache.get(key)
    if F is None:
        F = ctx.model.cache[key] = generating_dictionary(prm, K)
    if prm.source == "features":
        return feature_stimuli(F, count, prm.activity, prm.noise, ctx.rng)
    return two_modality_stimuli(F, count, prm.activity, prm.shared, prm.noise, ctx.rng)


def _stimuli_update(ctx):
    clock = ctx.arrays["clock"]
    if clock[0] < ctx.params.presentation - 1:
        return {"clock": clock + 1}
    x = _draw(ctx, 1)[0]
    return {"D": ctx.arrays["mask"] * x[None, :], "clock": np.zeros_like(clock)}


def _check_stimuli(prm: StimuliParams, K: int):
    if prm.source == "two_modalities" and K % 2:
        raise ConfigError(
            f"demand 'neuroscience.stimuli' with source 'two_modalities' needs an even number of inputs, got K = {K}"
        )
    if prm.source == "pink_noise" and round(K**0.5) ** 2 != K:
        raise ConfigError(
            f"demand 'neuroscience.stimuli' with source 'pink_noise' makes square patches: K must be a square number, got {K}"
        )


def _clock_init(ctx):
    """Start at the end of a presentation, so that the first step shows a new stimulus."""
    _check_stimuli(ctx.params, ctx.n_tasks)
    return np.array([ctx.params.presentation - 1.0])


STIMULI = DemandSpec(
    "stimuli",
    _stimuli_update,
    StimuliParams,
    arrays=(
        ArraySpec("clock", (1,), doc="steps since the current stimulus appeared", init=_clock_init),
        ArraySpec("mask", ("demand_rows", "tasks"), fill=1.0, doc="which inputs each node receives"),
    ),
    doc="a new stimulus every `presentation` steps, drawn from the run's stream",
)


# --- the two-time-scale sparse-coding mode ---------------------------------------------------------------


@attrs.frozen
class SparseCodingParams:
    tau: float = params.param(
        1.0,
        doc="membrane time constant (stable for dt/tau <= 1; energy descent needs dt/tau small)",
        unit="time",
        validator=params.positive,
    )
    threshold: float = params.param(0.1, doc="threshold lambda", validator=params.non_negative)
    kind: Literal["soft", "hard"] = params.param("soft", doc="soft (LASSO) or hard threshold")
    nonnegative: bool = params.param(False, doc="rectified activations")
    eta: float = params.param(
        0.0,
        doc="learning rate of the tuning (Hebbian, a_i times the residual), applied once per stimulus, "
        "at the end of its presentation",
        validator=params.non_negative,
    )
    competition: Literal["global", "local"] = params.param(
        "global",
        doc="global: every neuron sees the residual of the whole population (the signal); local: of itself and its "
        "graph neighbours only, restricted to the inputs it receives (demand mask)",
    )

    def check(self, config):
        if config.run.dt > self.tau:
            raise ValueError(
                f"run.dt = {config.run.dt} exceeds tau = {self.tau}: the leaky integration is unstable; use dt <= tau"
            )


def _threshold(u, prm: SparseCodingParams):
    lam = prm.threshold
    if prm.kind == "soft":
        return np.maximum(u - lam, 0.0) if prm.nonnegative else soft_threshold(u, lam)
    return np.where(u > lam, u, 0.0) if prm.nonnegative else np.where(np.abs(u) > lam, u, 0.0)


def _local_residual(ctx, A, a):
    """x_i - (a_i phi_i + sum_j A_ij a_j phi_j) over graph neighbours j, on the inputs node i receives."""
    key = ("neuroscience.adjacency", id(ctx.model.topology))
    adj = ctx.model.cache.get(key)
    if adj is None:
        adj = ctx.model.cache[key] = ctx.model.topology.matrix()
    own = a[:, None] * A
    recon = own + adj @ own
    mask = ctx.extras.get("demand.mask", np.ones((1, ctx.n_tasks)))
    return mask * (np.broadcast_to(ctx.D, A.shape) - recon)


def _sparse_coding(ctx):
    """LCA inference every step; at a stimulus onset the potentials restart from zero; the
    tuning learns at the last step of each presentation (two time scales)."""
    prm: SparseCodingParams = ctx.params
    A = ctx.profile["atoms"]
    clock = ctx.extras.get("demand.clock")
    presentation = getattr(ctx.model.demand.params, "presentation", None)
    onset = clock is not None and clock[0] == 0
    if onset:  # a new stimulus: nothing represented yet
        u, a = np.zeros(ctx.n_agents), np.zeros(ctx.n_agents)
    else:
        u, a = ctx.arrays["u"], ctx.w
    if prm.competition == "global":
        residual = np.broadcast_to(ctx.D, A.shape) if onset else ctx.G
    else:
        residual = _local_residual(ctx, A, a)
    drive = (A * residual).sum(axis=1)
    u_new = u + (ctx.dt / prm.tau) * (-u + drive + (A * A).sum(axis=1) * a)
    a_new = _threshold(u_new, prm)
    new = {"u": u_new, "w": a_new}
    last = presentation is None or (clock is not None and clock[0] == presentation - 1)
    if prm.eta and last:
        new["atoms"] = A + ctx.dt * prm.eta * a_new[:, None] * residual
    return new


SPARSE_CODING = ModeSpec(
    "sparse_coding",
    _sparse_coding,
    SparseCodingParams,
    scatter=False,
    families=("signed",),
    signed_resources=True,
    arrays=(ArraySpec("u", ("agents",), doc="membrane potentials"),),
    doc="LCA inference with potentials reset per stimulus, Hebbian tuning learned at the end of each presentation",
)


# --- metrics -------------------------------------------------------------------------------------------


def _stimulus(ctx) -> np.ndarray:
    """The whole stimulus: every input as some node receives it (nodes may see parts only)."""
    mask = ctx.extras.get("demand.mask")
    D = np.broadcast_to(ctx.D, (ctx.D.shape[0], ctx.n_tasks))
    if mask is None or D.shape[0] == 1:
        return D[0]
    return D.sum(axis=0) / np.maximum(mask.sum(axis=0), 1.0)


def _reconstruction(ctx):
    """Explained fraction 1 - ||x - x_hat||^2 / ||x||^2 of the stimulus by the whole population,
    x_hat = sum_i a_i phi_i."""
    x = _stimulus(ctx)
    xhat = ctx.w @ ctx.profile["atoms"] if "atoms" in ctx.profile else ctx.Y.sum(axis=0)
    tot = float(x @ x)
    return 1.0 - float(((x - xhat) ** 2).sum()) / tot if tot > 0 else float("nan")


def _active(ctx):
    return float((ctx.w != 0).mean())


@attrs.frozen
class EnergyParams:
    threshold: float | None = params.param(
        None, doc="lambda of the sparsity cost (absent: the mode's threshold)", validator=params.non_negative
    )


def _energy(ctx):
    """E = 1/2 ||x - Phi^T a||^2 + lambda ||a||_1 (soft threshold), or + lambda^2/2 ||a||_0 for a
    hard-threshold mode (the cost whose LCA is the hard threshold; Rozell et al. 2008, sec. 3.2)."""
    prm: EnergyParams = ctx.params
    mode = ctx.model.mode.params
    lam = prm.threshold if prm.threshold is not None else getattr(mode, "threshold", None)
    if lam is None:
        raise ValueError("lca_energy needs a threshold: give [metrics.lca_energy] threshold or use an LCA mode")
    x = _stimulus(ctx)
    A = ctx.profile["atoms"] if "atoms" in ctx.profile else ctx.S
    a = np.asarray(ctx.w, dtype=np.float64)
    if getattr(mode, "kind", "soft") == "hard" and prm.threshold is None:
        r = x - A.T @ a
        return float(0.5 * r @ r + 0.5 * lam * lam * np.count_nonzero(a))
    return lca_energy(A, x, a, lam)


METRICS = (
    MetricSpec(
        "reconstruction", _reconstruction, doc="explained fraction of the stimulus, 1 - ||x - x_hat||^2 / ||x||^2"
    ),
    MetricSpec("active_fraction", _active, doc="fraction of neurons with non-zero activation"),
    MetricSpec(
        "lca_energy",
        _energy,
        params=EnergyParams,
        doc="LCA energy 1/2 ||x - Phi^T a||^2 + lambda ||a||_1 (lambda^2/2 ||a||_0 for a hard threshold)",
    ),
)


# --- scenarios ------------------------------------------------------------------------------------------

_LCA_DEFAULTS = {
    "profile": {"family": "signed"},
    "topology": {"name": "complete"},
    "mixing": {"name": "mean_field", "gamma": 1.0, "pool": "sum"},
    "signal": {"name": "residual"},
}


@attrs.frozen
class LCAParams:
    neurons: int = params.param(48, doc="neurons N (atoms of the dictionary)", validator=params.at_least(1))
    inputs: int = params.param(24, doc="input dimensions K", validator=params.at_least(1))
    dictionary: Literal["random", "orthonormal", "file"] = params.param(
        "random",
        doc="random unit-norm atoms (overcomplete when N > K), an orthonormal basis (needs N = K), or the atoms in dictionary_file",
    )
    dictionary_file: str = params.param(
        "",
        doc="dictionary = 'file': N rows (atoms) of K values, .npy or text (.csv comma-separated, else whitespace); relative to the config file; rows are scaled to unit norm",
    )
    stimulus_file: str = params.param(
        "", doc="optional stimulus x: K values, .npy or text (absent: generated from the seed)"
    )
    seed: int = params.param(0, doc="seed of the dictionary and the stimulus", validator=params.non_negative)

    def __attrs_post_init__(self):
        if self.dictionary == "orthonormal" and self.neurons != self.inputs:
            raise ValueError(f"an orthonormal dictionary needs neurons = inputs, got {self.neurons} and {self.inputs}")
        if (self.dictionary == "file") != bool(self.dictionary_file):
            raise ValueError("dictionary_file is given exactly when dictionary = 'file'")


def _read_array(path: str, base_dir: Path | None, key: str) -> np.ndarray:
    """A numeric array from .npy (never pickled) or text; one clear error naming the key and file."""
    f = Path(path)
    if not f.is_absolute() and base_dir is not None:
        f = base_dir / f
    try:
        if f.suffix == ".npy":
            arr = np.load(f, allow_pickle=False)
        else:
            arr = np.loadtxt(f, delimiter="," if f.suffix == ".csv" else None, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"config key 'scenario.{key}': cannot read {f}: {exc}") from None
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"config key 'scenario.{key}': {f} holds values that are not finite")
    return arr


def lca_problem(p: LCAParams, base_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Phi, x): the scenario's dictionary (rows unit norm) and stimulus, from its seed or files."""
    rng = np.random.default_rng(p.seed)
    if p.dictionary == "file":
        Phi = _read_array(p.dictionary_file, base_dir, "dictionary_file")
        if Phi.shape != (p.neurons, p.inputs):
            raise ConfigError(
                f"config key 'scenario.dictionary_file': {p.dictionary_file} has shape {Phi.shape}, but "
                f"scenario.neurons x scenario.inputs = ({p.neurons}, {p.inputs}); set them to match"
            )
        norms = np.linalg.norm(Phi, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ConfigError(f"config key 'scenario.dictionary_file': {p.dictionary_file} has an all-zero atom")
        Phi = Phi / norms
    elif p.dictionary == "orthonormal":
        Q, _ = np.linalg.qr(rng.standard_normal((p.inputs, p.inputs)))
        Phi = Q.T
    else:
        Phi = rng.standard_normal((p.neurons, p.inputs))
        Phi /= np.linalg.norm(Phi, axis=1, keepdims=True)
    x = feature_stimuli(feature_dictionary(max(1, p.inputs // 3), p.inputs, p.seed), 1, 0.5, 0.05, rng)[0]
    if p.stimulus_file:
        x = _read_array(p.stimulus_file, base_dir, "stimulus_file").ravel()
        if x.shape != (p.inputs,):
            raise ConfigError(
                f"config key 'scenario.stimulus_file': {p.stimulus_file} has {x.size} values, but scenario.inputs = {p.inputs}"
            )
    return Phi, x


def _lca_build(ctx) -> Setup:
    p: LCAParams = ctx.params
    Phi, x = lca_problem(p, ctx.base_dir)
    return Setup(
        demand=x[None, :],
        n_agents=p.neurons,
        profile={"atoms": Phi},
        resources=np.zeros(p.neurons),
        info={"dictionary": p.dictionary},
    )


LCA = ScenarioSpec(
    "lca",
    _lca_build,
    lambda p: (p.neurons, p.inputs),
    LCAParams,
    defaults={
        **_LCA_DEFAULTS,
        "mode": {"name": "lca", "tau": 1.0, "threshold": 0.1},
        "run": {"steps": 20000, "dt": 0.1, "record_every": 100, "tolerance": 1e-10},
        "metrics": {"names": ["productivity", "reconstruction", "active_fraction"]},
        "archive": {"snapshots": ["w"]},
    },
    doc="one stimulus coded by a fixed dictionary with the LCA (its fixed point is the LASSO solution)",
)


@attrs.frozen
class LearningParams:
    neurons: int = params.param(24, doc="neurons N", validator=params.at_least(1))
    inputs: int = params.param(32, doc="input dimensions K", validator=params.at_least(1))


def _learning_build(ctx) -> Setup:
    p: LearningParams = ctx.params
    return Setup(demand=np.zeros((1, p.inputs)), n_agents=p.neurons, resources=np.zeros(p.neurons))


DICTIONARY_LEARNING = ScenarioSpec(
    "dictionary_learning",
    _learning_build,
    lambda p: (p.neurons, p.inputs),
    LearningParams,
    defaults={
        **_LCA_DEFAULTS,
        "mode": {"name": "neuroscience.sparse_coding", "tau": 1.0, "threshold": 0.05, "eta": 5.0},
        "demand": {"name": "neuroscience.stimuli", "source": "features", "presentation": 100},
        "init": {"kind": "homogeneous", "perturbation": 0.05},
        "run": {"steps": 100000, "dt": 0.04, "record_every": 100},
        "metrics": {
            "names": ["productivity", "reconstruction", "active_fraction", "hill"],
            "hill": {"abundance": "equal"},
        },
        "archive": {"snapshots": ["atoms"]},
    },
    doc="tuning learned from locally generated stimuli, from identical neurons (two time scales)",
)


@attrs.frozen
class CircuitParams:
    layout: Literal["star", "core_periphery"] = params.param(
        "core_periphery", doc="one hub, or a layered core of several integrating neurons"
    )
    periphery: int = params.param(8, doc="peripheral neurons per modality", validator=params.at_least(1))
    core: int = params.param(4, doc="core neurons (core_periphery; the star has one hub)", validator=params.at_least(1))
    inputs: int = params.param(32, doc="input dimensions K (two modalities of K/2)", validator=params.at_least(2))

    def __attrs_post_init__(self):
        if self.inputs % 2:
            raise ValueError(f"inputs must be even (two modalities of K/2), got {self.inputs}")


def circuit(p: CircuitParams) -> tuple[Topology, np.ndarray, int]:
    """(graph, input mask per neuron, core size). Neurons: periphery A, periphery B, then the core.
    Peripheral neurons see one modality, core neurons both. Star: every peripheral neuron linked to
    the single hub only. Core-periphery: peripheral neurons linked within their modality and to
    every core neuron, core neurons linked to each other. Links are lateral competition."""
    nc = 1 if p.layout == "star" else p.core
    npa = p.periphery
    n = 2 * npa + nc
    core = np.arange(2 * npa, n)
    edges = [(i, c) for i in range(2 * npa) for c in core]
    if p.layout == "core_periphery":
        groups = (range(npa), range(npa, 2 * npa), core)
        edges += [(i, j) for g in groups for i in g for j in g if i < j]
    half = p.inputs // 2
    mask = np.ones((n, p.inputs))
    mask[:npa, half:] = 0.0
    mask[npa : 2 * npa, :half] = 0.0
    return Topology.from_edges(n, np.array(edges), name=p.layout, params={"core": int(nc)}), mask, nc


def _circuit_build(ctx) -> Setup:
    p: CircuitParams = ctx.params
    topo, mask, nc = circuit(p)
    n = len(mask)
    atoms = mask * ctx.rng.standard_normal(mask.shape)
    return Setup(
        demand=np.zeros((n, p.inputs)),
        n_agents=n,
        topology=topo,
        profile={"atoms": atoms},
        resources=np.zeros(n),
        extras={"demand.mask": mask},
        info={"core": list(range(n - nc, n)), "layout": p.layout},
    )


CIRCUITS = ScenarioSpec(
    "circuits",
    _circuit_build,
    lambda p: (2 * p.periphery + (1 if p.layout == "star" else p.core), p.inputs),
    CircuitParams,
    defaults={
        "profile": {"family": "signed"},
        "mixing": {"name": "shared", "gamma": 0.0},
        "signal": {"name": "residual"},
        "mode": {
            "name": "neuroscience.sparse_coding",
            "tau": 1.0,
            "threshold": 0.05,
            "eta": 5.0,
            "competition": "local",
        },
        "demand": {"name": "neuroscience.stimuli", "source": "two_modalities", "presentation": 100, "features": 8},
        "run": {"steps": 100000, "dt": 0.04, "record_every": 100},
        "metrics": {"names": ["productivity", "reconstruction", "active_fraction"]},
        "archive": {"snapshots": ["atoms"]},
    },
    doc="two-modality input coded by a star (one hub) or a layered core-periphery circuit",
)


# --- hooks ----------------------------------------------------------------------------------------------


@hookimpl
def dps_register_scenarios(register):
    for spec in (LCA, DICTIONARY_LEARNING, CIRCUITS):
        register(spec)


@hookimpl
def dps_register_demands(register):
    register(STIMULI)


@hookimpl
def dps_register_modes(register):
    register(SPARSE_CODING)


@hookimpl
def dps_register_metrics(register):
    for spec in METRICS:
        register(spec)


@hookimpl
def dps_register_plots(register):
    from .plots import PLOTS

    for spec in PLOTS:
        register(spec)


# --- archive: the coding problem, stored with the run ------------------------------------------------


def _declare_problem(group, sim):
    """The dictionary (atoms as rows, unit norm) and stimulus of an `lca` run at its start, so an
    archive holds the LASSO problem it solved even when they came from files."""
    if sim.config.scenario.name != "lca":
        group.attrs["applicable"] = False
        return
    prm = sim.config.scenario.params
    group.attrs["applicable"] = True
    group.attrs["dictionary"] = prm.get("dictionary", "random")
    group.attrs["dictionary_file"] = prm.get("dictionary_file", "")
    group.attrs["stimulus_file"] = prm.get("stimulus_file", "")
    group.create_dataset("dictionary", data=np.asarray(sim.state.profile["atoms"], dtype=np.float64))
    group.create_dataset("stimulus", data=np.asarray(sim.state.demand[0], dtype=np.float64))


LCA_PROBLEM = ArchiveGroupSpec(
    "lca_problem",
    "1",
    _declare_problem,
    doc="lca scenario: the dictionary (rows: atoms) and the stimulus of the run",
)


@hookimpl
def dps_register_archive_groups(register):
    register(LCA_PROBLEM)


def archived_problem(path) -> tuple[np.ndarray, np.ndarray]:
    """(Phi, x) stored in the archive of an `lca` run."""
    from dps_core import open_archive

    with open_archive(path) as ar:
        g = ar.f["plugins/neuroscience/lca_problem"]
        if not g.attrs.get("applicable", False):
            raise ConfigError(f"archive {path} is not an lca run: it stores no dictionary")
        return g["dictionary"][()], g["stimulus"][()]
