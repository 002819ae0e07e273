"""Drives the compiled kernel (`dps_core._kernel`) for models built from the core's modes and signals.

`step` has exactly the semantics of `dps_core.reference.step`: the O(N*K) work runs in three fused
Cython passes (produce; gather + signal; scatter + update + learning), while O(N) and O(K) work
(budget projection, dispersal, demand scale) stays in NumPy; on graphs of small bandwidth the three
passes run as one fused pass over tiles of agents (same results bit for bit). Scratch arrays are prepared once per
model and kept in `model.cache`; every state array of the new step is a fresh buffer. The scalar
parameters reach the kernel as one struct (`_kernel.Params`), filled from the table in
`compiled_binding.py`.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from . import _kernel, compiled_binding, threads
from .budget import project
from .reference import nan_max
from .signals import _demand_scale
from .state import State

__all__ = [
    "supports",
    "unsupported",
    "step",
    "step_bytes",
    "set_num_threads",
    "get_num_threads",
    "has_openmp",
    "arithmetic",
    "isa",
    "isas",
    "set_isa",
]

BLOCK = 256
# the fused pass (produce, gather + signal, scatter + update in one sweep over tiles of agents) runs
# when both mixing operators join only nodes at most MAX_BAND apart (cyclically) in total: rings,
# lattices and other graphs of small bandwidth in row order. FUSED = False forces the three passes
# (the tests compare both; the results are the same bit for bit).
FUSED = True
MAX_BAND = 64
TILE = 4096

set_num_threads = threads.set_num_threads  # a request that the thread policy (threads.py) caps
get_num_threads = _kernel.get_num_threads
has_openmp = _kernel.has_openmp
arithmetic = _kernel.arithmetic
isa = _kernel.isa
isas = _kernel.isas
set_isa = _kernel.set_isa

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)
_DUMMY2 = np.zeros((1, 1))  # stands in for a 2-D array the chosen branch never reads


def unsupported(model) -> str:
    """Why the compiled kernel cannot step this model ('' when it can): a mode or signal that is
    not a compiled built-in (plugin code is NumPy), or a parameter the binding table does not
    account for (the model then steps with the reference kernel; see compiled_binding.py)."""
    return compiled_binding.unbound(model.mode) or compiled_binding.unbound(model.signal)


def supports(model) -> bool:
    """True when the compiled kernel runs every parameter of the model's mode and signal."""
    return not unsupported(model)


class _Mix:
    """One direction of a mixing operator as the kernel takes it: a_i X_i + gamma (P X)_i for a
    CSR P, or a X_i + b colsum(X) in closed form."""

    def __init__(self, csr, a, b, gamma, P=None):
        self.csr = csr
        self.a = np.ascontiguousarray(a, dtype=np.float64)
        self.b = float(b)
        self.gamma = float(gamma)
        if P is None:
            self.indptr, self.indices, self.data = np.zeros(len(self.a) + 1, np.int64), _EMPTY_I, _EMPTY_F
        else:
            # views of the operator's own arrays when their types already fit (no copy of the graph)
            self.indptr = np.ascontiguousarray(P.indptr, dtype=np.int64)
            self.indices = np.ascontiguousarray(P.indices, dtype=np.int64)
            self.data = np.ascontiguousarray(P.data, dtype=np.float64)

    def args(self):
        return (self.csr, self.a, self.b, self.gamma, self.indptr, self.indices, self.data)


class _Plan:
    """Everything the kernel needs that is fixed for a model."""

    def __init__(self, model):
        mix = model.mixing
        n, k = model.n_agents, model.n_tasks
        g = mix.gamma
        if mix.name == "mean_field":
            self.gather = self.scatter = _Mix(False, np.full(n, 1.0 - g), g * mix.c, 0.0)
        elif mix.topology.kind == "complete":
            others = g / (n - 1) if n > 1 else 0.0
            a = 1.0 - others if mix.name == "shared" else (1.0 - g - others if n > 1 else 1.0)
            self.gather = self.scatter = _Mix(False, np.full(n, a), others, 0.0)
        elif mix.name == "shared":
            self.gather = _Mix(True, np.ones(n), 0.0, g, mix.A)
            self.scatter = _Mix(True, np.ones(n), 0.0, g, mix.AT)
        else:
            a = 1.0 - mix.m
            self.gather = _Mix(True, a, 0.0, g, mix.AT)
            self.scatter = _Mix(True, a, 0.0, g, mix.A)
        self.colsums = not self.gather.csr
        self.band_g = self.band_s = -1  # -1: not a CSR pair, no fused pass
        if self.gather.csr and self.scatter.csr:
            self.band_g = _band(self.gather, n)
            self.band_s = _band(self.scatter, n) if model.mode.spec.scatter else 0
        self.partial = np.zeros((max(1, math.ceil(n / BLOCK)), k))
        self.S = np.empty((n, k))
        self.Y = np.empty((n, k))
        self.G = np.empty((n, k))
        self.col_y = np.zeros(k)
        self.col_g = np.zeros(k)
        self.pool: dict[tuple, list] = {}
        self.payoff = np.empty(n)
        self.change = np.empty(n)
        self.diag = np.ascontiguousarray(mix.diagonal(), dtype=np.float64)
        self.comm = np.ascontiguousarray(mix.comm, dtype=np.float64)
        self.cx = np.cos(model.task_positions)
        self.sx = np.sin(model.task_positions)
        sig = model.signal
        self.interaction = sig.name == "interaction"
        if self.interaction:
            self.Z = np.empty((n, k))
            self.col_z = np.zeros(k)
            topo = model.topology
            if not sig.params.use_topology:  # B = self_interaction * I: a CSR without edges
                self.B = (True, np.zeros(n + 1, np.int64), _EMPTY_I, _EMPTY_F)
            elif topo.kind == "complete":
                self.B = (False, np.zeros(n + 1, np.int64), _EMPTY_I, _EMPTY_F)
            else:
                self.B = (
                    True,
                    np.ascontiguousarray(topo.indptr, dtype=np.int64),
                    np.ascontiguousarray(topo.indices, dtype=np.int64),
                    np.ascontiguousarray(topo.data, dtype=np.float64),
                )
        else:
            self.Z = _DUMMY2
        self.params = _fixed_params(model)
        self.demand_scale = compiled_binding.SIGNALS[sig.name].demand_scale


def _band(mix: _Mix, n: int) -> int:
    """The largest cyclic distance min(|i - j|, n - |i - j|) between the nodes an operator's edges join."""
    if len(mix.indices) == 0:
        return 0
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(mix.indptr))
    d = np.abs(mix.indices - rows)
    return int(np.max(np.minimum(d, n - d)))


def _fused_tile(plan: _Plan, n: int, n_threads: int = 1) -> int:
    """Agents per tile of the fused pass, or 0 when the three separate passes run: the operators
    must be CSR of small bandwidth, and a tile must be at least four times its halo on each side.
    At most TILE agents, and small enough that every thread gets about four tiles, the same number
    for each thread (the tiling does not change the results, only how the work is shared). A tile
    also computes its halo's rows, 2 (band_g + band_s) profiles and 2 band_s signals: on the
    benchmarks' ring 0.4 % and 0.2 % more rows at 4096 agents (1.6 % and 0.8 % at 1024)."""
    if not FUSED or plan.interaction or plan.band_g < 0:
        return 0
    halo = plan.band_g + plan.band_s
    shares = max(1, n_threads)
    tile = min(TILE, n - 2 * halo, -(-n // (4 * shares)))
    if tile < 1:
        return 0
    count = -(-n // tile)
    count = -(-count // shares) * shares  # static shares of equal size
    tile = -(-n // count)
    if halo > MAX_BAND or tile < 4 * max(halo, 1):
        return 0
    return tile


def _fixed_params(model) -> dict:
    """The kernel's parameter fields that are fixed for a model: every field a mode or signal can
    set (0 where this model's do not), the model's constants, and this mode's and signal's values
    from the binding table."""
    cfg = model.config
    fam = model.family
    vonmises = fam.name == "vonmises"
    lc = cfg.learn
    return {
        **dict.fromkeys(compiled_binding.fields(), 0),
        "family": compiled_binding.FAMILY[fam.name],
        "alpha": model.alpha,
        "dt": model.dt,
        "lam_r": cfg.penalty.resource,
        "lam_c": cfg.penalty.communication,
        "lam_s": cfg.penalty.specialisation,
        "learn": lc.rate != 0 or lc.forget != 0,
        "learn_rate": lc.rate,
        "forget": lc.forget,
        "cmax": lc.max,
        "kappa_min": fam.kappa_min if vonmises else 0.0,
        "kappa_max": fam.kappa_max if vonmises else 0.0,
        "scatter": model.mode.spec.scatter,
        **compiled_binding.fill(model.mode),
        **compiled_binding.fill(model.signal),
    }


def _refcounts(pool: list) -> list[int]:
    return [sys.getrefcount(a) for a in pool]


# what _refcounts reports for an array that only a pool holds (calibrated, not assumed: the
# interpreter decides how many temporary references the check itself adds)
_UNREFERENCED = _refcounts([np.empty(1)])[0]


def _fresh(plan: _Plan, like: np.ndarray) -> np.ndarray:
    """An array for the new state: a pooled one that nothing else references any more (a state
    two steps old that the engine dropped), else a new one. Reusing buffers avoids the page
    faults of fresh large allocations, which serialise the threads."""
    if like.size < 4096:
        return np.empty_like(like)
    pool = plan.pool.setdefault(like.shape, [])
    for arr, count in zip(pool, _refcounts(pool), strict=False):
        if count == _UNREFERENCED:
            return arr
    arr = _aligned_empty(like.shape)
    if len(pool) < 4:
        pool.append(arr)
    return arr


def _aligned_empty(shape: tuple) -> np.ndarray:
    """An uninitialised float64 array whose data starts on a 64-byte boundary (NumPy's own start
    16 bytes into a page), so that the kernel can store its rows with aligned streaming stores."""
    size = math.prod(shape)
    buf = np.empty(size + 8)
    start = (-buf.ctypes.data % 64) // 8
    return buf[start : start + size].reshape(shape)


def _plan(model) -> _Plan:
    plan = model.cache.get("compiled")
    if plan is None:
        plan = model.cache["compiled"] = _Plan(model)
    return plan


def _path(model, plan: _Plan, C: np.ndarray, n_threads: int) -> tuple[bool, bool, int, bool]:
    """How a step runs for this model: (capabilities all ones, production stored, tile of the fused
    pass or 0 for the three passes, new free logits written over S)."""
    c_ones = False
    if not plan.params["learn"]:  # C is constant: check once whether it is all ones (then it is never read)
        known = model.cache.get("c_ones")
        if known is None or known[0] is not C:
            known = model.cache["c_ones"] = (C, bool(np.all(C == 1.0)))
        c_ones = known[1]
    # with alpha = 1 and capabilities all ones, Y = w S is never stored: the gather scales S by w;
    # signed atoms are their own profiles, so then nothing at all is produced
    store_y = not (model.alpha == 1.0 and c_ones)
    tile = _fused_tile(plan, model.n_agents, n_threads)
    # free profiles: the new logits overwrite S row by row (agent i's row of S is read only by
    # agent i's update, before it is written), which saves one N x K array; not with learning by
    # doing, which reads S after the update. S is then a pooled buffer, since it becomes the state.
    s_is_new = model.family.name == "free" and not plan.params["learn"] and not tile
    return c_ones, store_y, tile, s_is_new


def step_bytes(model, state: State) -> int:
    """Bytes a step adds to the built model (state, graph and plan) on the path it takes: the new
    state's N x K arrays, the N x K arrays the three separate passes hand on (S, G, and Y or Z where
    stored; the fused pass keeps them in per-thread rows) and the per-agent arrays. The memory
    check before the first step counts this (docs/performance.md, "Memory")."""
    plan = _plan(model)
    n, k = model.n_agents, model.n_tasks
    fam = model.family.name
    learn = plan.params["learn"]
    _c_ones, store_y, tile, s_is_new = _path(model, plan, state.C, threads.for_size(n, k))
    arrays = (fam != "vonmises") + learn + (model.signal.name == "price")  # new logits or atoms, C, prices
    if not tile:
        arrays += 1 + store_y + plan.interaction  # G, Y, Z
        arrays += not s_is_new and not (fam == "signed" and not store_y)  # S, unless it is the new logits or the atoms
    return 8 * n * (arrays * k + 8)


def step(model, state: State, draws: dict) -> tuple[State, float]:
    """One step of the built-in model in the compiled kernel (same contract as reference.step)."""
    plan = _plan(model)
    cfg = model.config
    fam = model.family.name
    n, _k = model.n_agents, model.n_tasks
    _kernel.set_num_threads(threads.for_size(n, _k))
    prof = state.profile
    P = prof.get("logits", prof.get("atoms"))
    P = P if P is not None else _DUMMY2
    mu = prof.get("mu", _EMPTY_F)
    kappa = prof.get("kappa", _EMPTY_F)
    C = state.C
    fixed = plan.params
    learn = fixed["learn"]
    c_ones, store_y, tile, s_is_new = _path(model, plan, C, _kernel.get_num_threads())
    D = state.demand
    noise_key = "noise/" + ("mu" if fam == "vonmises" else model.family.params[0])
    xi = draws.get(noise_key)
    has_noise = xi is not None and fixed["noise"] != 0.0
    prm = _kernel.Params(
        {
            **fixed,
            "demand_scale": _demand_scale(D) if plan.demand_scale else 1.0,
            "has_noise": has_noise,
            "store_y": store_y,
            "c_ones": c_ones,
            "s_is_new": s_is_new,
        }
    )
    price_signal = model.signal.name == "price"
    price = price_new = _DUMMY2
    if price_signal:
        price = state.extras["signal.price"]
    mode = model.mode
    if tile:  # S, Y and G live in the fused pass's ring buffers
        S = P
    elif fam == "signed" and not store_y:
        S = P
    elif s_is_new:
        S = _fresh(plan, P)
    else:
        S = plan.S
    if not tile:
        if S is not P or store_y:
            _kernel.produce(prm, P, mu, kappa, plan.cx, plan.sx, state.w, C, S, plan.Y)
        X, xscale = (plan.Y, _EMPTY_F) if store_y else (S, state.w)
        if plan.colsums:
            _kernel.colsum(X, plan.col_y, plan.partial, xscale)
        if price_signal:
            price_new = _fresh(plan, price)
        _kernel.gather_signal(
            *plan.gather.args(), X, xscale, plan.col_y, D, prm, price, price_new, plan.G, plan.Z, plan.interaction
        )
        if plan.interaction:
            if not plan.B[0]:
                _kernel.colsum(plan.Z, plan.col_z, plan.partial, _EMPTY_F)
            _kernel.interaction_signal(plan.B[0], prm, plan.Z, plan.col_z, plan.B[1], plan.B[2], plan.B[3], D, plan.G)
        if mode.spec.scatter and plan.colsums:
            _kernel.colsum(plan.G, plan.col_g, plan.partial, _EMPTY_F)
    elif price_signal:
        price_new = _fresh(plan, price)

    P_new = S if s_is_new else (_fresh(plan, P) if fam != "vonmises" else _DUMMY2)
    mu_new = _fresh(plan, mu)
    kappa_new = _fresh(plan, kappa)
    w_new = np.empty(n)
    noise2 = xi if (xi is not None and has_noise and xi.ndim == 2) else _DUMMY2
    noise1 = xi if (xi is not None and has_noise and xi.ndim == 1) else _EMPTY_F
    C_new = _fresh(plan, C) if learn else _DUMMY2
    u = state.extras.get("mode.u", _EMPTY_F)
    u_new = np.empty_like(u)
    per_agent = (
        P,
        mu,
        kappa,
        plan.cx,
        plan.sx,
        state.w,
        C,
        plan.comm,
        state.extras.get("mode.upkeep", _EMPTY_F),
        noise2,
        noise1,
        plan.diag,
        u,
        u_new,
        C_new,
        P_new,
        mu_new,
        kappa_new,
        w_new,
        plan.payoff,
        plan.change,
    )
    if tile:
        g, sc = plan.gather, plan.scatter
        _kernel.fused(
            prm,
            plan.band_g,
            plan.band_s,
            tile,
            g.a,
            g.gamma,
            g.indptr,
            g.indices,
            g.data,
            sc.a,
            sc.gamma,
            sc.indptr,
            sc.indices,
            sc.data,
            D,
            price,
            price_new,
            *per_agent,
        )
    else:
        _kernel.update(prm, *plan.scatter.args(), plan.G, plan.col_g, S, plan.Y, *per_agent)
    imitation = mode.name == "imitation"
    if imitation:  # the payoffs of all agents are needed before anyone copies
        _kernel.imitate(
            prm,
            plan.payoff,
            draws["partner"],
            draws["u"],
            P,
            mu,
            kappa,
            noise2,
            noise1,
            P_new,
            mu_new,
            kappa_new,
            plan.change,
        )
        w_new = state.w.copy()

    if fam == "free":
        profile = {"logits": P_new}
    elif fam == "signed":
        profile = {"atoms": P_new}
    else:
        profile = {"mu": mu_new, "kappa": kappa_new}
    w = w_new
    if not mode.spec.signed_resources:
        b = cfg.budget
        w = project(w, b.kind, model.budget_value, model.costs, b.equality)
    w = model.disperse(w)
    extras = dict(state.extras)
    changes = [float(np.max(plan.change)) if n else 0.0, float(np.max(np.abs(w - state.w))) if n else 0.0]
    if mode.name == "lca":
        extras["mode.u"] = u_new
    if price_signal:
        extras["signal.price"] = price_new
        changes.append(float(np.max(np.abs(price_new - price))))
    new = State(profile, w, C_new if learn else C, D, extras, state.step + 1, state.time + model.dt)
    return new, nan_max(changes) / model.dt
