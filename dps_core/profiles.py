"""Skill-profile families: the parameters are the state, the profile S (N x K) is derived.

- `free`: logits L, S = softmax(L) row-wise (a non-negative density over tasks).
- `vonmises`: centre mu_i and concentration kappa_i on the task ring,
  S_ik = exp(kappa_i cos(x_k - mu_i)) / sum_k(...) (a specialist is tall and narrow).
- `signed`: atoms with unit L2 norm and signed entries (dictionary atoms for sparse coding).

Each family turns T = S * dJ/dS (computed without forming dJ/dS, which can be singular at S = 0)
into gradients of its parameters, and applies a step while keeping its constraints.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Family", "FreeFamily", "VonMisesFamily", "SignedFamily", "make_family", "FAMILIES"]


class Family:
    """Interface of a profile family."""

    name = ""
    params: tuple[str, ...] = ()
    non_negative = True

    def profile(self, p: dict) -> np.ndarray:
        """S (N x K) from the parameters."""
        raise NotImplementedError

    def gradient(self, p: dict, S: np.ndarray, T: np.ndarray, names=None) -> dict:
        """Parameter gradients from T = S * dJ/dS (for `signed`, T is dJ/dS itself); `names`, if
        given, are the only ones the caller needs (a family may then skip the others)."""
        raise NotImplementedError

    def constrain(self, p: dict) -> dict:
        """Project parameters back onto the family's constraints (in place where possible)."""
        return p

    def homogeneous(self, n: int, k: int, init, profile_cfg, rng: np.random.Generator) -> dict:
        """Identical agents plus a seeded perturbation (exact symmetry never breaks by itself)."""
        raise NotImplementedError

    def random(self, n: int, k: int, init, profile_cfg, rng: np.random.Generator) -> dict:
        """Independent random agents."""
        raise NotImplementedError

    def shapes(self, n: int, k: int) -> dict:
        """Shape of each parameter array."""
        raise NotImplementedError


def softmax_rows(L: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    E = L - L.max(axis=1, keepdims=True)
    np.exp(E, out=E)
    E /= E.sum(axis=1, keepdims=True)
    return E


class FreeFamily(Family):
    name = "free"
    params = ("logits",)

    def profile(self, p):
        return softmax_rows(p["logits"])

    def gradient(self, p, S, T, names=None):
        g = S * T.sum(axis=1, keepdims=True)
        np.subtract(T, g, out=g)
        return {"logits": g}

    def homogeneous(self, n, k, init, profile_cfg, rng):
        return {"logits": init.perturbation * rng.standard_normal((n, k))}

    def random(self, n, k, init, profile_cfg, rng):
        return {"logits": init.spread * rng.standard_normal((n, k))}

    def shapes(self, n, k):
        return {"logits": (n, k)}


class VonMisesFamily(Family):
    name = "vonmises"
    params = ("mu", "kappa")

    def __init__(self, x: np.ndarray, kappa_min: float, kappa_max: float):
        self.x = np.asarray(x, dtype=np.float64)
        self.cx, self.sx = np.cos(self.x), np.sin(self.x)
        self.kappa_min = kappa_min
        self.kappa_max = kappa_max

    def _cos_sin(self, mu: np.ndarray, sin: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """cos(x_k - mu_i) and, if asked, sin(x_k - mu_i) from the angle-difference identities:
        products of O(N + K) sines and cosines instead of a transcendental per entry (the
        compiled kernel does the same; they differ from cos(x - mu) by about 1e-16)."""
        cm, sm = np.cos(mu)[:, None], np.sin(mu)[:, None]
        c = np.multiply(cm, self.cx[None, :])
        work = np.multiply(sm, self.sx[None, :])
        c += work
        if not sin:
            return c, None
        np.multiply(cm, self.sx[None, :], out=work)
        work -= sm * self.cx[None, :]
        return c, work

    def profile(self, p):
        mu, kappa = p["mu"], p["kappa"]
        # exp(kappa*(cos - 1)) <= 1: no overflow at any concentration
        E, _ = self._cos_sin(mu, sin=False)
        E -= 1.0
        np.multiply(kappa[:, None], E, out=E)
        np.exp(E, out=E)
        E /= E.sum(axis=1, keepdims=True)
        return E

    def gradient(self, p, S, T, names=None):
        mu, kappa = p["mu"], p["kappa"]
        cos, sin = self._cos_sin(mu, sin=names is None or "mu" in names)
        t = T.sum(axis=1)
        work = np.empty_like(cos)

        def rowsum(a, b):  # sum_k a_ik b_ik through one reused buffer (same arithmetic as (a * b).sum(axis=1))
            np.multiply(a, b, out=work)
            return work.sum(axis=1)

        out = {}
        if sin is not None:
            out["mu"] = kappa * (rowsum(T, sin) - t * rowsum(S, sin))
        if names is None or "kappa" in names:
            out["kappa"] = rowsum(T, cos) - t * rowsum(S, cos)
        return out

    def constrain(self, p):
        p["mu"] = np.mod(p["mu"], 2 * math.pi)
        p["kappa"] = np.clip(p["kappa"], self.kappa_min, self.kappa_max)
        return p

    def homogeneous(self, n, k, init, profile_cfg, rng):
        mu = init.mu + init.perturbation * rng.standard_normal(n)
        kappa = np.full(n, profile_cfg.kappa)
        return self.constrain({"mu": mu, "kappa": kappa})

    def random(self, n, k, init, profile_cfg, rng):
        return self.constrain({"mu": rng.uniform(0, 2 * math.pi, n), "kappa": np.full(n, profile_cfg.kappa)})

    def shapes(self, n, k):
        return {"mu": (n,), "kappa": (n,)}


class SignedFamily(Family):
    name = "signed"
    params = ("atoms",)
    non_negative = False

    def profile(self, p):
        return p["atoms"]

    def gradient(self, p, S, T, names=None):
        # T is dJ/dS here; project onto the tangent space of the unit sphere
        A = p["atoms"]
        g = T * A
        dot = g.sum(axis=1, keepdims=True)
        np.multiply(dot, A, out=g)
        np.subtract(T, g, out=g)
        return {"atoms": g}

    def constrain(self, p):
        A = p["atoms"]
        sq = A * A
        norm = np.sqrt(sq.sum(axis=1, keepdims=True))
        np.divide(A, np.where(norm > 0, norm, 1.0), out=sq)
        p["atoms"] = sq
        return p

    def homogeneous(self, n, k, init, profile_cfg, rng):
        A = np.full((n, k), 1.0 / math.sqrt(k)) + init.perturbation * rng.standard_normal((n, k))
        return self.constrain({"atoms": A})

    def random(self, n, k, init, profile_cfg, rng):
        return self.constrain({"atoms": rng.standard_normal((n, k))})

    def shapes(self, n, k):
        return {"atoms": (n, k)}


FAMILIES = ("free", "vonmises", "signed")


def make_family(profile_cfg, task_positions: np.ndarray) -> Family:
    """The family object a config names."""
    if profile_cfg.family == "free":
        return FreeFamily()
    if profile_cfg.family == "vonmises":
        return VonMisesFamily(task_positions, profile_cfg.kappa_min, profile_cfg.kappa_max)
    return SignedFamily()
