"""The statistics and verdict rules of `dps principle`: rank correlation, slope, the Student-t
interval over replicates, and the holds / fails / inconclusive rule (docs/principle.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np

__all__ = ["Rule", "Outcome", "spearman", "slope", "t_interval", "judge", "combine"]

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"


@attrs.frozen
class Rule:
    """What a statistic must show: at least `minimum` (the minimum effect size), or lie in `band`."""

    statistic: str
    definition: str
    minimum: float | None = None
    band: tuple[float, float] | None = None

    def __attrs_post_init__(self):
        if (self.minimum is None) == (self.band is None):
            raise ValueError(f"rule '{self.statistic}': give exactly one of minimum and band")

    @property
    def criterion(self) -> str:
        if self.band is not None:
            return f"in [{self.band[0]:g}, {self.band[1]:g}]"
        return f">= {self.minimum:g}"


@attrs.frozen
class Outcome:
    """A statistic measured over replicates: its values, mean, 95 % interval and verdict."""

    rule: Rule
    values: tuple[float, ...]
    mean: float
    low: float
    high: float
    verdict: str
    reason: str
    label: str = ""  # e.g. the profile class the statistic belongs to

    @property
    def name(self) -> str:
        return f"{self.rule.statistic} ({self.label})" if self.label else self.rule.statistic

    def to_dict(self) -> dict:
        return {
            "statistic": self.name,
            "definition": self.rule.definition,
            "criterion": self.rule.criterion,
            "values": [_finite(v) for v in self.values],
            "mean": _finite(self.mean),
            "ci95": [_finite(self.low), _finite(self.high)],
            "verdict": self.verdict,
            "reason": self.reason,
        }


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation over the pairs where both are finite; 0 when either does not
    vary (no co-movement, by the protocol's rule), NaN with fewer than 3 pairs."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3:
        return math.nan
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float(ra @ rb / math.sqrt((ra @ ra) * (rb @ rb)))


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of y on x over the finite pairs; NaN when x does not vary."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 2 or np.ptp(a) == 0:
        return math.nan
    a = a - a.mean()
    return float(a @ (b - b.mean()) / (a @ a))


def _t975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95 % Student-t interval of the mean of the finite values; the
    interval is NaN with fewer than two of them."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    half = _t975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return mean, mean - half, mean + half


def judge(rule: Rule, values: Sequence[float], label: str = "", note: str = "") -> Outcome:
    """Apply the protocol's verdict rule to the per-replicate values of one statistic."""
    values = tuple(float(v) for v in values)
    mean, low, high = t_interval(values)
    defined = sum(math.isfinite(v) for v in values)
    ci = f"{mean:.3g} [{low:.3g}, {high:.3g}]"
    if not (math.isfinite(low) and math.isfinite(high)):
        verdict, why = INCONCLUSIVE, f"defined in {defined} of {len(values)} replicates; an interval needs two"
    elif rule.band is not None:
        a, b = rule.band
        if a <= low and high <= b:
            verdict, why = HOLDS, f"{ci} inside [{a:g}, {b:g}]"
        elif high < a or low > b:
            verdict, why = FAILS, f"{ci} outside [{a:g}, {b:g}]"
        else:
            verdict, why = INCONCLUSIVE, f"{ci} overlaps the edge of [{a:g}, {b:g}]"
    else:
        m = rule.minimum
        if low >= m:
            verdict, why = HOLDS, f"{ci} at or above {m:g}"
        elif high < m:
            verdict, why = FAILS, f"{ci} below {m:g}"
        else:
            verdict, why = INCONCLUSIVE, f"{ci} straddles {m:g}"
    if note:
        why = f"{why}; {note}"
    return Outcome(rule, values, mean, low, high, verdict, why, label)


def combine(outcomes: Sequence[Outcome]) -> tuple[str, str]:
    """A law's verdict from its statistics': fails if any fails, holds if all hold."""
    verdicts = [o.verdict for o in outcomes]
    if not verdicts:
        return INCONCLUSIVE, "no statistic could be computed"
    verdict = FAILS if FAILS in verdicts else HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE
    return verdict, "; ".join(f"{o.name} {o.verdict}" for o in outcomes)
