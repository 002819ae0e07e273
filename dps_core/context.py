"""The context object handed to every mode, signal, demand process and metric callable.

It exposes the model (`ctx.model`), the current state, the component's own validated `params` and
its own extra `arrays` (short names), and derives the pipeline's arrays lazily and once each:
S (profiles), Y (production), Z = M Y (supply seen), G = dU/dZ (signal), H = M^T G (scatter).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .model import Model
from .state import State

__all__ = ["StepContext"]


class StepContext:
    """State, model and derived arrays of one step, viewed from one component."""

    def __init__(self, model: Model, state: State, rng: np.random.Generator | None = None, kind: str = ""):
        self.model = model
        self.state = state
        self.rng = rng
        self.simulation = None  # set for metrics: the Simulation, for what-if runs on a clone()
        self.draws: dict[str, np.ndarray] = {}
        self._cache: dict[str, Any] = {}
        self.kind = ""
        self.params: Any = None
        self.arrays: dict[str, np.ndarray] = {}
        if kind:
            self._focus(kind)

    def _focus(self, kind: str) -> None:
        bound = getattr(self.model, kind, None)
        self.kind = kind
        self.params = bound.params if bound is not None else None
        prefix = f"{kind}."
        self.arrays = {k[len(prefix) :]: v for k, v in self.state.extras.items() if k.startswith(prefix)}

    def component(self, kind: str) -> StepContext:
        """This context seen from another component ('signal', 'mode', 'demand'); caches are shared."""
        view = copy.copy(self)
        view._focus(kind)
        return view

    # --- sizes and constants ------------------------------------------------------------------------

    @property
    def n_agents(self) -> int:
        return self.model.n_agents

    @property
    def n_tasks(self) -> int:
        return self.model.n_tasks

    @property
    def dt(self) -> float:
        return self.model.dt

    @property
    def step(self) -> int:
        return self.state.step

    @property
    def time(self) -> float:
        return self.state.time

    # --- state ----------------------------------------------------------------------------------------

    @property
    def profile(self) -> dict[str, np.ndarray]:
        return self.state.profile

    @property
    def w(self) -> np.ndarray:
        return self.state.w

    @property
    def C(self) -> np.ndarray:
        return self.state.C

    @property
    def extras(self) -> dict[str, np.ndarray]:
        """Every declared extra array by qualified name ('signal.price', 'mode.u', ...), read-only use."""
        return self.state.extras

    @property
    def D(self) -> np.ndarray:
        """Demand, (1 or N) x K."""
        return self.state.demand

    # --- derived, computed once ------------------------------------------------------------------------

    def _get(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def S(self) -> np.ndarray:
        """Skill profiles (N x K)."""
        return self._get("S", lambda: self.model.family.profile(self.state.profile))

    @property
    def Y(self) -> np.ndarray:
        """Production Y = w * C * S^alpha (N x K)."""
        return self._get("Y", lambda: self.model.produce(self.S, self.w, self.C))

    @property
    def Z(self) -> np.ndarray:
        """Supply seen at each node, Z = M Y (N x K)."""
        return self._get("Z", lambda: self.model.mixing.gather(self.Y))

    @property
    def G(self) -> np.ndarray:
        """Signal G = dU/dZ at each node (N x K)."""
        return self._get(
            "G", lambda: np.broadcast_to(self.model.signal.spec.gradient(self.component("signal")), self.Y.shape)
        )

    @property
    def H(self) -> np.ndarray:
        """What each agent's output is worth where it goes: M^T G (or G for a mode without scatter)."""
        return self._get(
            "H",
            lambda: (
                self.model.mixing.scatter(np.ascontiguousarray(self.G))
                if self.model.mode.spec.scatter
                else np.asarray(self.G)
            ),
        )

    def utility(self) -> float:
        """U, the signal's utility at the current state (reported as productivity)."""
        return self._get("U", lambda: float(self.model.signal.spec.utility(self.component("signal"))))

    def objective(self) -> float:
        """J = U minus penalties."""
        return self.model.objective(self.utility(), self.S, self.Y, self.w)

    def gradients(
        self, H: np.ndarray | None = None, names=None, resources: bool = True
    ) -> tuple[dict, np.ndarray | None]:
        """(dJ/d profile parameters, dJ/dw), from H (default: this step's scattered signal).
        `names` (default: all) limits the profile gradients computed; resources=False skips dJ/dw
        (then None): a mode that needs less asks for less."""
        return self.model.gradients(
            self.H if H is None else H, self.S, self.Y, self.profile, self.w, self.C, names, resources
        )
