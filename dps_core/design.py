"""Sweep files and their designs: a base config plus axes over config keys, expanded into runs.

A sweep file (TOML; see docs/sweeps.md) has a `[sweep]` table (`base` config path or inline
`[base]` tables, `replicates`, `seed`), and any of: `[grid]` (lists, full Cartesian product),
`[zip]` or `[[zip]]` (lists of equal length taken position by position), `[design]` (a
space-filling design from `scipy.stats.qmc` over `[design.ranges]`, with integer and log-scale
keys). Points are the product of grid × zip groups × design; each point is run `replicates` times.
Each run's integer `run.seed` comes from one root `SeedSequence(sweep.seed)`, spawned once per run,
and is stored in the run's config, so a run is a pure function of its config.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from . import params as P
from .config import apply_overrides, load_config, read_toml
from .errors import ConfigError

__all__ = ["RunSpec", "SweepPlan", "load_sweep", "validate_run"]

DESIGNS = ("lhs", "sobol", "halton")
_SWEEP_KEYS = {"name", "base", "replicates", "seed", "threads", "description"}
_TOP_KEYS = {"sweep", "base", "grid", "zip", "design"}


@attrs.frozen
class RunSpec:
    """One run of a sweep: its id, design point, replicate, the parameter values and its config."""

    id: str
    point: int
    replicate: int
    params: dict
    seed: int
    config: dict


@attrs.frozen
class SweepPlan:
    """A sweep file expanded: every run with its full config, and the hash that identifies it."""

    name: str
    path: Path | None
    base_dir: Path | None
    keys: tuple[str, ...]
    replicates: int
    threads: int | None
    runs: tuple[RunSpec, ...]
    hash: str

    def table(self) -> list[dict]:
        """One row per run: id, point, replicate, the axis values, seed."""
        return [
            {"run": r.id, "point": r.point, "replicate": r.replicate, **r.params, "seed": r.seed} for r in self.runs
        ]


def _err(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def _axis_lists(table: Any, where: str) -> dict[str, list]:
    if not isinstance(table, Mapping):
        raise _err(where, f"must be a table of 'section.key' = [values], got {table!r}")
    out = {}
    for key, values in table.items():
        _check_key(key, where)
        if not isinstance(values, list) or not values:
            raise _err(where, f"'{key}' must be a non-empty list of values, got {values!r}")
        out[key] = values
    return out


def _check_key(key: str, where: str) -> None:
    if not isinstance(key, str) or "." not in key or not all(key.split(".")):
        raise _err(where, f'axis key must be a dotted config key such as "scenario.peaks", got {key!r}')
    if key == "run.seed":
        raise _err(where, "run.seed is set per run from sweep.seed; use replicates for more seeds")


def _grid(data: Mapping, where: str) -> list[dict]:
    if "grid" not in data:
        return [{}]
    axes = _axis_lists(data["grid"], f"{where} [grid]")
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())]


def _zips(data: Mapping, where: str) -> list[list[dict]]:
    raw = data.get("zip")
    if raw is None:
        return []
    groups = raw if isinstance(raw, list) else [raw]
    out = []
    for i, group in enumerate(groups):
        w = f"{where} [zip]" if not isinstance(raw, list) else f"{where} [[zip]] #{i + 1}"
        axes = _axis_lists(group, w)
        lengths = {k: len(v) for k, v in axes.items()}
        if len(set(lengths.values())) > 1:
            raise _err(w, f"zipped lists must have equal lengths, got {lengths}")
        n = next(iter(lengths.values()))
        out.append([{k: v[j] for k, v in axes.items()} for j in range(n)])
    return out


def _design(data: Mapping, where: str, seed_seq: np.random.SeedSequence) -> list[dict]:
    """Points of a space-filling design over `[design.ranges]` (values scaled and rounded)."""
    if "design" not in data:
        return [{}]
    from scipy.stats import qmc

    d = data["design"]
    w = f"{where} [design]"
    if not isinstance(d, Mapping):
        raise _err(w, "must be a table with method, samples and [design.ranges]")
    unknown = set(d) - {"method", "samples", "ranges", "scramble"}
    if unknown:
        raise _err(w, f"unknown key '{sorted(unknown)[0]}'; allowed: method, samples, ranges, scramble")
    method = d.get("method", "lhs")
    if method not in DESIGNS:
        raise _err(w, f"method must be one of {', '.join(DESIGNS)}, got {method!r}")
    samples = d.get("samples")
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise _err(w, f"samples must be a positive integer, got {samples!r}")
    ranges = d.get("ranges")
    if not isinstance(ranges, Mapping) or not ranges:
        raise _err(w, "needs [design.ranges] with at least one 'section.key' = {low = .., high = ..}")
    specs = []
    for key, r in ranges.items():
        _check_key(key, f"{w}.ranges")
        rw = f"{w}.ranges '{key}'"
        if not isinstance(r, Mapping) or "low" not in r or "high" not in r:
            raise _err(rw, f"must be a table {{low = .., high = .., integer = false, log = false}}, got {r!r}")
        bad = set(r) - {"low", "high", "integer", "log"}
        if bad:
            raise _err(rw, f"unknown key '{sorted(bad)[0]}'; allowed: low, high, integer, log")
        low, high = r["low"], r["high"]
        if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in (low, high)):
            raise _err(rw, f"low and high must be finite numbers, got {low!r} and {high!r}")
        if not low < high:
            raise _err(rw, f"needs low < high, got {low} and {high}")
        log, integer = bool(r.get("log", False)), bool(r.get("integer", False))
        if log and low <= 0:
            raise _err(rw, f"a log-scale range needs low > 0, got {low}")
        specs.append((key, float(low), float(high), integer, log))
    dim = len(specs)
    rng = np.random.Generator(np.random.PCG64(seed_seq))
    scramble = bool(d.get("scramble", True))
    if method == "lhs":
        sampler = qmc.LatinHypercube(d=dim, rng=rng)
    elif method == "sobol":
        sampler = qmc.Sobol(d=dim, scramble=scramble, rng=rng)
    else:
        sampler = qmc.Halton(d=dim, scramble=scramble, rng=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol's balance warning for sample counts that are not powers of 2
        u = sampler.random(samples)
    points = []
    for row in u:
        pt = {}
        for (key, low, high, integer, log), x in zip(specs, row, strict=True):
            if log:
                v = math.exp(math.log(low) + x * (math.log(high) - math.log(low)))
            else:
                v = low + x * (high - low)
            if integer:  # equal-width bins over low..high inclusive (on the log scale if log)
                lo, hi = math.ceil(low), math.floor(high)
                if log:
                    v = round(v)
                else:
                    v = lo + math.floor(x * (hi - lo + 1))
                v = int(min(max(v, lo), hi))
            pt[key] = v
        points.append(pt)
    return points


def _base(data: Mapping, path: Path | None, where: str) -> tuple[dict, Path | None]:
    sweep = data.get("sweep", {})
    base: dict[str, Any] = {}
    base_dir = path.parent if path is not None else None
    ref = sweep.get("base")
    if ref is not None:
        if not isinstance(ref, str):
            raise _err(where, f"sweep.base must be a path to a config file, got {ref!r}")
        p = Path(ref)
        if not p.is_absolute() and path is not None:
            p = path.parent / p
        base = read_toml(p)
        base_dir = p.resolve().parent
    inline = data.get("base")
    if inline is not None:
        if not isinstance(inline, Mapping):
            raise _err(where, "[base] must hold config tables such as [base.run]")
        for section, table in inline.items():
            if isinstance(table, Mapping) and isinstance(base.get(section), Mapping):
                base[section] = {**base[section], **copy.deepcopy(dict(table))}
            else:
                base[section] = copy.deepcopy(table)
    if ref is None and inline is None:
        raise _err(where, 'needs a base config: sweep.base = "config.toml" or inline [base.*] tables')
    return base, base_dir


def _seed_of(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))  # 63 bits: a non-negative TOML integer


def load_sweep(source: str | Path | Mapping[str, Any], *, registry=None, validate: bool = True) -> SweepPlan:
    """Read a sweep file (path or dict), expand it into runs and (by default) validate every run's
    config, naming the first run the validator refuses."""
    path = None if isinstance(source, Mapping) else Path(source)
    where = "sweep" if path is None else str(path)
    data = dict(source) if isinstance(source, Mapping) else read_toml(Path(source))
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _err(where, f"unknown table [{sorted(unknown)[0]}]; allowed: {', '.join(sorted(_TOP_KEYS))}")
    sweep = data.get("sweep", {})
    if not isinstance(sweep, Mapping):
        raise _err(where, "[sweep] must be a table")
    bad = set(sweep) - _SWEEP_KEYS
    if bad:
        raise _err(where, f"unknown key 'sweep.{sorted(bad)[0]}'; allowed: {', '.join(sorted(_SWEEP_KEYS))}")
    reps = sweep.get("replicates", 1)
    if not isinstance(reps, int) or isinstance(reps, bool) or reps < 1:
        raise _err(where, f"sweep.replicates must be a positive integer, got {reps!r}")
    root_seed = sweep.get("seed", 0)
    if not isinstance(root_seed, int) or isinstance(root_seed, bool) or root_seed < 0:
        raise _err(where, f"sweep.seed must be a non-negative integer, got {root_seed!r}")
    n_threads = sweep.get("threads", 1)
    if n_threads is not None and (not isinstance(n_threads, int) or isinstance(n_threads, bool) or n_threads < 0):
        raise _err(where, f"sweep.threads must be a non-negative integer (0: automatic), got {n_threads!r}")
    base, base_dir = _base(data, path, where)
    ss_runs, ss_design = np.random.SeedSequence(root_seed).spawn(2)
    factors = [_grid(data, where), *_zips(data, where), _design(data, where, ss_design)]
    points = []
    for combo in itertools.product(*factors):
        pt: dict[str, Any] = {}
        for part in combo:
            clash = set(pt) & set(part)
            if clash:
                raise _err(where, f"key '{sorted(clash)[0]}' appears on more than one axis")
            pt.update(part)
        points.append(pt)
    keys = tuple(dict.fromkeys(k for pt in points for k in pt))
    n_runs = len(points) * reps
    width = max(4, len(str(n_runs - 1)))
    children = ss_runs.spawn(n_runs)
    runs = []
    for i, (pi, r) in enumerate(itertools.product(range(len(points)), range(reps))):
        seed = _seed_of(children[i])
        cfg = apply_overrides(base, {**points[pi], "run.seed": seed})
        runs.append(RunSpec(f"r{i:0{width}d}", pi, r, dict(points[pi]), seed, cfg))
    digest = hashlib.sha256(
        json.dumps([r.config for r in runs], sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()
    name = sweep.get("name") or (path.stem if path is not None else "sweep")
    plan = SweepPlan(str(name), path, base_dir, keys, reps, None if n_threads == 0 else n_threads, tuple(runs), digest)
    if validate:
        from .registry import Registry

        reg = registry if registry is not None else Registry()
        for run in plan.runs:
            if run.replicate == 0:  # replicates differ only in run.seed, which every check accepts
                validate_run(run, reg, where)
    return plan


def validate_run(run: RunSpec, registry, where: str = "sweep") -> None:
    """Check a run's config as the engine would (sections, component parameters and their
    cross-checks) without building the system; errors name the run and its parameters."""
    label = f"{where}: run {run.id} ({', '.join(f'{k}={v!r}' for k, v in run.params.items()) or 'base'})"
    try:
        cfg = load_config(run.config, registry=registry)
        for kind in ("scenario", "topology", "signal", "mode", "demand"):
            comp = getattr(cfg, kind)
            spec = registry.get(kind, comp.name, f"{kind}.name")
            prm = P.build(spec.params, comp.params, kind)
            check = getattr(prm, "check", None)
            if callable(check):
                try:
                    check(cfg)
                except ValueError as exc:
                    raise ConfigError(f"config section '[{kind}]' ({kind} '{comp.name}'): {exc}") from None
        for name in cfg.metrics.names:
            spec = registry.get("metric", name, "metrics.names")
            P.build(spec.params, cfg.metrics.params.get(name), f"metrics.{name}")
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from None
