"""Independent implementations of the benchmark's step, to measure dps against in the same process.

Each implements one step of the `gradient` mode (eta_w = 0, no noise, no penalties, capabilities
all ones, alpha = 1, budget `none`) with `shared` mixing on a sparse graph, for the three benchmark
configurations, written from the model's equations rather than from dps's code:

    S = profile(params)          softmax(L) | von Mises(mu, kappa) | atoms A
    Y = w S                      production
    Z = Y + gamma A_hat Y        supply seen (A_hat row-normalised adjacency)
    G = expit((D - Z) / tau)     coverage   |   G = D - Z   residual
    H = G + gamma A_hat^T G      scatter
    T = H Y (non-negative) or H w (signed)
    L' = L + dt eta (T - S sum_k T)                        free
    mu' = mu + dt eta kappa (sum T sin(x - mu) - sum T sum S sin(x - mu)) mod 2 pi    von Mises
    A' = normalise(A + dt eta (T - (T.A) A))               signed

and the step's largest change per unit time. `IdiomaticNumpy` writes it the way a NumPy user
would (fresh temporaries, scipy.sparse products); `InPlaceNumpy` keeps every N x K buffer across
steps, and the sparse products accumulate into kept buffers through SciPy's CSR routine; `MesaAgents` keeps
one Python object per agent (Mesa 3's `Agent`/`AgentSet`), which is how agent-based models are
commonly written; it is only built when `mesa` imports.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

try:  # the routine behind scipy.sparse's CSR x dense product, which accumulates into a given array
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - depends on the SciPy version
    _csr_matvecs = None


class Problem:
    """The inputs of one benchmark step, read once from a dps Simulation (data, not code)."""

    def __init__(self, sim, family: str, signal: str):
        m, s = sim.model, sim.state
        self.family, self.signal = family, signal
        self.n, self.k = m.n_agents, m.n_tasks
        self.gamma = m.mixing.gamma
        self.dt = m.dt
        self.eta = m.mode.params.eta
        self.x = np.asarray(m.task_positions, dtype=np.float64)
        self.D = np.asarray(s.demand, dtype=np.float64)
        pos = self.D[self.D > 0]
        self.tau = m.signal.params.smoothing * float(pos.mean()) if signal == "coverage" else 0.0
        self.kappa_bounds = (m.family.kappa_min, m.family.kappa_max) if family == "vonmises" else None
        topo = m.topology
        adj = sp.csr_matrix((topo.data, topo.indices, topo.indptr), shape=(self.n, self.n))
        deg = np.asarray(adj.sum(axis=1)).ravel()
        self.A = sp.csr_matrix(sp.diags(1.0 / np.where(deg > 0, deg, 1.0)) @ adj)  # row-normalised
        self.AT = sp.csr_matrix(self.A.T)
        self.w = np.array(s.w, dtype=np.float64)
        self.params = {k: np.array(v) for k, v in s.profile.items()}


def _profile(p: Problem, params: dict) -> np.ndarray:
    if p.family == "free":
        L = params["logits"]
        E = np.exp(L - L.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)
    if p.family == "vonmises":
        mu, kappa = params["mu"], params["kappa"]
        E = np.exp(kappa[:, None] * (np.cos(p.x[None, :] - mu[:, None]) - 1.0))
        return E / E.sum(axis=1, keepdims=True)
    return params["atoms"]


class IdiomaticNumpy:
    """The step as a NumPy user writes it: whole-array expressions, fresh temporaries."""

    name = "idiomatic NumPy"

    def __init__(self, p: Problem):
        self.p = p

    def step(self, params: dict, w: np.ndarray) -> tuple[dict, np.ndarray, float]:
        p = self.p
        S = _profile(p, params)
        Y = w[:, None] * S
        Z = Y + p.gamma * (p.A @ Y)
        G = expit((p.D - Z) / p.tau) if p.signal == "coverage" else p.D - Z
        H = G + p.gamma * (p.AT @ G)
        step = p.dt * p.eta
        if p.family == "free":
            L = params["logits"]
            T = H * Y
            new = {"logits": L + step * (T - S * T.sum(axis=1, keepdims=True))}
            change = np.abs(new["logits"] - L).max()
        elif p.family == "vonmises":
            mu, kappa = params["mu"], params["kappa"]
            T = H * Y
            d = p.x[None, :] - mu[:, None]
            sin = np.sin(d)
            g_mu = kappa * ((T * sin).sum(axis=1) - T.sum(axis=1) * (S * sin).sum(axis=1))
            mu_new = np.mod(mu + step * g_mu, 2 * math.pi)
            kappa_new = np.clip(kappa, *p.kappa_bounds)
            new = {"mu": mu_new, "kappa": kappa_new}
            change = max(np.abs(mu_new - mu).max(), np.abs(kappa_new - kappa).max())
        else:
            A = params["atoms"]
            T = H * w[:, None]
            B = A + step * (T - (T * A).sum(axis=1, keepdims=True) * A)
            B = B / np.sqrt((B * B).sum(axis=1, keepdims=True))
            new = {"atoms": B}
            change = np.abs(B - A).max()
        w_new = np.maximum(w, 0.0)
        change = max(change, np.abs(w_new - w).max())
        return new, w_new, change / p.dt


class InPlaceNumpy:
    """The step with every N x K buffer allocated once and all arithmetic written into it
    (`out=`), including the sparse products; only the new state is a new array."""

    name = "in-place NumPy"

    def __init__(self, p: Problem):
        self.p = p
        n, k = p.n, p.k
        f = np.empty
        self.S, self.Y, self.Z, self.G, self.H, self.T, self.tmp = (f((n, k)) for _ in range(7))
        self.out = f((n, k))
        self.r1, self.r2, self.r3 = f((n, 1)), f((n, 1)), f((n, 1))
        self.v1, self.v2 = f(n), f(n)
        self.cosx, self.sinx = np.cos(p.x), np.sin(p.x)

    def _mix(self, M, X, out):
        """out = X + gamma M X, the sparse product accumulated into `out` by SciPy's own CSR routine
        (what `M @ X` calls, without allocating the result)."""
        out.fill(0.0)
        if _csr_matvecs is not None:
            _csr_matvecs(M.shape[0], M.shape[1], X.shape[1], M.indptr, M.indices, M.data, X.ravel(), out.ravel())
        else:  # SciPy moved its private routine: fall back to the allocating product
            np.copyto(out, M @ X)
        np.multiply(out, self.p.gamma, out=out)
        np.add(out, X, out=out)
        return out

    def step(self, params: dict, w: np.ndarray) -> tuple[dict, np.ndarray, float]:
        p = self.p
        S, Y, Z, G, H, T = self.S, self.Y, self.Z, self.G, self.H, self.T
        r1, r2 = self.r1, self.r2
        if p.family == "free":
            L = params["logits"]
            np.max(L, axis=1, keepdims=True, out=r1)
            np.subtract(L, r1, out=S)
            np.exp(S, out=S)
            np.sum(S, axis=1, keepdims=True, out=r1)
            np.divide(S, r1, out=S)
        elif p.family == "vonmises":
            mu, kappa = params["mu"], params["kappa"]
            np.subtract(p.x[None, :], mu[:, None], out=S)
            np.cos(S, out=S)
            np.subtract(S, 1.0, out=S)
            np.multiply(S, kappa[:, None], out=S)
            np.exp(S, out=S)
            np.sum(S, axis=1, keepdims=True, out=r1)
            np.divide(S, r1, out=S)
        else:
            S = params["atoms"]
        np.multiply(S, w[:, None], out=Y)
        self._mix(p.A, Y, Z)
        np.subtract(p.D, Z, out=G)
        if p.signal == "coverage":
            np.divide(G, p.tau, out=G)
            expit(G, out=G)
        self._mix(p.AT, G, H)
        step = p.dt * p.eta
        if p.family == "free":
            L = params["logits"]
            np.multiply(H, Y, out=T)
            np.sum(T, axis=1, keepdims=True, out=r1)
            np.multiply(S, r1, out=self.tmp)
            np.subtract(T, self.tmp, out=T)
            out = np.empty_like(L)  # the new state is a new array (the old one stays valid)
            np.multiply(T, step, out=T)
            np.add(L, T, out=out)
            np.subtract(out, L, out=T)
            np.abs(T, out=T)
            change = T.max()
            new = {"logits": out}
        elif p.family == "vonmises":
            mu, kappa = params["mu"], params["kappa"]
            np.multiply(H, Y, out=T)
            np.subtract(p.x[None, :], mu[:, None], out=self.tmp)
            np.sin(self.tmp, out=self.tmp)  # sin(x_k - mu_i)
            np.multiply(S, self.tmp, out=H)
            np.sum(H, axis=1, keepdims=True, out=r1)  # sum S sin
            np.sum(T, axis=1, keepdims=True, out=r2)  # sum T
            np.multiply(T, self.tmp, out=H)
            np.sum(H, axis=1, keepdims=True, out=self.r3)  # sum T sin
            np.multiply(r1, r2, out=r1)
            np.subtract(self.r3, r1, out=r1)
            mu_new = mu + step * (kappa * r1[:, 0])
            np.mod(mu_new, 2 * math.pi, out=mu_new)
            kappa_new = np.clip(kappa, *p.kappa_bounds)
            np.subtract(mu_new, mu, out=self.v1)
            change = max(np.abs(self.v1).max(), np.abs(kappa_new - kappa).max())
            new = {"mu": mu_new, "kappa": kappa_new}
        else:
            A = params["atoms"]
            np.multiply(H, w[:, None], out=T)
            np.multiply(T, A, out=self.tmp)
            np.sum(self.tmp, axis=1, keepdims=True, out=r1)
            np.multiply(A, r1, out=self.tmp)
            np.subtract(T, self.tmp, out=T)
            out = np.empty_like(A)
            np.multiply(T, step, out=T)
            np.add(A, T, out=out)
            np.multiply(out, out, out=self.tmp)
            np.sum(self.tmp, axis=1, keepdims=True, out=r1)
            np.sqrt(r1, out=r1)
            np.divide(out, r1, out=out)
            np.subtract(out, A, out=T)
            np.abs(T, out=T)
            change = T.max()
            new = {"atoms": out}
        w_new = np.maximum(w, 0.0)
        change = max(change, np.abs(w_new - w).max())
        return new, w_new, change / p.dt


class MesaAgents:
    """One Python object per agent, as in a Mesa 3 model: each agent keeps its own K-vectors and
    its neighbour list, and the model runs the stages agent by agent through an AgentSet."""

    name = "Mesa agents"

    def __init__(self, p: Problem):
        import mesa

        self.p = p

        class Worker(mesa.Agent):
            def __init__(self, model, index):
                super().__init__(model)
                self.index = index

        self.model = mesa.Model(seed=0)
        self.workers = [Worker(self.model, i) for i in range(p.n)]
        for i, a in enumerate(self.workers):
            lo, hi = p.A.indptr[i], p.A.indptr[i + 1]
            a.gather_from = [
                (self.workers[j], p.gamma * v) for j, v in zip(p.A.indices[lo:hi], p.A.data[lo:hi], strict=True)
            ]
            lo, hi = p.AT.indptr[i], p.AT.indptr[i + 1]
            a.scatter_from = [
                (self.workers[j], p.gamma * v) for j, v in zip(p.AT.indices[lo:hi], p.AT.data[lo:hi], strict=True)
            ]
        self.agents = self.model.agents

    def step(self, params: dict, w: np.ndarray) -> tuple[dict, np.ndarray, float]:
        p = self.p
        fam = p.family
        step = p.dt * p.eta
        D = p.D[0]
        for a in self.workers:  # load this step's parameters into the agents
            i = a.index
            a.w = w[i]
            if fam == "vonmises":
                a.mu, a.kappa = params["mu"][i], params["kappa"][i]
            else:
                a.param = params["logits" if fam == "free" else "atoms"][i]

        def produce(a):
            if fam == "free":
                e = np.exp(a.param - a.param.max())
                a.S = e / e.sum()
            elif fam == "vonmises":
                e = np.exp(a.kappa * (np.cos(p.x - a.mu) - 1.0))
                a.S = e / e.sum()
            else:
                a.S = a.param
            a.Y = a.w * a.S

        def signal(a):
            z = a.Y.copy()
            for b, v in a.gather_from:
                z += v * b.Y
            a.G = expit((D - z) / p.tau) if p.signal == "coverage" else D - z

        def update(a):
            h = a.G.copy()
            for b, v in a.scatter_from:
                h += v * b.G
            if fam == "free":
                t = h * a.Y
                a.new = a.param + step * (t - a.S * t.sum())
                a.change = np.abs(a.new - a.param).max()
            elif fam == "vonmises":
                t = h * a.Y
                s = np.sin(p.x - a.mu)
                mu = (a.mu + step * a.kappa * ((t * s).sum() - t.sum() * (a.S * s).sum())) % (2 * math.pi)
                kappa = min(max(a.kappa, p.kappa_bounds[0]), p.kappa_bounds[1])
                a.new = (mu, kappa)
                a.change = max(abs(mu - a.mu), abs(kappa - a.kappa))
            else:
                t = h * a.w
                b = a.param + step * (t - (t * a.param).sum() * a.param)
                a.new = b / math.sqrt((b * b).sum())
                a.change = np.abs(a.new - a.param).max()

        self.agents.do(produce)
        self.agents.do(signal)
        self.agents.do(update)
        if fam == "vonmises":
            new = {
                "mu": np.array([a.new[0] for a in self.workers]),
                "kappa": np.array([a.new[1] for a in self.workers]),
            }
        else:
            new = {"logits" if fam == "free" else "atoms": np.array([a.new for a in self.workers])}
        w_new = np.maximum(w, 0.0)
        change = max(max(a.change for a in self.workers), float(np.abs(w_new - w).max()))
        return new, w_new, change / p.dt


def mesa_available() -> bool:
    """True if Mesa 3 (with `Agent(model)` and AgentSet.do) imports."""
    try:
        import mesa
    except ImportError:
        return False
    return int(mesa.__version__.split(".")[0]) >= 3
