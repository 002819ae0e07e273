"""The state of a run as a struct of float64 arrays (never one Python object per agent).

Profile parameters (logits | mu, kappa | atoms), resources `w`, capabilities `C`, the demand, and
every extra array a mode, signal or demand process declared (named '<kind>.<array>', e.g.
'signal.price'), plus the step counter and the time. This is exactly what a checkpoint stores.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["State"]


class State:
    """Arrays of one system at one step."""

    def __init__(
        self,
        profile: dict,
        w: np.ndarray,
        C: np.ndarray,
        demand: np.ndarray,
        extras: dict | None = None,
        step: int = 0,
        time: float = 0.0,
    ):
        self.profile = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in profile.items()}
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.C = np.ascontiguousarray(C, dtype=np.float64)
        self.demand = np.ascontiguousarray(demand, dtype=np.float64)
        self.extras = {k: np.ascontiguousarray(v) for k, v in (extras or {}).items()}
        self.step = int(step)
        self.time = float(time)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by its archive name: 'profile/<p>', 'w', 'C', 'demand', 'extras/<name>'."""
        out = {f"profile/{k}": v for k, v in self.profile.items()}
        out.update({"w": self.w, "C": self.C, "demand": self.demand})
        out.update({f"extras/{k}": v for k, v in self.extras.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], step: int, time: float) -> State:
        """Inverse of `arrays()` (used when resuming from a checkpoint)."""
        profile = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("profile/")}
        extras = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("extras/")}
        return cls(profile, arrays["w"], arrays["C"], arrays["demand"], extras, step, time)

    def copy(self) -> State:
        """A deep copy."""
        return State.from_arrays({k: v.copy() for k, v in self.arrays().items()}, self.step, self.time)

    def non_finite(self) -> Iterator[str]:
        """Names of arrays holding NaN or inf."""
        for name, arr in self.arrays().items():
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                yield name

    def nbytes(self) -> int:
        """Bytes held by the state arrays."""
        return sum(a.nbytes for a in self.arrays().values())
