"""The compiled kernel equals the NumPy reference to ~1e-12 per step for every combination a
scenario can use, and is bit-identical for 1 and 2 threads.

These tests need the compiled extension; under the `pure` tox env (no extension built) conftest
deselects them and says so in the header.
"""

import itertools

import numpy as np
import pytest

from dps_core import Simulation, reference
from dps_core.context import StepContext

pytestmark = pytest.mark.compiled

FAMILIES = ["free", "vonmises", "signed"]
MODES = [
    {"name": "gradient", "eta": 0.3, "eta_w": 0.2},
    {"name": "selfish", "eta": 0.2},
    {"name": "replicator", "eta": 0.1, "upkeep": 0.2},
    {"name": "lca", "tau": 2.0, "threshold": 0.05, "eta": 0.1},
    {"name": "lca", "tau": 2.0, "threshold": 0.05, "kind": "hard", "nonnegative": True},
    {"name": "imitation", "rate": 0.8, "temperature": 0.1},
    {"name": "tatonnement", "rate": 0.5, "beta": 5.0},
]
SIGNALS = [
    {"name": "coverage", "smoothing": 0.05},
    {"name": "coverage", "smoothing": 0.0},
    {"name": "residual"},
    {"name": "ces", "rho": 0.5},
    {"name": "ces", "rho": 0.0},
    {"name": "ces", "rho": -2.0},
    {"name": "ces", "rho": float("-inf")},
    {"name": "price", "rate": 0.3},
    {"name": "price", "rate": 0.3, "rule": "additive"},
    {"name": "interaction", "self_interaction": 1.5},
    {"name": "interaction", "use_topology": False},
]
MIXINGS = [
    ({"name": "mean_field", "gamma": 0.7}, {"name": "complete"}),
    ({"name": "mean_field", "gamma": 1.0, "pool": "sum"}, {"name": "complete"}),
    ({"name": "shared", "gamma": 0.5}, {"name": "complete"}),
    ({"name": "conservative", "gamma": 0.4}, {"name": "complete"}),
    ({"name": "shared", "gamma": 0.6}, {"name": "ring", "k": 2}),
    ({"name": "conservative", "gamma": 0.6}, {"name": "ring", "k": 1}),
    ({"name": "shared", "gamma": 0.9}, "random"),
    ({"name": "conservative", "gamma": 0.5}, "random"),
]
EXTRAS = [  # cycled through the combinations so that every option meets many others
    {},
    {"penalty": {"resource": 0.05, "communication": 0.1, "specialisation": 0.02}},
    {"learn": {"rate": 0.3, "forget": 0.1, "max": 3.0}},
    {"disperse": {"rate": 0.2}},
    {"mode_noise": 0.05, "alpha": 1.5},
    {"budget": {"kind": "total", "value": 6.0}},
    {"budget": {"kind": "per_agent", "value": 0.9}, "penalty": {"communication": 0.05}},
]


def random_topology(n, seed=3):
    """Weighted, directed, with an isolated node: the awkward cases of a CSR graph."""
    import scipy.sparse as sp

    from dps_core import Topology

    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=0.35, random_state=rng, data_rvs=lambda m: rng.uniform(0.2, 1.5, m)).tolil()
    A.setdiag(0)
    A[0, :] = 0
    A[:, 0] = 0
    return Topology.from_scipy(A.tocsr())


def valid(family, mode, signal, extra):
    if mode["name"] == "tatonnement" and family != "free":
        return False
    if mode["name"] == "lca" and "budget" in extra:
        return False
    if family == "signed" and (extra.get("alpha", 1.0) != 1.0 or "specialisation" in extra.get("penalty", {})):
        return False
    return True


def build(family, mode, signal, mixing, extra, n=9, k=7, seed=0):
    mode = dict(mode)
    if "mode_noise" in extra and mode["name"] != "lca":
        mode["noise"] = extra["mode_noise"]
    cfg = {
        "run": {"seed": seed, "dt": 0.5},
        "scenario": {"name": "generic", "agents": n, "tasks": k, "peaks": 2, "width": 0.5, "floor": 0.1},
        "profile": {"family": family, "alpha": extra.get("alpha", 1.0), "kappa": 2.0},
        "mixing": mixing[0],
        "mode": mode,
        "signal": signal,
        "init": {"kind": "random"},
    }
    for key in ("penalty", "learn", "disperse", "budget"):
        if key in extra:
            cfg[key] = extra[key]
    if mixing[1] == "random":
        sim_cfg = {key: v for key, v in cfg.items() if key != "scenario"}
        rng = np.random.default_rng(seed)
        from dps_core.generic import peak_mixture, ring_positions

        demand = peak_mixture(ring_positions(k), [0.5, 3.0], [0.5, 0.5], [1.0, 1.0], 0.1)
        fam_params = {
            "free": {"logits": rng.normal(size=(n, k))},
            "vonmises": {"mu": rng.uniform(0, 6.28, n), "kappa": np.full(n, 2.0)},
            "signed": {"atoms": rng.normal(size=(n, k))},
        }[family]
        return Simulation.from_arrays(
            demand,
            profile=fam_params,
            topology=random_topology(n),
            config=sim_cfg,
            capability=rng.uniform(0.5, 1.5, (n, k)),
        )
    cfg["topology"] = mixing[1]
    sim = Simulation.from_config(cfg)
    sim.state.C = np.random.default_rng(seed + 1).uniform(0.5, 1.5, (n, k))
    return sim


def draws_for(sim):
    spec = sim.model.mode.spec
    if spec.draw is None:
        return {}
    return spec.draw(StepContext(sim.model, sim.state, sim.rng, kind="mode"))


COMBOS = []
for i, (family, mode, signal, mixing) in enumerate(itertools.product(FAMILIES, MODES, SIGNALS, MIXINGS)):
    extra = EXTRAS[i % len(EXTRAS)]
    if valid(family, mode, signal, extra):
        COMBOS.append((family, mode, signal, mixing, extra))


def assert_states_close(a, b, where):
    for key, x in a.arrays().items():
        y = b.arrays()[key]
        np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-12, err_msg=f"{where}: {key}")


@pytest.mark.parametrize(
    "family,mode,signal,mixing,extra",
    COMBOS,
    ids=[f"{c[0]}-{c[1]['name']}-{c[2]['name']}-{i}" for i, c in enumerate(COMBOS)],
)
def test_compiled_equals_reference_each_step(family, mode, signal, mixing, extra):
    from dps_core import compiled

    sim = build(family, mode, signal, mixing, extra)
    assert compiled.supports(sim.model)
    for t in range(4):
        d = draws_for(sim)
        ref, c_ref = reference.step(sim.model, sim.state, d)
        com, c_com = compiled.step(sim.model, sim.state, d)
        assert_states_close(ref, com, f"step {t}")
        assert c_com == pytest.approx(c_ref, rel=1e-10, abs=1e-12)
        sim.state = ref


@pytest.mark.parametrize(
    "family,mode,signal,mixing",
    [
        ("vonmises", MODES[0], SIGNALS[0], MIXINGS[0]),
        ("free", MODES[2], SIGNALS[3], MIXINGS[4]),
        ("signed", MODES[3], SIGNALS[2], MIXINGS[1]),
        ("free", MODES[5], SIGNALS[7], MIXINGS[3]),
        ("vonmises", MODES[1], SIGNALS[9], MIXINGS[2]),
        ("free", MODES[6], SIGNALS[8], MIXINGS[0]),
    ],
)
def test_bit_identical_for_one_and_two_threads(family, mode, signal, mixing):
    """N = 700 spans several 256-row blocks of the fixed-order column sums."""
    from dps_core import compiled

    results = []
    for threads in (1, 2):
        compiled.set_num_threads(threads)
        sim = build(family, mode, signal, mixing, {"learn": {"rate": 0.1}}, n=700, k=16, seed=4)
        sim.step(3)
        results.append(sim.state.arrays())
    compiled.set_num_threads(None)  # back to the policy's choice, as the other tests expect
    assert compiled.has_openmp(), "the extension was built without OpenMP"
    for key in results[0]:
        assert np.array_equal(results[0][key], results[1][key]), key


def test_simulation_uses_the_compiled_kernel_for_builtins_only():
    import os

    from dps_core import ModeSpec, hookimpl

    sim = build("vonmises", MODES[0], SIGNALS[0], MIXINGS[0], {})
    # compiled, unless DPS_PUREPYTHON forces the reference even though the extension exists
    forced = os.environ.get("DPS_PUREPYTHON", "") not in ("", "0")
    assert sim.backend == ("reference" if forced else "compiled")

    class P:
        dps_plugin_name = "p"

        @hookimpl
        def dps_register_modes(self, register):
            register(ModeSpec("still", lambda ctx: {}))

    other = Simulation.from_config({"mode": {"name": "p.still"}}, plugins=[P()])
    assert other.backend == "reference"


# the benchmark's three configurations (ring of degree 8, shared mixing, gradient mode), small
LONG_RUNS = [
    ("free", {"name": "coverage", "smoothing": 0.05}),
    ("vonmises", {"name": "coverage", "smoothing": 0.05}),
    ("signed", {"name": "residual"}),
]


def _ring_case(family, signal, n=300, k=16, seed=5, ones=False):
    """ones: capabilities all ones, as in the benchmarks (production not stored)."""
    sim = build(
        family,
        {"name": "gradient", "eta": 0.2},
        signal,
        ({"name": "shared", "gamma": 0.5}, {"name": "ring", "k": 4}),
        {},
        n=n,
        k=k,
        seed=seed,
    )
    if ones:
        sim.state.C = np.ones_like(sim.state.C)
    return sim


@pytest.mark.slow
@pytest.mark.parametrize("ones", [False, True], ids=["capabilities random", "capabilities all ones"])
@pytest.mark.parametrize("family,signal", LONG_RUNS, ids=[f"{f}-{s['name']}" for f, s in LONG_RUNS])
def test_compiled_stays_within_1e_12_of_reference_over_many_steps(family, signal, ones):
    """Two trajectories, each on its own kernel for 150 steps: rounding differences (the kernel's
    exponential, summation order, a multiplication by 1/tau) must not accumulate beyond 1e-12.
    With capabilities all ones the compiled step takes its short paths (production not stored)."""
    from dps_core import compiled

    ref = _ring_case(family, signal, ones=ones)
    com = _ring_case(family, signal, ones=ones)
    s_ref, s_com = ref.state, com.state
    for _ in range(150):
        s_ref, _ = reference.step(ref.model, s_ref, {})
        s_com, _ = compiled.step(com.model, s_com, {})
    assert_states_close(s_ref, s_com, "after 150 steps")
    moved = max(float(np.max(np.abs(s_ref.arrays()[k] - ref.state.arrays()[k]))) for k in ref.state.arrays())
    assert moved > 1e-3  # the comparison is not between two unchanged states


@pytest.mark.parametrize("family,signal", LONG_RUNS, ids=[f"{f}-{s['name']}" for f, s in LONG_RUNS])
def test_compiled_step_never_writes_into_a_live_state(family, signal):
    """Buffers are pooled and the new logits overwrite the profile buffer S: a state that is still
    referenced (here: every state of the run) must keep its values."""
    from dps_core import compiled

    sim = _ring_case(family, signal, n=5000, k=8)  # N*K above the pool's size threshold
    states = [sim.state]
    copies = [{k: v.copy() for k, v in sim.state.arrays().items()}]
    for _ in range(6):
        new, _ = compiled.step(sim.model, states[-1], {})
        states.append(new)
        copies.append({k: v.copy() for k, v in new.arrays().items()})
    for st, saved in zip(states, copies, strict=True):
        for key, arr in st.arrays().items():
            assert np.array_equal(arr, saved[key]), key


@pytest.mark.parametrize("family,signal", LONG_RUNS, ids=[f"{f}-{s['name']}" for f, s in LONG_RUNS])
def test_bit_identical_for_one_and_two_threads_without_learning(family, signal):
    """Without learning by doing the free family writes its new logits over S (a separate path)."""
    from dps_core import compiled

    results = []
    for threads in (1, 2):
        compiled.set_num_threads(threads)
        sim = _ring_case(family, signal, n=1500, k=16)
        sim.step(3)
        results.append(sim.state.arrays())
    compiled.set_num_threads(None)  # back to the policy's choice, as the other tests expect
    for key in results[0]:
        assert np.array_equal(results[0][key], results[1][key]), key


@pytest.mark.parametrize("family", FAMILIES)
def test_exponentials_beyond_the_clamp_equal_the_reference(family, isas):
    """A row whose exponential arguments all lie in [-708, 709] takes a shorter exponential that is
    wrong outside that range; the others take the clamped one. Logits 1000 apart in every other
    row, a von Mises concentration of 400 (arguments down to -800) in every other row and a coverage
    smoothing of 1e-6 (arguments of order 1e5) must still give the reference's arrays, on every
    instruction set, in rows of every block width (the range is checked in vectors and one by one)."""
    from dps_core import compiled

    for isa in isas:
        compiled.set_isa(isa)
        for smoothing in (1e-6, 0.05):
            sim = build(family, MODES[0], {"name": "coverage", "smoothing": smoothing}, MIXINGS[4], {}, n=12, k=WIDE_K)
            prof = sim.state.profile
            if family == "free":
                prof["logits"][::2, 0] += 1000.0
            elif family == "vonmises":
                prof["kappa"][::2] = 400.0
            for t in range(3):
                d = draws_for(sim)
                ref, _ = reference.step(sim.model, sim.state, d)
                com, _ = compiled.step(sim.model, sim.state, d)
                assert_states_close(ref, com, f"{isa}, smoothing {smoothing}, step {t}")
                sim.state = ref


def test_isa_names_the_instruction_set_the_kernel_runs():
    from dps_core import compiled

    names = ("avx512f", "x86-64-v3", "avx2", "x86-64 baseline", "portable C (no clones)")
    available = compiled.isas()
    assert compiled.isa() == available[0] and set(available) <= set(names)
    with pytest.raises(ValueError, match="'sse9'.*no such instruction set in this build; this machine runs"):
        compiled.set_isa("sse9")
    assert compiled.isa() == available[0]  # a refused choice changes nothing


ISA_COMBOS = COMBOS[::11]
# every block width of the row kernels (64, 32 or 16 tasks per block, then 8), then 5 single tasks: a
# remainder long enough for a compiler to vectorise it with narrower vectors (setup.py keeps it scalar)
WIDE_K = 77


@pytest.fixture
def isas():
    """Every instruction set this CPU runs the kernel with (the best one is restored afterwards)."""
    from dps_core import compiled

    available = compiled.isas()
    yield available
    compiled.set_isa(available[0])


def _on_every_isa(isas, make, steps):
    """Each instruction set's compiled trajectory of `steps` steps, every step checked against the
    reference's step from the same state; the final arrays by instruction set."""
    from dps_core import compiled

    out = {}
    for isa in isas:
        compiled.set_isa(isa)
        sim = make()
        for t in range(steps):
            d = draws_for(sim)
            ref, _ = reference.step(sim.model, sim.state, d)
            com, _ = compiled.step(sim.model, sim.state, d)
            assert_states_close(ref, com, f"{isa}, step {t}")
            sim.state = com
        out[isa] = sim.state.arrays()
    return out


def _assert_identical_where_promised(arrays):
    """Instruction sets said to give the same results (a run resumes between them unasked:
    backend.same_results, AVX-512 and x86-64-v3) give the same arrays bit for bit."""
    from dps_core.backend import same_results

    names = list(arrays)
    for i, isa in enumerate(names):
        for other in (o for o in names[i + 1 :] if same_results(isa, o)):
            for key, value in arrays[isa].items():
                assert np.array_equal(value, arrays[other][key], equal_nan=True), (isa, other, key)


@pytest.mark.parametrize(
    "family,mode,signal,mixing,extra",
    ISA_COMBOS,
    ids=[f"{c[0]}-{c[1]['name']}-{c[2]['name']}-{i}" for i, c in enumerate(ISA_COMBOS)],
)
def test_every_instruction_set_equals_the_reference(family, mode, signal, mixing, extra, isas):
    """Each instruction set's row kernels (vectors of 8, 4 or 2 doubles) equal the reference within
    1e-12 per step, and AVX-512 and x86-64-v3 give the same arrays bit for bit."""
    arrays = _on_every_isa(isas, lambda: build(family, mode, signal, mixing, extra, n=12, k=WIDE_K), 3)
    _assert_identical_where_promised(arrays)


@pytest.mark.parametrize("k", [WIDE_K, 64], ids=["every block width", "one AVX-512 block"])
@pytest.mark.parametrize("family,signal", LONG_RUNS, ids=[f"{f}-{s['name']}" for f, s in LONG_RUNS])
def test_every_instruction_set_runs_the_benchmark_configurations_alike(family, signal, k, isas):
    """The fused pass over a ring (the benchmarks' path) with rows wide enough for every block, and
    with rows of exactly one AVX-512 block (the mixing's and the profiles' paths for rows that fit
    in registers; x86-64-v3 and the baseline take their general paths)."""
    arrays = _on_every_isa(isas, lambda: _ring_case(family, signal, n=200, k=k), 4)
    _assert_identical_where_promised(arrays)


FUSED_CASES = [(f, m) for f in FAMILIES for m in MODES if not (m["name"] == "tatonnement" and f != "free")]


@pytest.mark.parametrize(
    "family,mode", FUSED_CASES, ids=[f"{f}-{m['name']}-{i}" for i, (f, m) in enumerate(FUSED_CASES)]
)
def test_fused_pass_equals_the_three_passes_bit_for_bit(family, mode):
    """On a ring (small bandwidth, wrapping around) the step runs as one fused pass over tiles of
    agents; it must give exactly the arrays of the three separate passes, for every signal it
    runs, with both mixing directions (shared: gather A, scatter A^T; conservative: the reverse).
    Tiles of at most 32 agents: four or more, whose halos cross each other's edges and the ring's wrap."""
    from dps_core import compiled

    n = 120
    tile = compiled.TILE
    compiled.TILE = 32
    try:
        for j, signal in enumerate(s for s in SIGNALS if s["name"] != "interaction"):
            extra = EXTRAS[j % len(EXTRAS)]
            if not valid(family, mode, signal, extra):
                extra = {}
            mixing = ({"name": ("shared", "conservative")[j % 2], "gamma": 0.6}, {"name": "ring", "k": 3})
            results = []
            for fused in (True, False):
                compiled.FUSED = fused
                sim = build(family, mode, signal, mixing, extra, n=n, k=13, seed=j)
                plan = compiled._plan(sim.model)
                tiles = compiled._fused_tile(plan, n)
                assert (0 < tiles <= 32) if fused else tiles == 0, "the case must exercise the fused pass"
                sim.step(3)
                results.append(sim.state.arrays())
            for key in results[0]:
                assert np.array_equal(results[0][key], results[1][key], equal_nan=True), (signal, extra, key)
    finally:
        compiled.FUSED = True
        compiled.TILE = tile


# the default model (capabilities all ones, alpha = 1: production is never stored) updates each
# agent in the kernel's short path (update_lean); every mode it takes, with and without noise
LEAN_CASES = [
    (family, mode, extra)
    for family in FAMILIES
    for mode in MODES[:3]  # gradient (weights follow eta_w), selfish (weights kept), replicator (upkeep)
    for extra in ({}, {"mode_noise": 0.05})
]


@pytest.mark.parametrize("fused", [True, False], ids=["fused pass", "three passes"])
@pytest.mark.parametrize(
    "family,mode,extra",
    LEAN_CASES,
    ids=[f"{f}-{m['name']}-{'noise' if e else 'quiet'}" for f, m, e in LEAN_CASES],
)
def test_capabilities_all_ones_equal_the_reference_on_every_instruction_set(family, mode, extra, fused, isas):
    """Without stored production the update of every agent takes the kernel's short path; it must
    equal the reference within 1e-12 per step (weights, payoffs, changes and profiles alike), on
    every instruction set, in the fused pass over a ring and in the three passes."""
    from dps_core import compiled

    mixing = ({"name": "shared", "gamma": 0.6}, {"name": "ring", "k": 3})

    def make():
        sim = build(family, mode, SIGNALS[0], mixing, extra, n=150, k=16, seed=7)
        sim.state.C = np.ones_like(sim.state.C)
        plan = compiled._plan(sim.model)
        assert not compiled._path(sim.model, plan, sim.state.C, 1)[1], "production must not be stored"
        return sim

    compiled.FUSED = fused
    try:
        _assert_identical_where_promised(_on_every_isa(isas, make, 3))
    finally:
        compiled.FUSED = True


@pytest.mark.parametrize("fused", [True, False], ids=["fused pass", "three passes"])
def test_no_memory_for_scratch_rows_stops_the_step_in_one_line_with_the_state_unchanged(fused):
    """Each thread of a compiled step allocates a few scratch rows; when one cannot, the step must
    stop with a ResourceError naming the kernel's pass (not crash on a NULL row), leave the state as
    it was, and step exactly as an untouched copy once memory is back."""
    from dps_core import compiled
    from dps_core.errors import ResourceError

    mixing = ({"name": "shared", "gamma": 0.6}, {"name": "ring", "k": 3})
    sims = [build("free", MODES[0], SIGNALS[0], mixing, {}, n=120, k=13, seed=3) for _ in range(2)]
    assert sims[0].backend == "compiled"
    compiled.FUSED = fused
    try:
        assert (compiled._fused_tile(compiled._plan(sims[0].model), 120) > 0) == fused
        before = {key: value.copy() for key, value in sims[0].state.arrays().items()}
        compiled._kernel._refuse_scratch(True)
        try:
            with pytest.raises(ResourceError, match="compiled kernel .*no memory for its scratch rows") as err:
                sims[0].step(1)
        finally:
            compiled._kernel._refuse_scratch(False)
        assert "\n" not in str(err.value)
        assert ("fused pass" in str(err.value)) == fused
        for key, value in sims[0].state.arrays().items():
            assert np.array_equal(value, before[key]), key
        for sim in sims:
            sim.step(2)
    finally:
        compiled.FUSED = True
    for key, value in sims[0].state.arrays().items():
        assert np.array_equal(value, sims[1].state.arrays()[key]), key
