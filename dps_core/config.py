"""Run configuration: frozen attrs sections built from TOML or a dict, with clear errors.

Precedence, lowest first: the defaults below, the scenario's `defaults`, the user's file, then
`--set`/keyword overrides. Every key is documented in docs/config.md. A config round-trips through
JSON (`to_json`/`from_json`), which is how archives keep it for provenance.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from . import params as P
from .errors import ConfigError

__all__ = [
    "Config",
    "RunConfig",
    "ProfileConfig",
    "MixingConfig",
    "BudgetConfig",
    "PenaltyConfig",
    "LearnConfig",
    "DisperseConfig",
    "InitConfig",
    "ArchiveConfig",
    "Component",
    "MetricsConfig",
    "load_config",
    "parse_override",
    "apply_overrides",
]


@attrs.frozen
class RunConfig:
    """How long to run, the time step, the seed, and how often to record and checkpoint."""

    steps: int = P.param(1000, doc="number of steps to run", unit="steps", validator=P.non_negative)
    dt: float = P.param(1.0, doc="time step of the explicit Euler update", unit="time", validator=P.positive)
    seed: int = P.param(
        0, doc="root of the run's SeedSequence (all randomness derives from it)", validator=P.non_negative
    )
    record_every: int = P.param(10, doc="steps between metric records", unit="steps", validator=P.at_least(1))
    snapshot_every: int = P.param(
        0, doc="steps between state snapshots (0: none)", unit="steps", validator=P.non_negative
    )
    checkpoint_every: int = P.param(
        100, doc="steps between checkpoints (0: only at the end)", unit="steps", validator=P.non_negative
    )
    tolerance: float = P.param(
        0.0,
        doc="stop when the largest parameter change per unit time falls below this (0: never)",
        validator=P.non_negative,
    )
    output: str = P.param(
        "",
        doc="archive path, relative to the working directory ('': `dps run` writes CONFIG-NAME.h5 there, counting up as CONFIG-NAME-1.h5, ... rather than overwriting)",
    )
    max_memory_fraction: float = P.param(
        0.8,
        doc="refuse a run whose arrays need more than this fraction of available memory",
        validator=P.in_range(0, 1, lo_open=True),
    )


@attrs.frozen
class ProfileConfig:
    """Skill-profile family and production exponent."""

    family: Literal["free", "vonmises", "signed"] = P.param(
        "vonmises",
        doc="'free' (softmax density), 'vonmises' (centre and concentration on the task ring), 'signed' (unit-norm atoms)",
    )
    alpha: float = P.param(
        1.0, doc="production exponent: Y = w*C*s^alpha (>1 rewards specialising)", validator=P.positive
    )
    kappa: float = P.param(1.0, doc="initial von Mises concentration", validator=P.positive)
    kappa_min: float = P.param(1e-3, doc="lower bound kept on the concentration", validator=P.positive)
    kappa_max: float = P.param(1e3, doc="upper bound kept on the concentration", validator=P.positive)

    def __attrs_post_init__(self):
        if not self.kappa_min <= self.kappa <= self.kappa_max:
            raise ValueError(
                f"need kappa_min <= kappa <= kappa_max, got {self.kappa_min}, {self.kappa}, {self.kappa_max}"
            )
        if self.family == "signed" and self.alpha != 1.0:
            raise ValueError("the 'signed' family has signed entries, so alpha must be 1 (s^alpha is undefined)")


@attrs.frozen
class MixingConfig:
    """How supply reaches nodes: Z = M Y."""

    name: Literal["shared", "conservative", "mean_field"] = P.param(
        "mean_field",
        doc="'shared' (I + gamma*A_hat, non-rival), 'conservative' (columns sum to one), 'mean_field' (complete graph, no matrix)",
    )
    gamma: float = P.param(1.0, doc="coupling strength", validator=P.non_negative)
    pool: Literal["mean", "sum"] = P.param(
        "mean", doc="mean_field only: pool the mean (world market) or the sum (a reconstruction)"
    )

    def __attrs_post_init__(self):
        if self.name in ("conservative", "mean_field") and self.gamma > 1:
            raise ValueError(f"mixing '{self.name}' needs gamma in [0, 1], got {self.gamma}")


@attrs.frozen
class BudgetConfig:
    """Constraint on the resources w, enforced by projection after every update."""

    kind: Literal["none", "total", "per_agent", "price"] = P.param(
        "none", doc="'total' (sum w <= B), 'per_agent' (w_i <= B), 'price' (sum cost_i*w_i <= B)"
    )
    value: float | None = P.param(
        None, doc="B; default: the initial total (or initial w_i, or initial cost)", validator=P.non_negative
    )
    equality: bool = P.param(False, doc="hold the budget with equality instead of <=")


@attrs.frozen
class PenaltyConfig:
    """Terms of J = U - resource*sum|w| - communication*(output sent over edges) - specialisation*sum(log K - H(s_i))."""

    resource: float = P.param(0.0, doc="lambda_R", validator=P.non_negative)
    communication: float = P.param(0.0, doc="lambda_C", validator=P.non_negative)
    specialisation: float = P.param(0.0, doc="lambda_S", validator=P.non_negative)


@attrs.frozen
class LearnConfig:
    """Learning by doing: dC/dt = rate*w*s - forget*(C - 1), C capped at max."""

    rate: float = P.param(0.0, doc="learning rate (0: capabilities fixed)", validator=P.non_negative)
    forget: float = P.param(0.0, doc="forgetting rate toward C = 1", validator=P.non_negative)
    max: float = P.param(math.inf, doc="cap on capabilities", validator=P.positive)


@attrs.frozen
class DisperseConfig:
    """Dispersal of resources along the graph: each agent sends rate*dt of w to its neighbours."""

    rate: float = P.param(0.0, doc="dispersal rate (0: off)", unit="1/time", validator=P.non_negative)


@attrs.frozen
class InitConfig:
    """The initial state where the scenario does not give it."""

    kind: Literal["homogeneous", "random"] = P.param(
        "homogeneous", doc="'homogeneous' (identical agents plus a seeded perturbation) or 'random'"
    )
    perturbation: float = P.param(
        0.01, doc="std of the seeded perturbation of a homogeneous start", validator=P.non_negative
    )
    w: float = P.param(1.0, doc="initial resource per agent", validator=P.non_negative)
    mu: float = P.param(0.0, doc="von Mises centre of a homogeneous start", unit="rad")
    spread: float = P.param(1.0, doc="std of random logits/atoms for kind='random'", validator=P.non_negative)


@attrs.frozen
class ArchiveConfig:
    """How the HDF5 archive is written."""

    compression: Literal["gzip", "lzf", "none"] = P.param("gzip", doc="dataset compression filter")
    level: int = P.param(4, doc="gzip level", validator=P.in_range(0, 9))
    snapshots: tuple[str, ...] = P.param(
        ("S", "w"), doc="arrays stored at each snapshot ('S', 'w', 'C', 'demand', profile parameters, extras)"
    )
    swmr: bool = P.param(True, doc="single-writer/multiple-reader mode (turn off on NFS/Lustre)")
    flush_every: int | str = P.param(
        "1s",
        doc="durability: flush buffered records every N records (an integer) or every T seconds ('1s'), "
        "and at every checkpoint; a kill loses at most the records since the last flush",
        validator=lambda _i, _a, v: _check_flush_every(v),
    )


def _check_flush_every(value) -> None:
    """`archive.flush_every`: a positive integer (records) or a positive number of seconds ('2.5s')."""
    if isinstance(value, bool):
        raise ValueError(f"must be a positive integer (records) or seconds such as '1s', got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"must be a positive integer (records) or seconds such as '1s', got {value!r}")
        return
    text = str(value).strip()
    try:
        ok = text.endswith("s") and float(text[:-1]) > 0 and math.isfinite(float(text[:-1]))
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"must be a positive integer (records) or seconds such as '1s', got {value!r}")


@attrs.frozen
class Component:
    """A named, pluggable component (scenario, topology, signal, mode, demand) and its parameters."""

    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)


@attrs.frozen
class MetricsConfig:
    """Which metrics to record, and per-metric parameter tables."""

    names: tuple[str, ...] = ("productivity", "efficacy", "effective_productivity", "efficiency")
    params: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, converter=dict)


_SECTIONS: dict[str, type] = {
    "run": RunConfig,
    "profile": ProfileConfig,
    "mixing": MixingConfig,
    "budget": BudgetConfig,
    "penalty": PenaltyConfig,
    "learn": LearnConfig,
    "disperse": DisperseConfig,
    "init": InitConfig,
    "archive": ArchiveConfig,
}
COMPONENTS: dict[str, str] = {
    "scenario": "generic",
    "topology": "complete",
    "signal": "coverage",
    "mode": "gradient",
    "demand": "static",
}
ALL_SECTIONS = tuple(_SECTIONS) + tuple(COMPONENTS) + ("metrics",)


@attrs.frozen
class Config:
    """A whole run configuration (frozen). Build with `Config.from_dict` or `load_config`."""

    run: RunConfig = attrs.field(factory=RunConfig)
    scenario: Component = attrs.field(factory=lambda: Component("generic"))
    profile: ProfileConfig = attrs.field(factory=ProfileConfig)
    topology: Component = attrs.field(factory=lambda: Component("complete"))
    mixing: MixingConfig = attrs.field(factory=MixingConfig)
    signal: Component = attrs.field(factory=lambda: Component("coverage"))
    mode: Component = attrs.field(factory=lambda: Component("gradient"))
    demand: Component = attrs.field(factory=lambda: Component("static"))
    budget: BudgetConfig = attrs.field(factory=BudgetConfig)
    penalty: PenaltyConfig = attrs.field(factory=PenaltyConfig)
    learn: LearnConfig = attrs.field(factory=LearnConfig)
    disperse: DisperseConfig = attrs.field(factory=DisperseConfig)
    init: InitConfig = attrs.field(factory=InitConfig)
    metrics: MetricsConfig = attrs.field(factory=MetricsConfig)
    archive: ArchiveConfig = attrs.field(factory=ArchiveConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Config:
        """Validate a nested dict (as read from TOML); errors name the key and the allowed values."""
        data = dict(data or {})
        for section in data:
            if section not in ALL_SECTIONS:
                near = difflib.get_close_matches(str(section), ALL_SECTIONS, n=2, cutoff=0.5)
                hint = f"; did you mean {' or '.join(map(repr, near))}?" if near else ""
                raise ConfigError(
                    f"unknown config section '[{section}]'{hint} Allowed sections: {', '.join(ALL_SECTIONS)}"
                )
            if not isinstance(data[section], Mapping):
                raise ConfigError(f"config section '[{section}]' must be a table, got {data[section]!r}")
        kwargs: dict[str, Any] = {}
        for name, section_cls in _SECTIONS.items():
            kwargs[name] = P.build(section_cls, data.get(name), name)
        for name, default in COMPONENTS.items():
            table = dict(data.get(name) or {})
            comp_name = table.pop("name", default)
            if not isinstance(comp_name, str) or not comp_name:
                raise ConfigError(f"config key '{name}.name' must be a non-empty string, got {comp_name!r}")
            kwargs[name] = Component(comp_name, table)
        metrics = dict(data.get("metrics") or {})
        names = metrics.pop("names", MetricsConfig().names)
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"config key 'metrics.names' must be a list of metric names, got {names!r}")
        for key, value in metrics.items():
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"config key 'metrics.{key}' must be a table of parameters for metric '{key}' "
                    f"(write [metrics.{key}]), got {value!r}"
                )
        kwargs["metrics"] = MetricsConfig(tuple(names), {k: dict(v) for k, v in metrics.items()})
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/TOML-ready) that `from_dict` turns back into an equal Config."""
        out: dict[str, Any] = {}
        for name in _SECTIONS:
            out[name] = P.to_table(getattr(self, name))
        for name in COMPONENTS:
            comp: Component = getattr(self, name)
            out[name] = {"name": comp.name, **copy.deepcopy(dict(comp.params))}
        out["metrics"] = {"names": list(self.metrics.names), **copy.deepcopy(dict(self.metrics.params))}
        return _jsonable(out)

    def to_json(self) -> str:
        """The config as JSON (stored in every archive for provenance)."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> Config:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))

    def replace(self, **overrides: Any) -> Config:
        """A copy with dotted-key overrides applied: ``cfg.replace(**{"run.steps": 10})``."""
        return Config.from_dict(apply_overrides(self.to_dict(), overrides))


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one `section.key=value` (value in TOML syntax; bare words are strings)."""
    if "=" not in text:
        raise ConfigError(f"--set expects section.key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if "." not in key or not all(key.split(".")):
        raise ConfigError(f"--set key must be section.key (e.g. run.steps=100), got {key!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (a copy)."""
    out = copy.deepcopy(dict(data))
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"cannot set '{key}': '{part}' is a value, not a table")
            node = child
        node[parts[-1]] = value
    return out


def merge_defaults(defaults: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    """Scenario defaults under the user's tables. A component table whose `name` the user changed
    takes none of the scenario's parameters for it (they belong to a different component)."""
    out = copy.deepcopy(dict(defaults))
    for section, table in user.items():
        if not isinstance(table, Mapping) or not isinstance(out.get(section), Mapping):
            out[section] = copy.deepcopy(table)
            continue
        base = out[section]
        if section in COMPONENTS and "name" in table and table["name"] != base.get("name", table["name"]):
            out[section] = copy.deepcopy(dict(table))
            continue
        merged = dict(base)
        merged.update(copy.deepcopy(dict(table)))
        out[section] = merged
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file; errors name the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(
    source: str | Path | Mapping[str, Any], overrides: Mapping[str, Any] | None = None, *, registry=None
) -> Config:
    """Read (a TOML path or a dict), override, apply the scenario's defaults and validate.

    Errors name the file. `registry` supplies the scenario's defaults (a fresh one if omitted).
    """
    where = "" if isinstance(source, Mapping) else f"{source}: "
    data = dict(source) if isinstance(source, Mapping) else read_toml(source)
    try:
        data = apply_overrides(data, overrides or {})
        if registry is None:
            from .registry import Registry

            registry = Registry()
        scenario = data.get("scenario") or {}
        name = scenario.get("name", COMPONENTS["scenario"]) if isinstance(scenario, Mapping) else None
        if isinstance(name, str):
            spec = registry.get("scenario", name, "scenario.name")
            data = merge_defaults(spec.defaults, data)
        return Config.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
