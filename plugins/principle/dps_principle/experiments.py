"""Each law of the Principle as an experiment and its negative control, run as two sweeps, and
the per-replicate statistics the verdicts are computed from (docs/principle.md)."""

from __future__ import annotations

import copy
import json
import math
import time
import tomllib
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from dps_core import ConfigError, DPSError, Simulation, Sweep, open_archive

from . import protocol as pr
from .homogeneous import best_homogeneous
from .stats import Outcome, combine, judge, slope, spearman, t_interval

__all__ = ["Settings", "LawResult", "run_law"]


@attrs.frozen
class Settings:
    """How to run: output directory, seeds, design size, user base config, executor."""

    out: Path
    seeds: int
    seed: int = 1
    quick: bool = False
    config: Path | None = None  # the user's base config (TOML); None: each law's embedded base
    executor: Any = None  # a concurrent.futures.Executor (e.g. a Dask client's); None: local processes
    workers: int | None = None
    progress: bool = False


@attrs.define
class LawResult:
    """A law's outcome: the statistics of the experiment and the control, their verdicts, the gap
    to the reference optimum where one exists, and what its figure draws."""

    law: str
    applies: bool = True
    reason: str = ""  # why it cannot apply, when it cannot
    experiment: list[Outcome] = attrs.Factory(list)
    control: list[Outcome] = attrs.Factory(list)
    diagnostic: list[Outcome] = attrs.Factory(list)  # reported beside the control, not judged with it
    verdict: str = "inconclusive"
    why: str = ""
    control_verdict: str = "inconclusive"
    control_why: str = ""
    gaps: dict[str, tuple[float, float, float]] = attrs.Factory(dict)  # label: efficacy gap mean, low, high
    notes: list[str] = attrs.Factory(list)
    figure: dict[str, Any] = attrs.Factory(dict)
    seconds: float = 0.0

    def finish(self) -> LawResult:
        self.verdict, self.why = combine(self.experiment)
        self.control_verdict, self.control_why = combine(self.control)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"law": self.law, "applies": self.applies}
        if not self.applies:
            out["reason"] = self.reason
            return out
        gaps = {k: [v if math.isfinite(v) else None for v in g] for k, g in self.gaps.items()}
        out.update(
            verdict=self.verdict,
            why=self.why,
            statistics=[o.to_dict() for o in self.experiment],
            control={
                "what": pr.CONTROLS[self.law],
                "verdict": self.control_verdict,
                "why": self.control_why,
                "statistics": [o.to_dict() for o in self.control],
            },
            efficacy_gap=gaps,
            diagnostic={
                "what": pr.DIAGNOSTICS.get(self.law, {}),
                "statistics": [o.to_dict() for o in self.diagnostic],
            }
            if self.diagnostic
            else None,
            notes=self.notes,
            seconds=round(self.seconds, 1),
        )
        return out


class CannotApply(Exception):
    """The experiment's design cannot be built on this base config; the message says why."""


# --- running the sweeps ---------------------------------------------------------------------------


@attrs.frozen
class Run:
    """One finished (or failed) run of a sweep: its axis values, replicate, final metrics, archive."""

    params: dict[str, Any]
    replicate: int
    ok: bool
    finals: dict[str, Any]
    path: Path

    def final(self, name: str) -> float:
        v = self.finals.get(name)
        return float(v) if self.ok and isinstance(v, int | float) else math.nan

    def series(self, *names: str) -> list[np.ndarray]:
        with open_archive(self.path) as ar:
            ts = ar.timeseries()
        return [np.asarray(ts.get(n, []), dtype=np.float64) for n in names]

    def config(self) -> dict[str, Any]:
        with open_archive(self.path) as ar:
            return ar.config_dict


def _sweep(s: Settings, law: str, name: str, base: dict, axes: dict, base_path: Path | None = None) -> list[Run]:
    """Run (or continue) one sweep of `law` into OUT/law/name and return its runs."""
    plan: dict[str, Any] = {
        "sweep": {"name": f"{law}-{name}", "seed": s.seed, "replicates": s.seeds, "threads": 1},
        "base": base,
        **axes,
    }
    if base_path is not None:
        plan["sweep"]["base"] = str(base_path)
    directory = s.out / law / name
    try:
        sweep = Sweep.run(plan, directory, executor=s.executor, workers=s.workers, progress=s.progress)
    except ConfigError as exc:
        raise CannotApply(f"the {name}'s design is not a valid config here: {exc}") from None
    rows = sweep.records()
    return [
        Run(
            dict(r["params"]),
            int(r["replicate"]),
            row.get("status") in ("finished", "converged"),
            row,
            directory / r["archive"],
        )
        for r, row in zip(sweep.runs, rows, strict=True)
    ]


def _flatten(tables: dict[str, Any]) -> dict[str, Any]:
    return {f"{section}.{key}": value for section, table in tables.items() for key, value in table.items()}


def _validate(name: str, base: dict, path: Path | None, point: dict[str, Any]) -> None:
    """Build one run of a sweep before anything runs, so that a control the base config cannot
    take is reported before the experiment has spent its time."""
    try:
        if path is None:
            Simulation.from_config(base, overrides=point)
        else:
            Simulation.from_config(path, overrides={**_flatten(base), **point})
    except DPSError as exc:
        raise CannotApply(f"the {name}'s design is not a valid config here: {exc}") from None


def _user_base(s: Settings) -> dict[str, Any]:
    assert s.config is not None
    try:
        with open(s.config, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"--config {s.config}: cannot read it: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {s.config}: not valid TOML: {exc}") from None


def _base(s: Settings, law: str, changes: dict[str, dict]) -> tuple[dict, Path | None]:
    """(inline base tables, base file): the law's embedded base with `changes`, or, with --config,
    the user's file (relative paths in it stay relative to it) with `changes` laid over it."""
    metrics = changes.pop("metrics", {}).get("names", [])
    if s.config is None:
        base = pr.base_config(law)
        for section, table in changes.items():
            base[section] = {**base.get(section, {}), **table}
        base["metrics"] = {"names": metrics}
        return base, None
    user = _user_base(s)
    own = list((user.get("metrics") or {}).get("names", []))
    changes["metrics"] = {"names": list(dict.fromkeys([*own, *metrics]))}
    return changes, s.config.resolve()


def _replicates(runs: list[Run]) -> dict[int, list[Run]]:
    by: dict[int, list[Run]] = defaultdict(list)
    for r in runs:
        by[r.replicate].append(r)
    return dict(sorted(by.items()))


def _failed_note(runs: list[Run], what: str) -> list[str]:
    bad = sum(not r.ok for r in runs)
    return [f"{bad} of {len(runs)} {what} runs did not finish; their replicates count as undefined"] if bad else []


def _gap(runs: list[Run]) -> tuple[float, float, float] | None:
    values = [r.final("efficacy_gap") for r in runs]
    if not any(math.isfinite(v) for v in values):
        return None
    return t_interval(values)


def _optimum_applies(s: Settings, base: dict) -> bool:
    """The reference optimum exists for the generic scenario, von Mises profiles, mean-field mixing."""
    cfg = _user_base(s) if s.config is not None else base
    get = lambda sec, key, default: (cfg.get(sec) or {}).get(key, default)  # noqa: E731
    return (
        get("scenario", "name", "generic") == "generic"
        and get("profile", "family", "vonmises") == "vonmises"
        and get("mixing", "name", "mean_field") == "mean_field"
    )


# --- law 1 ---------------------------------------------------------------------------------------


def _law1(s: Settings, res: LawResult) -> None:
    d = pr.design("law1", s.quick)
    changes: dict[str, dict] = {"metrics": {"names": ["efficacy", "hill"]}}
    if s.config is None:
        changes["run"] = {"steps": d["steps"], "record_every": d["record_every"]}
    base, path = _base(s, "law1", changes)
    if _optimum_applies(s, base):
        base["metrics"]["names"].append("optimum_gap")
    control = copy.deepcopy(base)
    control["mode"] = {**control.get("mode", {}), "eta": 0.0}
    _validate("control", control, path, {})
    exp_runs = _sweep(s, "law1", "experiment", base, {}, path)
    ctl_runs = _sweep(s, "law1", "control", control, {}, path)
    homogeneous: dict[str, tuple[float, str]] = {}
    courses: dict[str, list] = {"experiment": [], "control": []}  # (efficacy, Hill) series, for the figure

    def stats(runs: list[Run], which: str) -> tuple[list[float], list[float]]:
        co, adv = [], []
        for r in runs:
            if not r.ok:
                co.append(math.nan)
                adv.append(math.nan)
                continue
            h, e = r.series("hill_q1", "efficacy")
            courses[which].append((e, h))
            co.append(spearman(h, e))
            cfg = r.config()
            cfg["run"] = {**cfg["run"], "seed": 0, "output": ""}
            key = json.dumps(cfg, sort_keys=True, default=str)
            if key not in homogeneous:
                try:
                    homogeneous[key] = best_homogeneous(cfg)
                except (ValueError, DPSError) as exc:  # no comparison for this family, or the system cannot be rebuilt
                    homogeneous[key] = (math.nan, str(exc))
            adv.append(r.final("efficacy") - homogeneous[key][0])
        return co, adv

    rules = pr.RULES["law1"]
    for which, runs, out in (("experiment", exp_runs, res.experiment), ("control", ctl_runs, res.control)):
        co, adv = stats(runs, which)
        out.append(judge(rules[0], co))
        out.append(judge(rules[1], adv))
    hom = sorted(homogeneous.values(), key=lambda v: -v[0] if math.isfinite(v[0]) else math.inf)
    if hom:
        best, where = hom[0]
        res.notes.append(
            f"best homogeneous efficacy {best:.4f} ({where})" if math.isfinite(best) else f"advantage: {where}"
        )
    gap = _gap(exp_runs)
    if gap is not None:
        res.gaps[""] = gap
    res.notes += _failed_note(exp_runs, "experiment") + _failed_note(ctl_runs, "control")
    res.figure = {
        **courses,
        "homogeneous": hom[0][0] if hom else math.nan,
        "final": [r.final("efficacy") for r in exp_runs],
        "control_final": [r.final("efficacy") for r in ctl_runs],
    }


# --- law 2 ---------------------------------------------------------------------------------------


def _track(
    exp_runs: list[Run], ctl_runs: list[Run], key: str, h: str, m: str, label: str, rules
) -> tuple[list[Outcome], list[Outcome], list[tuple]]:
    """Tracking slope and saturation ratio per replicate (H against the experiment's M at the same
    design point), for the experiment and for the control; and the (M, H, which) points drawn."""
    modes: dict[Any, list[float]] = defaultdict(list)
    for r in exp_runs:
        modes[r.params[key]].append(r.final(m))
    M = {p: float(np.nanmean(v)) if any(math.isfinite(x) for x in v) else math.nan for p, v in modes.items()}
    outs, points = [], []
    for which, runs in (("experiment", exp_runs), ("control", ctl_runs)):
        tracking, saturation = [], []
        for reps in _replicates(runs).values():
            x = [M[r.params[key]] for r in reps]
            y = [r.final(h) for r in reps]
            points += [(a, b, which) for a, b in zip(x, y, strict=True)]
            complete = all(math.isfinite(v) for v in x + y)
            tracking.append(slope(x, y) if complete else math.nan)
            saturation.append(float(np.mean(np.divide(y, x))) if complete else math.nan)
        outs.append([judge(rules[0], tracking, label), judge(rules[1], saturation, label)])
    return outs[0], outs[1], points


def _law2(s: Settings, res: LawResult) -> None:
    d = pr.design("law2", s.quick)
    if s.config is not None:
        user = _user_base(s)
        scenario = (user.get("scenario") or {}).get("name", "generic")
        if scenario != "generic":
            raise CannotApply(
                f"law 2 varies the number of demand peaks (scenario.peaks, scenario.centres), which scenario "
                f"'{scenario}' does not have; there is no demand-modes design to run on it"
            )
    metrics = ["efficacy", "hill", "demand_modes"]
    changes: dict[str, dict] = {"metrics": {"names": metrics}}
    classes: dict[str, dict[str, dict]] = {}
    if s.config is None:
        changes["run"] = {"steps": d["steps"], "record_every": d["record_every"]}
        for name, (kappa, width, eta) in pr.LAW2_CLASSES.items():
            classes[name] = {
                "profile": {"kappa": kappa},
                "scenario": {"width": width},
                "mode": {"eta": eta, "noise": pr.LAW2_NOISE, "anneal": float(d["anneal"]), "explore": "payoff"},
            }
    else:
        classes["your config"] = {}
    peaks = d["peaks"]
    res.figure = {"classes": {}}
    for label, extra in classes.items():
        base, path = _base(s, "law2", {**copy.deepcopy(changes), **copy.deepcopy(extra)})
        if _optimum_applies(s, base):
            base["metrics"]["names"].append("optimum_gap")
        tag = label.replace(" ", "-")
        one_peak = {"zip": {"scenario.peaks": peaks, "scenario.centres": [[0.0] * p for p in peaks]}}
        _validate("control", base, path, {"scenario.peaks": peaks[-1], "scenario.centres": [0.0] * peaks[-1]})
        exp_runs = _sweep(s, "law2", f"experiment-{tag}", base, {"grid": {"scenario.peaks": peaks}}, path)
        ctl_runs = _sweep(s, "law2", f"control-{tag}", base, one_peak, path)
        e, c, points = _track(exp_runs, ctl_runs, "scenario.peaks", "hill_q1", "demand_modes", label, pr.RULES["law2"])
        res.experiment += e
        res.control += c
        res.figure["classes"][label] = points
        gap = _gap(exp_runs)
        if gap is not None:
            res.gaps[label] = gap
        res.notes += _failed_note(exp_runs, f"{label} experiment") + _failed_note(ctl_runs, f"{label} control")


# --- law 3 ---------------------------------------------------------------------------------------


def _ring_edges(n: int, k: int) -> np.ndarray:
    i = np.arange(n)
    return np.array([(u, (u + j) % n) for j in range(1, k + 1) for u in i], dtype=np.int64)


def _edge_file(path: Path, edges, what: str) -> Path:
    text = f"# {what} (dps principle law3)\n" + "".join(f"{u} {v}\n" for u, v in edges)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _shuffled_ring_file(directory: Path, n: int, k: int, rng: np.random.Generator) -> Path:
    """An edge-list file of the ring with k neighbours a side, its node labels permuted (the same
    graph, relabelled: the diagnostic)."""
    edges = rng.permutation(n)[_ring_edges(n, k)]
    what = "a ring with k neighbours a side, node labels permuted"
    return _edge_file(directory / f"ring-n{n}-k{k}-shuffled.txt", edges, what)


def _rewired_ring_file(directory: Path, n: int, k: int, rng: np.random.Generator) -> Path:
    """An edge-list file of the ring with k neighbours a side randomised by degree-preserving
    double edge swaps, 10 per edge, kept connected (the negative control)."""
    import networkx as nx

    g = nx.Graph([tuple(e) for e in _ring_edges(n, k).tolist()])
    nx.connected_double_edge_swap(g, nswap=10 * g.number_of_edges(), seed=int(rng.integers(2**31)))
    what = "a ring with k neighbours a side, rewired by degree-preserving double edge swaps"
    return _edge_file(directory / f"ring-n{n}-k{k}-rewired.txt", sorted(g.edges()), what)


def _xi(r: Run) -> tuple[float, bool]:
    """The protocol's correlation length: 0 when C(1) is below twice its sampling error, the
    censoring length when C(1) is detectable but |C| never falls; (xi, censored)."""
    c1, se, xi = r.final("corr_d1"), r.final("corr_se_d1"), r.final("correlation_length")
    if not (math.isfinite(c1) and math.isfinite(se)):
        return math.nan, False
    if abs(c1) < 2 * se:
        return 0.0, False
    if not math.isfinite(xi):
        return float(pr.CORR_MAX_DISTANCE), True
    return xi, False


def _law3(s: Settings, res: LawResult) -> None:
    d = pr.design("law3", s.quick)
    metrics = ["efficacy", "hill", "spatial_correlation", "reach"]
    if s.config is None:
        base = pr.base_config("law3")
        base["run"].update(steps=d["steps"], record_every=d["record_every"])
        base["scenario"]["agents"] = d["agents"]
    else:
        base = _user_base(s)
        mixing = (base.get("mixing") or {}).get("name", "mean_field")
        if mixing not in ("shared", "conservative"):
            raise CannotApply(
                f"law 3 needs local mixing (mixing.name 'shared' or 'conservative'); this config uses '{mixing}', "
                "where output reaches every agent at once and no topology can set a spatial scale"
            )
    base["metrics"] = {"names": list(dict.fromkeys([*(base.get("metrics") or {}).get("names", []), *metrics]))}
    base["topology"] = {"name": "ring", "k": 1}
    try:
        n = Simulation.from_config(base).model.n_agents
    except ConfigError as exc:
        raise CannotApply(f"law 3 cannot build this config on a ring: {exc}") from None
    ks = [k for k in d["k"] if 2 * k < n]
    if len(ks) < 3:
        raise CannotApply(f"law 3 needs rings with at least three neighbourhood sizes; {n} agents allow {ks}")
    graphs = s.out / "law3" / "graphs"
    rng = np.random.default_rng(np.random.SeedSequence([s.seed, 3]))
    permuted = [str(_shuffled_ring_file(graphs, n, k, rng)) for k in ks]
    rng = np.random.default_rng(np.random.SeedSequence([s.seed, 4]))
    rewired = [str(_rewired_ring_file(graphs, n, k, rng)) for k in ks]
    # (outcome list, label, sweep directory, trade, graphs): trade False sets mixing.gamma = 0;
    # graphs None runs the rings of topology.k, otherwise one edge-list file per k
    sweeps = (
        (res.experiment, "", "experiment", True, None),
        (res.control, "", "control", False, permuted),
        (res.diagnostic, "permuted labels", "diagnostic-permuted", True, permuted),
        (res.diagnostic, "rewired", "diagnostic-rewired", True, rewired),
        (res.diagnostic, "no trade", "diagnostic-no-trade", False, None),
    )
    res.figure = {}
    for outcomes, label, name, trade, files in sweeps:
        cfg = copy.deepcopy(base)
        if not trade:
            cfg["mixing"] = {**cfg.get("mixing", {}), "gamma": 0.0}
        if files is None:
            key, labels = "topology.k", list(ks)
        else:
            key, labels = "topology.file", files
            cfg["topology"] = {"name": "edgelist", "file": files[0]}
        runs = _sweep(s, "law3", name, cfg, {"grid": {key: labels}})
        values, points, censored = [], [], 0
        for reps in _replicates(runs).values():
            reps = sorted(reps, key=lambda r: labels.index(r.params[key]))
            L = [r.final("mean_path") for r in reps]
            xi = []
            for r in reps:
                v, cens = _xi(r)
                censored += cens
                xi.append(v)
            values.append(spearman(L, xi) if len(reps) == len(labels) else math.nan)
            points += [(a, b, ks[labels.index(r.params[key])]) for a, b, r in zip(L, xi, reps, strict=True)]
        outcomes.append(judge(pr.RULES["law3"][0], values, label=label))
        res.figure[label or name] = points
        res.notes += _failed_note(runs, label or name)
        if censored:
            res.notes.append(f"{label or name}: {censored} correlation lengths censored at {pr.CORR_MAX_DISTANCE} hops")


# --- law 4 ---------------------------------------------------------------------------------------


def _law4(s: Settings, res: LawResult) -> None:
    d = pr.design("law4", s.quick)
    if s.config is not None:
        scenario = (_user_base(s).get("scenario") or {}).get("name", "generic")
        if scenario != "nested":
            raise CannotApply(
                f"law 4 measures layer 2 of a nested system (scenario 'nested', plugin dps-nesting); "
                f"this config's scenario is '{scenario}'"
            )
    changes: dict[str, dict] = {"metrics": {"names": ["efficacy", "system_efficacy", "layer2"]}}
    if s.config is None:
        changes["run"] = {"steps": d["steps"], "record_every": d["record_every"]}
    base, path = _base(s, "law4", changes)
    control = copy.deepcopy(base)
    control["demand"] = {**control.get("demand", {}), "name": "nesting.coordination", "asks": "equal"}
    axes = {"grid": {"scenario.peaks": d["peaks"]}}
    _validate("control", control, path, {"scenario.peaks": d["peaks"][-1]})
    exp_runs = _sweep(s, "law4", "experiment", base, axes, path)
    ctl_runs = _sweep(s, "law4", "control", control, axes, path)
    rules = pr.RULES["law4"]
    top = max(d["peaks"])
    series = {}
    for which, runs, out in (("experiment", exp_runs, res.experiment), ("control", ctl_runs, res.control)):
        co = []
        series[which] = []
        for reps in _replicates(runs).values():
            at_top = [r for r in reps if r.params["scenario.peaks"] == top and r.ok]
            if not at_top:
                co.append(math.nan)
                continue
            h2, e = at_top[0].series("layer2_between", "system_efficacy")
            co.append(spearman(h2, e))
            series[which].append((e, h2))
        out.append(judge(rules[0], co))
    e, c, points = _track(exp_runs, ctl_runs, "scenario.peaks", "layer2_between", "layer2_demand_modes", "", rules[1:])
    res.experiment += e
    res.control += c
    res.figure = {"series": series, "points": points}
    res.notes += _failed_note(exp_runs, "experiment") + _failed_note(ctl_runs, "control")


_LAWS: dict[str, Callable[[Settings, LawResult], None]] = {"law1": _law1, "law2": _law2, "law3": _law3, "law4": _law4}


def run_law(law: str, s: Settings) -> LawResult:
    """Run a law's experiment and control (continuing earlier runs in the same directory) and judge them."""
    res = LawResult(law)
    t0 = time.perf_counter()
    try:
        _LAWS[law](s, res)
    except CannotApply as exc:
        return LawResult(law, applies=False, reason=str(exc))
    res.seconds = time.perf_counter() - t0
    return res.finish()
