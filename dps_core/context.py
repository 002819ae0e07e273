"""The context object handed to every mode, signal, demand process and metric callable.

It exposes the model (`ctx.model`), the current state, the component's own validated `params` and
its own extra `arrays` (short names), and derives the pipeline's arrays lazily and once each:
S (profiles), Y (production), Z = M Y (supply seen), G = dU/dZ (signal), H = M^T G (scatter).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .model import Model
from .state import State

if TYPE_CHECKING:
    from .simulation import Simulation

_T = TypeVar("_T")

__all__ = ["StepContext"]


class StepContext:
    """State, model and derived arrays of one step, viewed from one component.

    Attributes set by the engine: `model` (everything fixed for the run), `state` (the current
    arrays), `rng` (the run's generator: given to a mode's `draw` and to demand processes, None
    elsewhere so that only those draw), `simulation` (for metrics only: the Simulation, whose
    `clone()` allows what-if runs), `draws` (what the mode's `draw` returned this step), `kind`
    ('signal', 'mode', 'demand', or '' for a metric), `params` (the component's validated
    parameters) and `arrays` (the component's own declared arrays by short name).
    """

    model: Model
    state: State
    rng: np.random.Generator | None
    simulation: Simulation | None
    draws: dict[str, np.ndarray]
    kind: str
    params: Any
    arrays: dict[str, np.ndarray]

    def __init__(self, model: Model, state: State, rng: np.random.Generator | None = None, kind: str = ""):
        self.model = model
        self.state = state
        self.rng = rng
        self.simulation = None
        self.draws = {}
        self._cache: dict[str, Any] = {}
        self.kind = ""
        self.params = None
        self.arrays = {}
        if kind:
            self._focus(kind)

    def _focus(self, kind: str) -> None:
        bound = getattr(self.model, kind, None)  # the Bound signal, mode or demand
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
        """N, the number of agents."""
        return self.model.n_agents

    @property
    def n_tasks(self) -> int:
        """K, the number of tasks."""
        return self.model.n_tasks

    @property
    def dt(self) -> float:
        """The time step (run.dt)."""
        return self.model.dt

    @property
    def step(self) -> int:
        """Steps taken so far (0 before the first)."""
        return self.state.step

    @property
    def time(self) -> float:
        """Simulated time, step * dt."""
        return self.state.time

    # --- state ----------------------------------------------------------------------------------------

    @property
    def profile(self) -> dict[str, np.ndarray]:
        """Profile parameters by name: {'logits'} (free), {'mu', 'kappa'} (vonmises) or {'atoms'} (signed)."""
        return self.state.profile

    @property
    def w(self) -> np.ndarray:
        """Resources (N,)."""
        return self.state.w

    @property
    def C(self) -> np.ndarray:
        """Capability multipliers (N x K)."""
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

    def _get(self, key: str, make: Callable[[], _T]) -> _T:
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
        self, H: np.ndarray | None = None, names: Iterable[str] | None = None, resources: bool = True
    ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """The objective's gradients from the value of output H (default: this step's scattered
        signal): `(grads, dw)` where `grads` maps each profile parameter name ('logits', 'mu',
        'kappa' or 'atoms'; only `names` when given) to dJ/d that parameter (same shape as the
        parameter) and `dw` is dJ/dw (N,), or None with `resources=False`: a mode that needs less
        asks for less. Penalties (resource, communication, specialisation) are included."""
        return self.model.gradients(
            self.H if H is None else H, self.S, self.Y, self.profile, self.w, self.C, names, resources
        )
