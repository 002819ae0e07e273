"""Which kernel runs: the compiled Cython extension `dps_core._kernel` or the NumPy reference.

`DPS_PUREPYTHON=1` forces the reference kernel; `DPS_KERNEL_ISA` picks the instruction set the
compiled row kernels run with (default: the best this CPU runs; `compiled.isas()` lists them).
Without a compiled extension (no compiler at install time) the reference runs and `backend()` says
so; `dps plugins` reports it too. A model that uses a plugin's mode or signal always steps with the
reference pipeline (plugin code is NumPy).
"""

from __future__ import annotations

import os
from functools import lru_cache

__all__ = [
    "backend",
    "kernel_step",
    "kernel_step_bytes",
    "compiled_error",
    "instruction_set",
    "instruction_sets",
    "arithmetic",
]


@lru_cache(maxsize=1)
def _compiled():
    """The compiled adapter module, or the reason it is unavailable."""
    if os.environ.get("DPS_PUREPYTHON", "") not in ("", "0"):
        return None, "DPS_PUREPYTHON is set"
    try:
        from . import compiled
    except ImportError as exc:
        return None, f"compiled extension not importable: {exc}"
    wanted = os.environ.get("DPS_KERNEL_ISA", "")
    if wanted:
        from .errors import ConfigError

        try:
            compiled.set_isa(wanted)
        except ValueError as exc:
            raise ConfigError(f"DPS_KERNEL_ISA: {exc}") from None
    return compiled, ""


def backend() -> str:
    """'compiled' when the Cython kernel is in use, else 'reference'."""
    return "compiled" if _compiled()[0] is not None else "reference"


def instruction_set(kind: str) -> str:
    """The instruction set the compiled row kernels run with ('avx512f', 'x86-64-v3', 'x86-64 baseline');
    '' for the reference kernel, whose results do not depend on it."""
    mod = _compiled()[0]
    return str(mod.isa()) if kind == "compiled" and mod is not None else ""


def arithmetic(kind: str) -> int:
    """The revision of the compiled kernel's arithmetic, raised by every change to it that alters any
    result, even by rounding (a run resumes bit for bit only on the revision that stepped it); 0 for
    the reference kernel."""
    mod = _compiled()[0]
    return int(mod.arithmetic()) if kind == "compiled" and mod is not None else 0


# instruction sets on which the compiled row kernels compute the same operations, fused multiply-adds
# included, and so the same results bit for bit (tests/test_kernel.py compares their arrays)
_SAME_RESULTS = (frozenset({"avx512f", "x86-64-v3"}),)


def same_results(isa: str, other: str) -> bool:
    """Whether the compiled kernel's results on instruction sets `isa` and `other` are identical bit
    for bit (a run may then resume on either)."""
    return isa == other or any(isa in group and other in group for group in _SAME_RESULTS)


def instruction_sets() -> list[str]:
    """The instruction sets the compiled row kernels can run with on this CPU, best first ([] for the
    reference kernel); `DPS_KERNEL_ISA` picks one."""
    mod = _compiled()[0]
    return list(mod.isas()) if mod is not None else []


def compiled_error() -> str:
    """Why the compiled kernel is not in use ('' when it is)."""
    return _compiled()[1]


def _kernel_of(model):
    """The kernel module that steps a model: compiled where it supports every component, else reference."""
    from . import reference

    mod = _compiled()[0]
    return mod if mod is not None and mod.supports(model) else reference


def kernel_step(model):
    """The step function for a model."""
    return _kernel_of(model).step


def kernel_step_bytes(model, state) -> int:
    """Bytes a step of the model adds to the built model (state, graph, plan), on its kernel's path."""
    return int(_kernel_of(model).step_bytes(model, state))
