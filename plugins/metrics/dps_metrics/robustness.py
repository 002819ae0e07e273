"""Robustness: the share of productivity a system keeps when a fraction of its agents is removed.

Removing an agent sets its resource to zero (its output disappears; the graph keeps its node).
Random removal averages over trials; targeted removal takes the agents whose output is worth the
most (sum_k H_ik Y_ik, ties to the lower index). With re-adaptation the survivors take `steps`
further steps on a clone of the simulation (removed agents held at zero), which never disturbs
the run itself. Kept share = 1 + (U_after - U_before) / |U_before| (U_after / U_before when U > 0).
"""

from __future__ import annotations

import numpy as np

__all__ = ["kept_share", "robustness"]


def kept_share(before: float, after: float) -> float:
    """1 + (after - before) / |before|: the ratio for positive utilities, and still meaningful
    for utilities that are negative (a squared residual)."""
    return float("nan") if before == 0 else 1.0 + (after - before) / abs(before)


def _after_removal(sim, removed: np.ndarray, steps: int) -> tuple[float, float]:
    """(U right after removing, U after `steps` steps of re-adaptation)."""
    clone = sim.clone()
    clone.state.w = clone.state.w.copy()
    clone.state.w[removed] = 0.0
    now = clone.context().utility()
    if steps == 0:
        return now, now
    for _ in range(steps):
        clone.step(1)
        if np.any(clone.state.w[removed] != 0):
            w = clone.state.w.copy()
            w[removed] = 0.0
            clone.state.w = w
    return now, clone.context().utility()


def robustness(sim, ctx, fraction: float, trials: int, steps: int, seed: int) -> dict[str, float]:
    """Kept shares after random and targeted removal, without and with re-adaptation."""
    n = ctx.n_agents
    k = round(fraction * n)
    before = ctx.utility()
    if k == 0:
        return {
            "robust_random": 1.0,
            "robust_targeted": 1.0,
            "robust_random_adapted": 1.0,
            "robust_targeted_adapted": 1.0,
        }
    value = (ctx.H * ctx.Y).sum(axis=1)
    targeted = np.argsort(-value, kind="stable")[:k]
    rng = np.random.default_rng([seed, ctx.step])  # its own stream: the run's generator is untouched
    random_now, random_adapted = [], []
    for _ in range(trials):
        a, b = _after_removal(sim, rng.choice(n, size=k, replace=False), steps)
        random_now.append(kept_share(before, a))
        random_adapted.append(kept_share(before, b))
    t_now, t_adapted = _after_removal(sim, targeted, steps)
    return {
        "robust_random": float(np.mean(random_now)),
        "robust_targeted": kept_share(before, t_now),
        "robust_random_adapted": float(np.mean(random_adapted)),
        "robust_targeted_adapted": kept_share(before, t_adapted),
    }
