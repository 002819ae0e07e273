"""The table that binds the core's built-in modes and signals to the compiled kernel.

One row per compiled built-in: its code in `cext/_kernel.pyx` and, for every parameter its spec
declares, either the field of the kernel's parameter struct (`_kernel.param_fields()`) that
carries it, or why the kernel does not read it (the adapter or the mode's draw handles it in
Python). `unbound` compares a model's mode or signal with its row; any parameter the row does not
account for (or a row entry the spec no longer declares) makes the model unsupported, and it
steps with the NumPy reference kernel. Falling back rather than raising is deliberate: the
reference kernel is the definition of the step and reads every parameter, so a missing row can
cost speed but never give a wrong answer, and a user's run never fails for a developer's
omission; tests/test_compiled_binding.py makes the omission loud (every built-in must be
supported, and every parameter must change the compiled result exactly as it changes the reference's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .registry import CORE_PLUGIN

__all__ = ["Read", "Row", "FAMILY", "MODES", "SIGNALS", "unbound", "fill", "fields"]

# codes shared with cext/_kernel.pyx (its DEF constants)
FAMILY = {"free": 0, "vonmises": 1, "signed": 2}


@attrs.frozen
class Read:
    """A parameter the kernel reads: the struct field it fills and how its value converts."""

    field: str
    convert: Callable[[Any], Any] = float


@attrs.frozen
class Row:
    """A compiled built-in: its kernel code, the parameters the kernel reads, and the parameters
    it does not read, each with where it is handled instead; `demand_scale`: the kernel reads the
    step's mean positive demand (computed only then: it is a pass over the demand)."""

    code: int
    kernel: Mapping[str, Read] = attrs.field(factory=dict)
    python: Mapping[str, str] = attrs.field(factory=dict)
    demand_scale: bool = False


_NOISE_DRAWN = "scales the noise draws, which the mode's draw makes before the step (every kernel gets them scaled)"
_ASCENT_KERNEL = {"eta": Read("eta"), "eta_kappa": Read("eta_kappa"), "noise": Read("noise")}
_ASCENT_PYTHON = {"anneal": _NOISE_DRAWN, "explore": _NOISE_DRAWN}

MODES: dict[str, Row] = {
    "gradient": Row(0, {**_ASCENT_KERNEL, "eta_w": Read("eta_w")}, _ASCENT_PYTHON),
    "selfish": Row(0, {**_ASCENT_KERNEL, "eta_w": Read("eta_w")}, _ASCENT_PYTHON),  # gradient without scatter
    "replicator": Row(
        2,
        _ASCENT_KERNEL,
        {
            **_ASCENT_PYTHON,
            "upkeep": "fills the per-agent array 'mode.upkeep' (the mode's array spec), which the kernel reads",
        },
    ),
    "lca": Row(
        3,
        {
            "tau": Read("tau"),
            "threshold": Read("threshold"),
            "kind": Read("hard", lambda kind: kind == "hard"),
            "nonnegative": Read("nonneg", bool),
            "eta": Read("eta"),
        },
    ),
    "imitation": Row(4, {"rate": Read("rate"), "temperature": Read("temperature"), "noise": Read("noise")}),
    "tatonnement": Row(5, {"rate": Read("rate"), "beta": Read("beta"), "noise": Read("noise")}),
}

SIGNALS: dict[str, Row] = {
    "coverage": Row(0, {"smoothing": Read("smoothing")}, demand_scale=True),
    "residual": Row(1),
    "ces": Row(2, {"rho": Read("rho"), "floor": Read("floor")}),
    "price": Row(
        3,
        {"rate": Read("price_rate"), "rule": Read("additive", lambda rule: rule == "additive"), "p_min": Read("p_min")},
        demand_scale=True,
    ),
    "interaction": Row(
        4,
        {"self_interaction": Read("self_interaction")},
        {
            "use_topology": "chooses the matrix B the adapter hands the kernel "
            "(the topology's edges, the complete graph in closed form, or none)"
        },
    ),
}


def _row(bound) -> Row | None:
    table = MODES if bound.kind == "mode" else SIGNALS
    return table.get(bound.name) if bound.plugin == CORE_PLUGIN else None


def unbound(bound) -> str:
    """Why the compiled kernel cannot run this mode or signal ('' when it can): not a compiled
    built-in, or a parameter its spec declares that the table does not account for."""
    row = _row(bound)
    if row is None:
        return f"{bound.kind} '{bound.name}' of plugin '{bound.plugin}' is not a compiled built-in"
    declared = {f.name for f in attrs.fields(type(bound.params))}
    listed = set(row.kernel) | set(row.python)
    if declared - listed:
        names = ", ".join(sorted(declared - listed))
        return (
            f"{bound.kind} '{bound.name}' declares parameter(s) {names} that the compiled kernel's table "
            "(dps_core/compiled_binding.py) does not bind"
        )
    if listed - declared:
        names = ", ".join(sorted(listed - declared))
        return (
            f"the compiled kernel's table (dps_core/compiled_binding.py) binds parameter(s) {names} "
            f"that {bound.kind} '{bound.name}' does not declare"
        )
    return ""


def fill(bound) -> dict[str, Any]:
    """The code and the struct fields this mode or signal sets, from its parameters (the model
    must be supported, see `unbound`)."""
    row = _row(bound)
    assert row is not None
    values: dict[str, Any] = {bound.kind: row.code}
    for name, read in row.kernel.items():
        values[read.field] = read.convert(getattr(bound.params, name))
    return values


def fields() -> set[str]:
    """Every struct field that some row fills (the code fields 'mode' and 'signal' included)."""
    return {"mode", "signal"} | {
        read.field for row in (*MODES.values(), *SIGNALS.values()) for read in row.kernel.values()
    }
