"""The engine: builds a system from a config and plugins, steps it, records it, archives it.

`Simulation.from_config(path_or_dict)` is the usual entry; `Simulation.from_arrays(...)` embeds the
engine on arrays you already have; `Simulation.resume(archive)` continues a run from its last
checkpoint with the same arrays as an uninterrupted run. Randomness comes from one SeedSequence
(children: scenario, topology, initial state, the run's stream); draws are made here, outside the
kernel, and passed in.
"""

from __future__ import annotations

import contextlib
import math
import signal
import tempfile
import time as _time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from . import interrupts
from . import params as P
from .archive import ArchiveWriter, open_archive
from .assembly import TopologyContext, assemble, check_memory, state_bytes
from .backend import backend as _backend
from .backend import kernel_step, kernel_step_bytes
from .config import Component, Config, load_config
from .context import StepContext
from .errors import ArchiveError, ArchiveWriteError, ConfigError, DPSError, NumericalError, PluginError, call_plugin
from .inputs import InputFile, collect, materialize
from .logs import _LazyLogger
from .model import Bound
from .records import Setup
from .registry import CORE_PLUGIN, Registry
from .state import State
from .topology import Topology

__all__ = ["Simulation", "RunResult", "ScenarioContext", "TopologyContext"]

log = _LazyLogger(__name__)


@attrs.frozen
class ScenarioContext:
    """What a scenario's `build` receives."""

    params: Any
    config: Config
    rng: np.random.Generator
    base_dir: Path | None = None


@attrs.frozen
class RunResult:
    """How a run ended."""

    status: str  # 'finished' or 'converged'
    step: int
    metrics: dict
    archive: Path | None
    seconds: float


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
    def from_archive(
        cls, path: str | Path, *, plugins=(), entry_points: bool = True, allow_backend_change: bool = False
    ) -> Simulation:
        """The simulation an archive describes, at its latest checkpoint (see `resume`). It is
        rebuilt from the archive alone: file inputs come from the archive (or must match its
        SHA-256), the rebuilt graph must equal the stored one, and the kernel backend must be the
        one that stepped the run, for the compiled kernel with the same arithmetic revision and on an
        instruction set with the same results, unless `allow_backend_change` (the change is then
        recorded)."""
        path = Path(path)
        from .archive_io import live_writer

        who = live_writer(path)  # first: a checkpoint being written is not damage
        if who is not None:
            raise ArchiveError(f"archive {path} is being written by {who}; wait for it or stop it first")
        with open_archive(path) as ar:
            ck = ar.checkpoint()
            if ck is None:
                raise ArchiveError(f"archive {path} has no checkpoint to resume from")
            config = ar.config()
            prov = ar.provenance
            inputs = _stored_inputs(ar)
            stored_graph = {k: ar.f["topology"][k][()] for k in ("indptr", "indices", "data") if k in ar.f["topology"]}
        if config.scenario.name == "arrays":
            raise ArchiveError(
                f"archive {path} was made by Simulation.from_arrays; resume it with the same arrays "
                "in Python (sim.load_checkpoint) rather than from the archive alone"
            )
        registry = Registry(plugins, entry_points=entry_points)
        with tempfile.TemporaryDirectory(prefix="dps-inputs-") as workdir:
            base_dir = materialize(inputs, Path(workdir), None, path) if inputs else None
            sim = cls(config, registry=registry, base_dir=base_dir, _seed_entropy=int(prov["seed_entropy"]))
        sim.inputs = inputs
        recorded = str(prov.get("backend", ""))
        if recorded and recorded != sim.backend and not allow_backend_change:
            raise ArchiveError(
                f"archive {path} was stepped by the {recorded} kernel but this process uses the {sim.backend} "
                "kernel (DPS_PUREPYTHON?); resuming would mix kernels. Use the same kernel, or allow it "
                "(dps resume --allow-backend-change), which the archive records with the step"
            )
        from .archive import recorded_arithmetic
        from .backend import arithmetic, instruction_set, instruction_sets, same_results

        done, does = recorded_arithmetic(prov), arithmetic(sim.backend)
        if recorded == sim.backend and done != does and not allow_backend_change:
            raise ArchiveError(
                f"archive {path} was stepped by the compiled kernel's arithmetic revision {done} (dps "
                f"{prov.get('dps_version', '?')}) but this dps computes revision {does}: results agree to rounding, "
                "not bit for bit, so resuming would mix them. Finish the run with the dps that started it, or "
                "allow the change (dps resume --allow-backend-change), which the archive records"
            )
        ran, runs = str(prov.get("kernel_isa", "")), instruction_set(sim.backend)
        if recorded == sim.backend and ran and not same_results(ran, runs) and not allow_backend_change:
            alike = [isa for isa in instruction_sets() if same_results(ran, isa)]  # here, with ran's results
            how = (
                f"DPS_KERNEL_ISA={' or '.join(repr(isa) for isa in alike)}"
                + (" (the same results)" if len(alike) > 1 else "")
                if alike
                else f"DPS_KERNEL_ISA={ran!r} on a CPU that runs it"
            )
            raise ArchiveError(
                f"archive {path} was stepped by the compiled kernel on {ran} but this process runs it on {runs}; "
                "between these instruction sets results agree to rounding, not bit for bit, so resuming would "
                f"mix them. Resume with {how}, or allow the change (dps resume --allow-backend-change), "
                "which the archive records"
            )
        t = sim.model.topology
        rebuilt = {k: getattr(t, k) for k in ("indptr", "indices", "data")} if t.kind == "csr" else {}
        if stored_graph.keys() != rebuilt.keys() or any(
            not np.array_equal(stored_graph[k], rebuilt[k]) for k in stored_graph
        ):
            raise ArchiveError(
                f"archive {path}: the graph rebuilt for resume differs from the one stored in the archive; "
                "the run cannot be continued on the same system"
            )
        sim.run_id = prov["run_id"]
        sim._restore(ck)
        sim._resume_from = (path, ck)
        return sim

    @classmethod
    def resume(
        cls,
        path: str | Path,
        *,
        steps: int | None = None,
        progress: bool = False,
        plugins=(),
        entry_points: bool = True,
        allow_backend_change: bool = False,
    ) -> RunResult:
        """Continue the run in `path` from its latest checkpoint, rewriting the archive atomically."""
        sim = cls.from_archive(
            path, plugins=plugins, entry_points=entry_points, allow_backend_change=allow_backend_change
        )
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
        # one fixed order for every mapping plugins see (the archive stores the config with sorted
        # keys; a fresh run sees the same order as a resumed one)
        config = Config.from_json(config.to_json())
        self.config = config
        self.registry = registry if registry is not None else Registry(plugins)
        self.base_dir = base_dir
        self.inputs: list[InputFile] | None = None  # file inputs (set when an archive is written or read)
        self.run_id = uuid.uuid4().hex[:16]
        self.history: dict[str, list] = {}
        self._resume_from: tuple[Path, dict] | None = None
        self._last_change = math.nan
        reg = self.registry

        # components and their validated parameters
        scen = self._bind("scenario", config.scenario) if setup is None else None
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
        max_fraction = config.run.max_memory_fraction
        if scen is not None:
            n, k = call_plugin(scen.plugin, f"scenario '{scen.name}' (size)", scen.spec.size, scen.params)
            check_memory(
                state_bytes(int(n), int(k), config.profile.family), max_fraction, f"a state of {n} agents x {k} tasks"
            )
            ctx = ScenarioContext(scen.params, config, np.random.Generator(np.random.PCG64(ss_scenario)), base_dir)
            setup = call_plugin(scen.plugin, f"scenario '{scen.name}' (build)", scen.spec.build, ctx)
            if not isinstance(setup, Setup):
                raise PluginError(
                    f"plugin '{scen.plugin}': scenario '{scen.name}' build() must return a Setup, got {type(setup).__name__}"
                )
        else:
            assert setup is not None
            n, k = setup.n_agents, np.asarray(setup.demand).shape[-1]
            check_memory(state_bytes(n, k, config.profile.family), max_fraction, f"a state of {n} agents x {k} tasks")
        self.scenario_plugin = scen.plugin if scen is not None else "(arrays)"
        self.setup_info = dict(setup.info)
        self.agent_labels, self.task_labels = setup.agent_labels, setup.task_labels
        self.model, self.state = assemble(
            config,
            setup,
            self._components,
            self._bind("topology", config.topology) if setup.topology is None else None,
            scenario=scen.name if scen is not None else "arrays",
            base_dir=base_dir,
            topology_seed=ss_topology,
            init_seed=ss_init,
        )
        self._step = kernel_step(self.model)
        check_memory(
            kernel_step_bytes(self.model, self.state),
            max_fraction,
            f"a step of {self.model.n_agents} agents x {self.model.n_tasks} tasks ({self.backend} kernel) beyond its state",
        )
        self.series_names = ["change"] + [s for b in self.metric_specs for s in b.spec.series]
        self.config = config = _without_other_family_snapshots(config, self.state)
        for name in config.archive.snapshots:
            self.snapshot_array(name)  # validates names before a run starts

    def _bind(self, kind: str, comp: Component) -> Bound:
        spec = self.registry.get(kind, comp.name, f"{kind}.name")
        prm = P.build(spec.params, comp.params, kind)
        check = getattr(prm, "check", None)
        if callable(check):
            try:
                check(self.config)
            except ValueError as exc:
                raise ConfigError(f"config section '[{kind}]' ({kind} '{comp.name}'): {exc}") from None
        return Bound(kind, spec, prm, self.registry.owner(kind, comp.name))

    def _restore(self, ck: dict) -> None:
        """Load a checkpoint's state and RNG state (shapes must match this model). The arrays keep
        the order a fresh run has, so plugins iterating `profile` or `extras` see the same order."""
        new = ck["state"]
        stored = new.arrays()
        for name, arr in self.state.arrays().items():
            got = stored.get(name)
            if got is None or got.shape != arr.shape:
                raise ArchiveError(
                    f"checkpoint array '{name}' is missing or has shape "
                    f"{None if got is None else got.shape}, expected {arr.shape}"
                )
        extra = set(stored) - set(self.state.arrays())
        if extra:
            raise ArchiveError(f"checkpoint has array(s) {sorted(extra)} this model does not declare")

        self.state = State.from_arrays({k: stored[k] for k in self.state.arrays()}, new.step, new.time)
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
            value = call_plugin(b.plugin, f"metric '{b.name}'", b.spec.compute, ctx)
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
        """Call plugin code; a failure becomes a PluginError naming the plugin (see errors.call_plugin)."""
        return call_plugin(plugin, what, fn, *args)

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
        demand_change = self._advance_demand()
        mode = model.mode
        draws = {}
        if mode.spec.draw is not None:
            ctx = StepContext(model, state, self.rng, kind="mode")
            draws = call_plugin(mode.plugin, f"mode '{mode.name}' (draw)", mode.spec.draw, ctx)
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
        if demand_change > change or demand_change != demand_change:
            change = demand_change  # the demand's own change counts toward convergence
        self.state = new
        self._last_change = change
        return change

    def _advance_demand(self) -> float:
        """Run the demand process and apply the arrays it returns (its own arrays are handed over as
        copies, so the state is never changed in place); the largest change per unit time."""
        model, state = self.model, self.state
        dem = model.demand
        if dem.spec.name == "static":
            return 0.0
        ctx = StepContext(model, state, self.rng, kind="demand")
        ctx.arrays = {k: v.copy() for k, v in ctx.arrays.items()}
        out = call_plugin(dem.plugin, f"demand '{dem.name}'", dem.spec.update, ctx)
        if out is None or isinstance(out, np.ndarray):
            _warn_old_demand_style(dem)
            changes = {k: v for k, v in ctx.arrays.items() if not np.array_equal(v, state.extras[f"demand.{k}"])}
            if out is not None:
                changes["D"] = out
        elif isinstance(out, Mapping):
            changes = dict(out)
        else:
            raise PluginError(
                f"plugin '{dem.plugin}', demand '{dem.name}': update() must return a mapping of new arrays, "
                f"got {type(out).__name__}"
            )
        change = 0.0
        for key, value in changes.items():
            qname = "demand" if key == "D" else f"demand.{key}"
            old = state.demand if key == "D" else state.extras.get(qname)
            if old is None:
                raise PluginError(
                    f"plugin '{dem.plugin}', demand '{dem.name}': update() returned '{key}'; it may return only "
                    f"{['D', *sorted(ctx.arrays)]}"
                )
            new = np.ascontiguousarray(value, dtype=old.dtype)
            if new.shape != old.shape:
                raise PluginError(
                    f"plugin '{dem.plugin}', demand '{dem.name}' returned '{key}' of shape {new.shape}, "
                    f"expected {old.shape}"
                )
            with np.errstate(all="ignore"):
                d = float(np.max(np.abs(new - old))) / model.dt if new.size else 0.0
            if change == change and not d <= change:  # the largest; NaN stays NaN
                change = d
            if key == "D":
                state.demand = new
            else:
                state.extras[qname] = new
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
        """A writer for a new run (not yet published), or, when resuming, a rewrite holding the
        records up to the checkpoint that will atomically replace the old file."""
        if self._resume_from is None:
            if self.inputs is None:
                self.inputs = collect(self.config.to_dict(), self.base_dir or Path.cwd())
            return ArchiveWriter(output, self, overwrite=overwrite, inputs=self.inputs)
        src_path, ck = self._resume_from
        with open_archive(src_path) as src:
            writer = ArchiveWriter(output, self, replace=True, source=src, inputs=self.inputs)
            try:
                writer.copy_rows(src, ck["records"], ck["snapshots"])
            except BaseException:
                writer.discard()
                raise
        return writer

    def _interrupted(self) -> interrupts.RunInterrupted:
        signum = interrupts.pending() or signal.SIGINT
        interrupts.clear()
        name = signal.Signals(signum).name
        return interrupts.RunInterrupted(signum, f"run interrupted by {name} at step {self.state.step}")

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
        run.checkpoint_every steps, durable flushes per archive.flush_every). Stops early when the
        largest change per unit time falls below run.tolerance.

        SIGINT and SIGTERM stop the run at the next consistent point: the archive gets a
        checkpoint of the current step and the status `interrupted`, then `RunInterrupted` (a
        KeyboardInterrupt) is raised. A write error raises `ArchiveWriteError` (status `failed`)."""
        with interrupts.deferred_signals():
            return self._run(output, steps, progress, overwrite)

    def _run(self, output, steps, progress, overwrite) -> RunResult:
        cfg = self.config.run
        target = cfg.steps if steps is None else int(steps)
        if interrupts.pending():
            raise self._interrupted()  # before anything is created
        t0 = _time.perf_counter()
        writer = self._open_writer(Path(output), overwrite) if output is not None else None
        status, message = "failed", ""
        bound_log = log.bind(run_id=self.run_id)
        started = False
        try:
            fresh = self.state.step == 0 and not self.history.get("step")
            self.registry.call("dps_run_start", simulation=self)
            started = True
            if writer is not None:
                writer.status("running")
                self._checkpoint(writer)  # a published archive is always resumable
                if fresh:
                    self._record(writer)
                    if cfg.snapshot_every:
                        writer.snapshot(self.state.step, self.state.time)
                if interrupts.pending():
                    writer.discard()  # nothing durable to keep yet: no file appears
                    raise self._interrupted()
                writer.publish()
                self._resume_from = None
            elif fresh:
                self._record(None)
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
                elif writer is not None:
                    writer.maybe_flush()
                if cfg.tolerance and change < cfg.tolerance:
                    status = "converged"
                    bound_log.info("converged", step=s, change=change)
                    break
                if interrupts.pending():
                    status = "interrupted"
                    break
            bar.close()
            if status == "interrupted":
                exc = self._interrupted()
                message = str(exc)
                if writer is not None and last_checkpoint != self.state.step:
                    self._checkpoint(writer)
                raise exc
            if last_recorded != self.state.step:
                self._record(writer)
            if last_checkpoint != self.state.step:
                self._checkpoint(writer)
        except KeyboardInterrupt as exc:
            status, message = "interrupted", message or str(exc) or f"interrupted at step {self.state.step}"
            if not isinstance(exc, interrupts.RunInterrupted) and writer is not None and writer.published:
                with contextlib.suppress(ArchiveWriteError):
                    self._checkpoint(writer)
            raise
        except DPSError as exc:
            status, message = "failed", str(exc)
            raise
        except Exception as exc:
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if writer is not None:
                if not writer.published:
                    writer.discard()
                elif not writer.failed:
                    writer.finish(status, message)
            if started and (status in ("finished", "converged") or message):
                self.registry.call("dps_run_end", simulation=self, status=status)
        final = {k: v[-1] for k, v in self.history.items() if k not in ("step", "time")}
        return RunResult(
            status, self.state.step, final, None if output is None else Path(output), _time.perf_counter() - t0
        )


_WARNED_DEMANDS: set[str] = set()


def _warn_old_demand_style(dem) -> None:
    """Demand processes that return a bare array (or None) and change their arrays in place still
    work in 0.x, with one DeprecationWarning per process."""
    if dem.name in _WARNED_DEMANDS:
        return
    _WARNED_DEMANDS.add(dem.name)
    warnings.warn(
        f"demand '{dem.name}' (plugin '{dem.plugin}'): update() returned a bare array or None and may change "
        "its arrays in place; return a mapping of new arrays instead ({'D': new_demand, '<own array>': new_value}, "
        "{} for no change). The old style will be removed in dps-core 0.3.",
        DeprecationWarning,
        stacklevel=2,
    )


def _stored_inputs(ar) -> list[InputFile]:
    """The file inputs an archive stored (schema 1.1; none in older archives)."""
    g = ar.f.get("inputs")
    if g is None:
        return []
    out = []
    for name in sorted(g):
        ds = g[name]
        stored = bool(ds.attrs.get("stored", True))
        out.append(
            InputFile(
                str(ds.attrs["key"]),
                str(ds.attrs["value"]),
                str(ds.attrs["sha256"]),
                int(ds.attrs["size"]),
                ds[()].tobytes() if stored else None,
            )
        )
    return out


def _without_other_family_snapshots(config: Config, state: State) -> Config:
    """The config without snapshot names that are parameters of another profile family ('mu' after
    switching profile.family to 'free'), so switching the family of an example needs no other edit;
    each dropped name is logged."""
    other = {"logits", "mu", "kappa", "atoms"} - set(state.profile)
    drop = [name for name in config.archive.snapshots if name in other]
    if not drop:
        return config
    for name in drop:
        log.warning(
            "snapshot not stored", array=name, reason=f"not a parameter of profile.family '{config.profile.family}'"
        )
    keep = tuple(n for n in config.archive.snapshots if n not in drop)
    return attrs.evolve(config, archive=attrs.evolve(config.archive, snapshots=keep))


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
