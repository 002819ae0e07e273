"""The engine: builds a system from a config and plugins, steps it, records it, archives it.

`Simulation.from_config(path_or_dict)` is the usual entry; `Simulation.from_arrays(...)` embeds the
engine on arrays you already have; `Simulation.resume(archive)` continues a run from its last
checkpoint with the same arrays as an uninterrupted run. Randomness comes from one SeedSequence
(children: scenario, topology, initial state, the run's stream); draws are made here, outside the
kernel, and passed in.
"""

from __future__ import annotations

import math
import os
import socket
import time as _time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from . import params as P
from .archive import Archive, ArchiveWriter, copy_prefix, open_archive, replace_atomically
from .backend import backend as _backend
from .backend import kernel_step
from .config import Config, load_config
from .context import StepContext
from .errors import ArchiveError, ConfigError, DPSError, NumericalError, PluginError, ResourceError
from .logs import get_logger
from .mixing import Mixing
from .model import Bound, Model
from .profiles import make_family
from .records import Setup
from .registry import CORE_PLUGIN, Registry
from .state import State
from .topology import Topology

__all__ = ["Simulation", "RunResult", "ScenarioContext", "TopologyContext"]

log = get_logger(__name__)


@attrs.frozen
class ScenarioContext:
    """What a scenario's `build` receives."""

    params: Any
    config: Config
    rng: np.random.Generator
    base_dir: Path | None = None


@attrs.frozen
class TopologyContext:
    """What a topology's `build` receives."""

    params: Any
    n_agents: int
    rng: np.random.Generator
    config: Config
    base_dir: Path | None = None


@attrs.frozen
class RunResult:
    """How a run ended."""

    status: str  # 'finished' or 'converged'
    step: int
    metrics: dict
    archive: Path | None
    seconds: float


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


class Simulation:
    """One distributed production system: its model, its state, and the step loop."""

    # --- construction ------------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        source: str | Path | Mapping | Config,
        *,
        overrides: Mapping[str, Any] | None = None,
        plugins=(),
        entry_points: bool = True,
    ) -> Simulation:
        """Build from a TOML path, a dict or a Config (dotted-key `overrides` applied last)."""
        registry = Registry(plugins, entry_points=entry_points)
        base_dir = None
        if isinstance(source, Config):
            config = source.replace(**overrides) if overrides else source
        else:
            if not isinstance(source, Mapping):
                base_dir = Path(source).resolve().parent
            config = load_config(source, overrides, registry=registry)
        return cls(config, registry=registry, base_dir=base_dir)

    @classmethod
    def from_arrays(
        cls,
        demand,
        *,
        profile: Mapping[str, Any],
        resources=None,
        capability=None,
        topology=None,
        task_positions=None,
        task_similarity=None,
        costs=None,
        config: Mapping | Config | None = None,
        plugins=(),
        entry_points: bool = True,
    ) -> Simulation:
        """Embed the engine on arrays you have: demand (K or rows x K), profile parameters
        ({'logits'} | {'mu','kappa'} | {'atoms'}), optional resources, capabilities, a Topology or
        scipy sparse adjacency, task positions/similarity and costs. `config` sets the rest."""
        registry = Registry(plugins, entry_points=entry_points)
        if isinstance(config, Config):
            config = config.to_dict()
        data = dict(config or {})
        prof = dict(profile)
        n = len(next(iter(prof.values())))
        D = np.asarray(demand, dtype=np.float64)
        D = D[None, :] if D.ndim == 1 else D
        data["scenario"] = {"name": "arrays"}
        family = {"logits": "free", "atoms": "signed", "mu": "vonmises", "kappa": "vonmises"}
        inferred = {family.get(k) for k in prof}
        if len(inferred) == 1 and None not in inferred and "family" not in (data.get("profile") or {}):
            data["profile"] = {**(data.get("profile") or {}), "family": inferred.pop()}  # the arrays say which
        cfg = load_config({k: v for k, v in data.items() if k != "scenario"}, registry=registry)
        cfg = attrs.evolve(cfg, scenario=attrs.evolve(cfg.scenario, name="arrays", params={}))
        if topology is not None and not isinstance(topology, Topology):
            topology = Topology.from_scipy(topology, name="csr")
        setup = Setup(
            demand=D,
            n_agents=n,
            task_positions=task_positions,
            task_similarity=task_similarity,
            capability=capability,
            resources=resources,
            profile=prof,
            topology=topology,
            costs=costs,
        )
        return cls(cfg, registry=registry, setup=setup)

    @classmethod
    def from_archive(cls, path: str | Path, *, plugins=(), entry_points: bool = True) -> Simulation:
        """The simulation an archive describes, at its latest checkpoint (see `resume`)."""
        with open_archive(path) as ar:
            ck = ar.checkpoint()
            if ck is None:
                raise ArchiveError(f"archive {path} has no checkpoint to resume from")
            config = ar.config()
            prov = ar.provenance
            writer_pid, writer_host = int(ar.f["run/pid"][()]), ar.f["run"].attrs.get("host", "")
            status = ar.status
        if status == "running" and writer_host == socket.gethostname() and _pid_alive(writer_pid):
            raise ArchiveError(f"archive {path} is being written by process {writer_pid}; wait for it or stop it first")
        if config.scenario.name == "arrays":
            raise ArchiveError(
                f"archive {path} was made by Simulation.from_arrays; resume it with the same arrays "
                "in Python (sim.load_checkpoint) rather than from the archive alone"
            )
        registry = Registry(plugins, entry_points=entry_points)
        sim = cls(config, registry=registry, _seed_entropy=int(prov["seed_entropy"]))
        sim.run_id = prov["run_id"]
        sim._restore(ck)
        sim._resume_from = (Path(path), ck)
        return sim

    @classmethod
    def resume(cls, path: str | Path, *, steps: int | None = None, progress: bool = False, plugins=()) -> RunResult:
        """Continue the run in `path` from its latest checkpoint, rewriting the archive atomically."""
        sim = cls.from_archive(path, plugins=plugins)
        return sim.run(path, steps=steps, progress=progress, overwrite=True)

    def __init__(
        self,
        config: Config,
        *,
        registry: Registry | None = None,
        plugins=(),
        setup: Setup | None = None,
        base_dir: Path | None = None,
        _seed_entropy: int | None = None,
    ):
        self.config = config
        self.registry = registry if registry is not None else Registry(plugins)
        self.run_id = uuid.uuid4().hex[:16]
        self.history: dict[str, list] = {}
        self._resume_from: tuple[Path, dict] | None = None
        self._last_change = math.nan
        reg = self.registry

        # components and their validated parameters
        scen = self._bind("scenario", None if setup is not None else config.scenario)
        self._components = {kind: self._bind(kind, getattr(config, kind)) for kind in ("signal", "mode", "demand")}
        self.metric_specs = []
        for name in config.metrics.names:
            spec = reg.get("metric", name, "metrics.names")
            prm = P.build(spec.params, config.metrics.params.get(name), f"metrics.{name}")
            self.metric_specs.append(Bound("metric", spec, prm, reg.owner("metric", name)))
        unused = set(config.metrics.params) - set(config.metrics.names)
        if unused:
            raise ConfigError(
                f"config has [metrics.{sorted(unused)[0]}] but metric '{sorted(unused)[0]}' is not in metrics.names"
            )

        # randomness: one SeedSequence, one child per use
        entropy = config.run.seed if _seed_entropy is None else _seed_entropy
        self.seed_sequence = np.random.SeedSequence(entropy)
        ss_scenario, ss_topology, ss_init, ss_run = self.seed_sequence.spawn(4)
        self.rng = np.random.Generator(np.random.PCG64(ss_run))

        # memory, before anything large is allocated
        if setup is None:
            n, k = scen.spec.size(scen.params)
            self._check_memory(int(n), int(k))
            try:
                setup = scen.spec.build(
                    ScenarioContext(scen.params, config, np.random.Generator(np.random.PCG64(ss_scenario)), base_dir)
                )
            except DPSError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin '{scen.plugin}' failed building scenario '{scen.name}': {type(exc).__name__}: {exc}"
                ) from None
            if not isinstance(setup, Setup):
                raise PluginError(
                    f"plugin '{scen.plugin}': scenario '{scen.name}' build() must return a Setup, got {type(setup).__name__}"
                )
        else:
            self._check_memory(setup.n_agents, np.asarray(setup.demand).shape[-1])
        self._setup_scenario = scen.name if scen is not None else "arrays"
        self.scenario_plugin = scen.plugin if scen is not None else "(arrays)"
        self.setup_info = dict(setup.info)
        self.agent_labels, self.task_labels = setup.agent_labels, setup.task_labels
        self.model, self.state = self._build(setup, base_dir, ss_topology, ss_init)
        self._step = kernel_step(self.model)
        self.series_names = ["change"] + [s for b in self.metric_specs for s in b.spec.series]
        for name in config.archive.snapshots:
            self.snapshot_array(name)  # validates names before a run starts

    def _bind(self, kind: str, comp) -> Bound | None:
        if comp is None:
            return None
        spec = self.registry.get(kind, comp.name, f"{kind}.name")
        prm = P.build(spec.params, comp.params, kind)
        check = getattr(prm, "check", None)
        if callable(check):
            try:
                check(self.config)
            except ValueError as exc:
                raise ConfigError(f"config section '[{kind}]' ({kind} '{comp.name}'): {exc}") from None
        return Bound(kind, spec, prm, self.registry.owner(kind, comp.name))

    def _check_memory(self, n: int, k: int) -> None:
        if n < 1 or k < 1:
            raise ConfigError(f"a system needs at least one agent and one task, got {n} agents and {k} tasks")
        # state, double buffers and the pipeline's N x K temporaries (S, Y, Z, G, H, gradients)
        need = 8 * n * ((6 if _backend() == "compiled" else 13) * k + 64)
        avail = available_memory()
        frac = self.config.run.max_memory_fraction
        if need > frac * avail:
            raise ResourceError(
                f"a system of {n} agents x {k} tasks needs about {_gib(need)} of memory, but only {_gib(avail)} is "
                f"available and run.max_memory_fraction = {frac} allows {_gib(frac * avail)}; reduce the agents or tasks"
            )

    def _build(self, setup: Setup, base_dir, ss_topology, ss_init) -> tuple[Model, State]:
        cfg = self.config
        where = f"scenario '{self._setup_scenario}'"
        n = int(setup.n_agents)
        D = np.asarray(setup.demand, dtype=np.float64)
        D = D[None, :] if D.ndim == 1 else D
        if D.ndim != 2 or D.shape[0] not in (1, n) or D.shape[1] < 1:
            raise ConfigError(f"{where}: demand must be K or (1 or N={n}) x K, got shape {D.shape}")
        k = D.shape[1]

        def arr(value, shape, name, default):
            if value is None:
                return default
            a = np.array(value, dtype=np.float64)
            if a.shape != shape:
                raise ConfigError(f"{where}: {name} must have shape {shape}, got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ConfigError(f"{where}: {name} must be finite")
            return a

        if not np.all(np.isfinite(D)):
            raise ConfigError(f"{where}: demand must be finite")
        x = arr(setup.task_positions, (k,), "task_positions", 2 * math.pi * np.arange(k) / k)
        sim_t = arr(setup.task_similarity, (k, k), "task_similarity", None)
        C = arr(setup.capability, (n, k), "capability", np.ones((n, k)))
        costs = arr(setup.costs, (n,), "costs", None)

        # topology
        topo = setup.topology
        if topo is None:
            tspec = self._bind("topology", cfg.topology)
            try:
                topo = tspec.spec.build(
                    TopologyContext(tspec.params, n, np.random.Generator(np.random.PCG64(ss_topology)), cfg, base_dir)
                )
            except DPSError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin '{tspec.plugin}' failed building topology '{tspec.name}': {type(exc).__name__}: {exc}"
                ) from None
            if not isinstance(topo, Topology):
                raise PluginError(f"plugin '{tspec.plugin}': topology '{tspec.name}' build() must return a Topology")
        if topo.n != n:
            raise ConfigError(f"topology '{topo.name}' has {topo.n} nodes but {where} has {n} agents")
        mixing = Mixing(cfg.mixing.name, cfg.mixing.gamma, topo, cfg.mixing.pool)

        family = make_family(cfg.profile, x)
        comps = self._components
        mode = comps["mode"]
        if mode.spec.families and family.name not in mode.spec.families:
            raise ConfigError(
                f"mode '{mode.name}' works with profile families {list(mode.spec.families)}, "
                f"but profile.family is '{family.name}'"
            )
        if mode.spec.signed_resources and cfg.budget.kind != "none":
            raise ConfigError(f"mode '{mode.name}' has signed resources (activations); budget.kind must be 'none'")
        if family.name == "signed" and cfg.penalty.specialisation:
            raise ConfigError("penalty.specialisation needs a non-negative profile family (entropy), not 'signed'")
        if cfg.disperse.rate * cfg.run.dt > 1:
            raise ConfigError(
                f"disperse.rate * run.dt must be <= 1 (an agent cannot send more than it has), got "
                f"{cfg.disperse.rate * cfg.run.dt}"
            )
        if cfg.budget.kind == "price" and costs is None:
            raise ConfigError(f"budget.kind = 'price' needs agent costs, and {where} gives none")

        # initial state
        init_rng = np.random.Generator(np.random.PCG64(ss_init))
        if setup.profile is not None:
            shapes = family.shapes(n, k)
            if set(setup.profile) != set(shapes):
                raise ConfigError(
                    f"{where}: profile family '{family.name}' takes parameters {sorted(shapes)}, "
                    f"got {sorted(setup.profile)}"
                )
            prof = {p: arr(setup.profile[p], shapes[p], f"profile['{p}']", None) for p in shapes}
            prof = family.constrain(prof)
        else:
            make = family.homogeneous if cfg.init.kind == "homogeneous" else family.random
            prof = make(n, k, cfg.init, cfg.profile, init_rng)
        w = arr(setup.resources, (n,), "resources", np.full(n, cfg.init.w))
        if not mode.spec.signed_resources and np.any(w < 0):
            raise ConfigError(f"{where}: resources must be non-negative for mode '{mode.name}'")

        model = Model(
            n_agents=n,
            n_tasks=k,
            demand_rows=D.shape[0],
            family=family,
            alpha=cfg.profile.alpha,
            dt=cfg.run.dt,
            topology=topo,
            mixing=mixing,
            task_positions=x,
            task_similarity=sim_t,
            costs=costs,
            config=cfg,
            signal=comps["signal"],
            mode=mode,
            demand=comps["demand"],
        )
        b = cfg.budget
        if b.kind != "none":
            if b.value is not None:
                model.budget_value = b.value
            elif b.kind == "total":
                model.budget_value = float(w.sum())
            elif b.kind == "per_agent":
                model.budget_value = float(w.max())
            else:
                model.budget_value = float(costs @ w)

        state = State(prof, w, C, D)
        extras = {}
        ctx = StepContext(model, state)
        for kind in ("signal", "mode", "demand"):
            bound = comps[kind]
            for spec in bound.spec.arrays:
                qname = f"{kind}.{spec.name}"
                shape = spec.resolve(n, k, D.shape[0])
                if qname in setup.extras:
                    value = np.array(setup.extras[qname], dtype=spec.dtype)
                    if value.shape != shape:
                        raise ConfigError(f"{where}: initial '{qname}' must have shape {shape}, got {value.shape}")
                elif spec.init is not None:
                    value = np.array(spec.init(ctx.component(kind)), dtype=spec.dtype).reshape(shape)
                else:
                    value = np.full(shape, spec.fill, dtype=spec.dtype)
                extras[qname] = value
        unknown = set(setup.extras) - set(extras)
        if unknown:
            raise ConfigError(
                f"{where}: initial value for undeclared array(s) {sorted(unknown)}; declared: {sorted(extras)}"
            )
        state.extras = extras
        if not mode.spec.signed_resources:
            from .budget import project

            state.w = project(state.w, b.kind, model.budget_value, costs, b.equality)
        return model, state

    def _restore(self, ck: dict) -> None:
        """Load a checkpoint's state and RNG state (shapes must match this model)."""
        new = ck["state"]
        for name, arr in self.state.arrays().items():
            got = new.arrays().get(name)
            if got is None or got.shape != arr.shape:
                raise ArchiveError(
                    f"checkpoint array '{name}' is missing or has shape "
                    f"{None if got is None else got.shape}, expected {arr.shape}"
                )
        self.state = new
        self.rng.bit_generator.state = ck["rng"]

    # --- introspection --------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """'compiled' or 'reference': the kernel this simulation steps with."""
        from . import reference

        return "reference" if self._step is reference.step else _backend()

    def context(self) -> StepContext:
        """A StepContext on the current state (S, Y, Z, G, H, utility...)."""
        return StepContext(self.model, self.state, self.rng)

    @property
    def S(self) -> np.ndarray:
        """Current skill profiles (N x K)."""
        return self.model.family.profile(self.state.profile)

    def snapshot_array(self, name: str) -> np.ndarray:
        """A state array by its snapshot name: 'S', 'w', 'C', 'demand', a profile parameter, an extra."""
        st = self.state
        if name == "S":
            return self.S
        if name in ("w", "C", "demand"):
            return getattr(st, name)
        if name in st.profile:
            return st.profile[name]
        if name in st.extras:
            return st.extras[name]
        allowed = ["S", "w", "C", "demand", *st.profile, *st.extras]
        raise ConfigError(f"archive.snapshots: unknown array '{name}'. Available: {', '.join(allowed)}")

    def metrics(self) -> dict[str, float]:
        """Every configured metric on the current state, by series name."""
        ctx = StepContext(self.model, self.state)
        ctx.simulation = self
        out: dict[str, float] = {"change": self._last_change}
        for b in self.metric_specs:
            ctx.params = b.params
            value = self.call_plugin(b.plugin, f"metric '{b.name}'", b.spec.compute, ctx)
            if isinstance(value, Mapping):
                if set(value) != set(b.spec.series):
                    raise PluginError(
                        f"plugin '{b.plugin}', metric '{b.name}' returned {sorted(value)}; it declared "
                        f"outputs {list(b.spec.series)}"
                    )
                out.update({k: float(v) for k, v in value.items()})
            else:
                out[b.spec.series[0]] = float(value)
        return out

    def call_plugin(self, plugin: str, what: str, fn, *args):
        """Call plugin code; a failure becomes a PluginError naming the plugin."""
        try:
            return fn(*args)
        except DPSError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin '{plugin}' failed in {what}: {type(exc).__name__}: {exc}") from exc

    def clone(self) -> Simulation:
        """An independent copy of this simulation (state and RNG), without history or archive."""
        other = object.__new__(Simulation)
        other.__dict__.update(self.__dict__)
        other.state = self.state.copy()
        other.rng = np.random.Generator(np.random.PCG64())
        other.rng.bit_generator.state = self.rng.bit_generator.state
        other.history = {}
        other._resume_from = None
        return other

    # --- stepping ---------------------------------------------------------------------------------------

    def _advance(self) -> float:
        """One step: demand process and draws (outside the kernel), then the kernel."""
        model, state = self.model, self.state
        dem = model.demand
        if dem.spec.name != "static":
            ctx = StepContext(model, state, self.rng, kind="demand")
            D = self.call_plugin(dem.plugin, f"demand '{dem.name}'", dem.spec.update, ctx)
            if D is not None:
                D = np.ascontiguousarray(D, dtype=np.float64)
                if D.shape != state.demand.shape:
                    raise PluginError(
                        f"plugin '{dem.plugin}', demand '{dem.name}' returned shape {D.shape}, "
                        f"expected {state.demand.shape}"
                    )
                state.demand = D
        mode = model.mode
        draws = {}
        if mode.spec.draw is not None:
            ctx = StepContext(model, state, self.rng, kind="mode")
            draws = self.call_plugin(mode.plugin, f"mode '{mode.name}' (draw)", mode.spec.draw, ctx)
        try:
            with np.errstate(all="ignore"):  # non-finite results are detected below and named
                new, change = self._step(model, state, draws)
        except DPSError:
            raise
        except Exception as exc:
            owners = {b.plugin for b in (model.mode, model.signal)} - {CORE_PLUGIN}
            who = f"plugin '{sorted(owners)[0]}'" if owners else "the core"
            raise PluginError(
                f"step {state.step + 1}: {who} failed in mode '{model.mode.name}' / signal "
                f"'{model.signal.name}': {type(exc).__name__}: {exc}"
            ) from exc
        if not math.isfinite(change):
            bad = list(new.non_finite()) or ["(unknown)"]
            raise NumericalError(
                f"step {new.step}: {'array' if len(bad) == 1 else 'arrays'} "
                f"{', '.join(repr(b) for b in bad)} became NaN or inf; try a smaller run.dt or learning rate"
            )
        self.state = new
        self._last_change = change
        return change

    def step(self, n: int = 1) -> Simulation:
        """Advance n steps (no recording, no archive). Raises NumericalError on NaN/inf."""
        for _ in range(int(n)):
            self._advance()
        return self

    # --- running ------------------------------------------------------------------------------------------

    def _record(self, writer: ArchiveWriter | None) -> dict[str, float]:
        m = self.metrics()
        self.history.setdefault("step", []).append(self.state.step)
        self.history.setdefault("time", []).append(self.state.time)
        for k, v in m.items():
            self.history.setdefault(k, []).append(v)
        if writer is not None:
            writer.record(self.state.step, self.state.time, m)
        self.registry.call("dps_record", simulation=self, step=self.state.step, metrics=m)
        return m

    def _checkpoint(self, writer: ArchiveWriter | None) -> None:
        if writer is not None:
            writer.checkpoint(self.state, self.rng.bit_generator.state)
            self.registry.call("dps_checkpoint", simulation=self, step=self.state.step)

    def _open_writer(self, output: Path, overwrite: bool) -> ArchiveWriter:
        """A writer for a new run, or, when resuming, a rewrite that atomically replaces the old file."""
        if self._resume_from is None:
            return ArchiveWriter(output, self, overwrite=overwrite)
        src_path, ck = self._resume_from
        tmp = output.with_name(output.name + ".resume-tmp")
        writer = ArchiveWriter(tmp, self, overwrite=True)
        with Archive(src_path) as src:
            copy_prefix(src, writer, ck["records"], ck["snapshots"])
            writer.f.attrs["created"] = src.f.attrs["created"]
        writer.checkpoint(self.state, self.rng.bit_generator.state)
        writer.close()
        replace_atomically(tmp, output)
        self._resume_from = None
        return ArchiveWriter.reopen(output, self)

    def run(
        self,
        output: str | Path | None = None,
        *,
        steps: int | None = None,
        progress: bool = False,
        overwrite: bool = False,
    ) -> RunResult:
        """Run to `steps` (default run.steps) total steps, recording metrics every run.record_every
        steps and, when `output` is given, writing the archive (checkpoints every
        run.checkpoint_every steps). Stops early when the largest change per unit time falls below
        run.tolerance."""
        cfg = self.config.run
        target = cfg.steps if steps is None else int(steps)
        writer = self._open_writer(Path(output), overwrite) if output is not None else None
        t0 = _time.perf_counter()
        status, message = "failed", ""
        bound_log = log.bind(run_id=self.run_id)
        try:
            fresh = self.state.step == 0 and not self.history.get("step")
            if writer is not None:
                writer.start()
                writer.status("running")
            self.registry.call("dps_run_start", simulation=self)
            if fresh:
                self._checkpoint(writer)
                self._record(writer)
                if cfg.snapshot_every and writer is not None:
                    writer.snapshot(self.state.step, self.state.time)
            status = "finished"
            bar = _progress(progress, self.state.step, target)
            last_recorded = last_checkpoint = self.state.step
            while self.state.step < target:
                change = self._advance()
                s = self.state.step
                bar.update(1)
                if s % cfg.record_every == 0:
                    self._record(writer)
                    last_recorded = s
                    bound_log.debug("recorded", step=s)
                if writer is not None and cfg.snapshot_every and s % cfg.snapshot_every == 0:
                    writer.snapshot(s, self.state.time)
                if cfg.checkpoint_every and s % cfg.checkpoint_every == 0:
                    self._checkpoint(writer)
                    last_checkpoint = s
                if cfg.tolerance and change < cfg.tolerance:
                    status = "converged"
                    bound_log.info("converged", step=s, change=change)
                    break
            bar.close()
            if last_recorded != self.state.step:
                self._record(writer)
            if last_checkpoint != self.state.step:
                self._checkpoint(writer)
        except KeyboardInterrupt:
            status, message = "interrupted", f"interrupted at step {self.state.step}"
            if writer is not None:
                self._checkpoint(writer)
            raise
        except DPSError as exc:
            status, message = "failed", str(exc)
            raise
        finally:
            if writer is not None and writer.f.id.valid:
                writer.status(status, message)
                writer.close()
            if status in ("finished", "converged") or message:
                self.registry.call("dps_run_end", simulation=self, status=status)
        final = {k: v[-1] for k, v in self.history.items() if k not in ("step", "time")}
        return RunResult(
            status, self.state.step, final, None if output is None else Path(output), _time.perf_counter() - t0
        )


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(enabled: bool, start: int, total: int):
    if not enabled:
        return _NoBar()
    import sys

    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=0.2)
