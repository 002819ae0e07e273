"""Figures from run archives (`dps plot`, `plot_archive`) and from sweep tables (`plot_sweep`).

matplotlib is optional (`pip install 'dps-core[plot]'`) and imported only inside the functions
that draw. Figures are made without pyplot, on the non-interactive Agg canvas, so plotting never
opens a window, never touches pyplot's global state and works in scripts, notebooks and on
headless machines. Archives are read through `open_archive`, which opens a file whose writer is
running or was killed as a SWMR reader; series that the writer is still appending are cut to
their common length, so a figure of a running run is always consistent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from .errors import ArchiveError, ConfigError, DPSError

if TYPE_CHECKING:
    from .archive import Archive
    from .topology import Topology

__all__ = [
    "PlotContext",
    "plot_archive",
    "plot_sweep",
    "save_figure",
    "new_figure",
    "circle_layout",
    "MAX_GRAPH_NODES",
    "FORMATS",
]

MAX_GRAPH_NODES = 2000
FORMATS = (".png", ".svg", ".pdf")
_TIMESERIES_DEFAULT = 6  # panels drawn when no metric is chosen


def new_figure(width: float = 7.0, height: float = 4.5):
    """A matplotlib Figure on the Agg canvas (no pyplot, no window); one clear line without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise DPSError(
            "plotting needs matplotlib, which is not installed: python3 -m pip install 'dps-core[plot]'"
        ) from None
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write a figure; the suffix chooses the format (.png, .svg or .pdf)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"figure file {path} must end in {', '.join(FORMATS)} (the suffix chooses the format)")
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise ConfigError(f"cannot write figure {path}: directory {path.parent} does not exist")
    # fixed metadata: the same figure gives the same file
    meta = {".png": {"Software": None}, ".svg": {"Date": None}, ".pdf": {"CreationDate": None}}[path.suffix.lower()]
    fig.savefig(path, dpi=dpi, metadata=meta)
    return path


# --- what a plot kind sees ----------------------------------------------------------------------------


@attrs.define
class PlotContext:
    """What a plot kind's `draw(ctx)` gets: the open archive, the figure to draw into, the
    user's choices, and readers that fail with one clear line when the archive lacks something."""

    archive: Archive
    figure: Any
    registry: Any
    metrics: tuple[str, ...] = ()
    snapshot: int = -1
    layout: str | None = None
    seed: int = 0

    # --- facts about the run ---

    @property
    def config(self) -> dict[str, Any]:
        """The run's resolved config (a dict)."""
        return self.archive.config_dict

    @property
    def scenario(self) -> str:
        return str(self.archive.f["scenario"].attrs["name"])

    @property
    def info(self) -> dict[str, Any]:
        """The facts the scenario reported when it built the system (JSON)."""
        return json.loads(self.archive.f["scenario"].attrs.get("info", "{}"))

    @property
    def n_agents(self) -> int:
        return int(self.archive.f.attrs["n_agents"])

    @property
    def n_tasks(self) -> int:
        return int(self.archive.f.attrs["n_tasks"])

    def labels(self, group: str) -> list[str]:
        """Agent or task labels ('agents' or 'tasks'); empty when the scenario gave none."""
        return list(json.loads(self.archive.f[group].attrs.get("labels", "[]")))

    def title(self, what: str) -> str:
        """A figure title naming the run: scenario, size, status and last step."""
        ar = self.archive
        return f"{what}\n{self.scenario}, {self.n_agents} agents × {self.n_tasks} tasks, {ar.status} at step {ar.last_step}"

    # --- data ---

    def series(self, names: Iterable[str] = (), *, needs: str = "") -> dict[str, np.ndarray]:
        """'step' plus the named time series (all when none are named), durable rows only. A
        missing name is one clear ArchiveError."""
        g = self.archive.f["timeseries"]
        names = list(names) or [n for n in g if n not in ("step", "time")]
        missing = [n for n in names if n not in g]
        if missing:
            have = sorted(n for n in g if n not in ("step", "time"))
            why = f" ({needs})" if needs else ""
            raise ArchiveError(
                f"archive {self.archive.path} has no series {', '.join(map(repr, missing))}{why}; it has {', '.join(have)}"
            )
        data = self.archive.timeseries()
        return {n: data[n] for n in ["step", *names]}

    def snapshot_array(self, name: str, *, needs: str = "") -> tuple[int, np.ndarray]:
        """(step, array) of one snapshotted array at `self.snapshot` (an index; -1 the last)."""
        g = self.archive.f["snapshots"]
        how = f'set archive.snapshots to include "{name}" and run.snapshot_every > 0'
        why = f" {needs}" if needs else ""
        if name not in g:
            raise ArchiveError(f"archive {self.archive.path} has no snapshots of '{name}'{why}; {how}")
        n = self.archive.snapshot_count
        if n == 0:
            raise ArchiveError(f"archive {self.archive.path} has no snapshots of '{name}' yet{why}; {how}")
        i = self.snapshot if self.snapshot >= 0 else n + self.snapshot
        if not 0 <= i < n:
            raise ConfigError(f"snapshot index {self.snapshot} is out of range: the archive has {n} snapshots")
        return self.archive.snapshot(name, i)

    def has_snapshots(self, name: str) -> bool:
        g = self.archive.f["snapshots"]
        return name in g and self.archive.snapshot_count > 0

    def checkpoint_array(self, name: str) -> np.ndarray | None:
        """An array of the latest checkpoint ('w', 'demand', 'profile/mu', ...), or None."""
        c = self.archive.f["checkpoint"]
        latest = int(c["latest"][()])
        key = f"slot{latest}/arrays/{name}"
        return c[key][()] if latest >= 0 and key in c else None

    def demand(self) -> tuple[str, np.ndarray]:
        """(where from, demand over tasks) at the chosen snapshot if demand was snapshotted, else at
        the latest checkpoint; a per-node demand is averaged over nodes."""
        D: np.ndarray | None
        if self.has_snapshots("demand"):
            step, D = self.snapshot_array("demand")
            where = f"step {step}"
        else:
            D = self.checkpoint_array("demand")
            if D is None:
                raise ArchiveError(f"archive {self.archive.path} has neither demand snapshots nor a checkpoint")
            c = self.archive.f["checkpoint"]
            slot = int(c["latest"][()])
            where = f"checkpoint at step {int(c[f'slot{slot}/step'][()])}"
        D = np.asarray(D, dtype=float)
        return where, (D.mean(axis=0) if D.ndim == 2 else D)

    def topology(self) -> Topology:
        """The run's communication graph."""
        from .topology import Topology  # scipy.sparse: imported when a graph is drawn

        g = self.archive.f["topology"]
        n, name = int(g.attrs["n_nodes"]), str(g.attrs["name"])
        if g.attrs["kind"] == "complete":
            return Topology.complete(n)
        prm = json.loads(g.attrs.get("params", "{}"))
        return Topology(n, g["indptr"][()], g["indices"][()], g["data"][()], name=name, params=prm)

    def preferred_tasks(self) -> tuple[str, np.ndarray]:
        """(where from, each agent's preferred task index): the argmax of its profile S at the chosen
        snapshot, else from the latest checkpoint's profile parameters."""
        if self.has_snapshots("S"):
            step, S = self.snapshot_array("S")
            return f"step {step}", np.argmax(S, axis=1)
        for name in ("logits", "mu", "atoms"):
            P = self.checkpoint_array(f"profile/{name}")
            if P is None:
                continue
            if name == "mu":
                x = self.archive.f["tasks/positions"][()]
                return "checkpoint", np.argmin(np.abs(np.angle(np.exp(1j * (P[:, None] - x[None, :])))), axis=1)
            return "checkpoint", np.argmax(np.abs(P) if name == "atoms" else P, axis=1)
        raise ArchiveError(
            f"archive {self.archive.path} has no profile snapshots ('S') and no checkpoint to read preferences from"
        )


# --- the core's plot kinds ----------------------------------------------------------------------------


def draw_timeseries(ctx: PlotContext) -> None:
    """Chosen metrics (default: the first six recorded) against step, one panel each."""
    if ctx.metrics:
        names = list(ctx.metrics)
    else:
        names = [n for n in ctx.archive.f["timeseries"] if n not in ("step", "time", "change")][:_TIMESERIES_DEFAULT]
    data = ctx.series(names)
    if len(data["step"]) == 0:
        raise ArchiveError(f"archive {ctx.archive.path} has no records yet")
    fig = ctx.figure
    fig.set_size_inches(7.0, 1.2 + 1.5 * len(names))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names, strict=True):
        ax.plot(data["step"], data[name], lw=1.5, label=name)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    fig.suptitle(ctx.title("time series"), fontsize=10)


def draw_profiles(ctx: PlotContext) -> None:
    """The agents' skill profiles S (N × K) at a snapshot, rows sorted by preferred task, under the
    demand and the total supply over tasks."""
    step, S = ctx.snapshot_array("S", needs="(the profiles kind draws the profiles S)")
    S = np.asarray(S, dtype=float)
    order = np.lexsort((-S.max(axis=1), np.argmax(S, axis=1)))
    where, D = ctx.demand()
    fig = ctx.figure
    fig.set_size_inches(7.0, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 3))
    k = np.arange(S.shape[1])
    top.plot(k, D / (D.max() or 1.0), color="black", lw=1.5, label=f"demand ({where})")
    total = np.abs(S).sum(axis=0)
    top.plot(k, total / (total.max() or 1.0), color="tab:orange", lw=1.2, ls="--", label="Σ of profiles")
    top.set_ylabel("relative")
    top.legend(fontsize=8, loc="upper right")
    cmap = "RdBu_r" if S.min() < 0 else "viridis"
    lim = np.abs(S).max() or 1.0
    im = bottom.imshow(
        S[order],
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        vmin=-lim if S.min() < 0 else 0.0,
        vmax=lim,
        extent=(-0.5, S.shape[1] - 0.5, S.shape[0] - 0.5, -0.5),
    )
    bottom.set_xlabel("task")
    bottom.set_ylabel("agent (sorted by preferred task)")
    if S.shape[0] <= 20:  # few agents: name each row
        names = ctx.labels("agents") or [str(i) for i in range(S.shape[0])]
        bottom.set_yticks(range(S.shape[0]), [names[i] for i in order])
    fig.colorbar(im, ax=bottom, label="profile S")
    fig.suptitle(ctx.title(f"profiles at step {step}"), fontsize=10)


def draw_heterogeneity(ctx: PlotContext) -> None:
    """Hill numbers of the agents' profiles over time against the demand's effective number of modes."""
    g = ctx.archive.f["timeseries"]
    hills = [n for n in ("hill_q0", "hill_q1", "hill_q2") if n in g]
    if not hills:
        raise ArchiveError(
            f"archive {ctx.archive.path} has no Hill numbers (the heterogeneity kind needs the 'hill' metric "
            "of the metrics plugin in metrics.names)"
        )
    extra = ["demand_modes"] if "demand_modes" in g else []
    data = ctx.series(hills + extra)
    fig = ctx.figure
    fig.set_size_inches(7.0, 4.5)
    ax = fig.subplots()
    for n in hills:
        ax.plot(data["step"], data[n], lw=1.5, label=f"Hill number q = {n[-1]}")
    if extra:
        ax.plot(data["step"], data["demand_modes"], color="black", ls="--", lw=1.5, label="demand modes")
    else:
        ax.text(0.01, 0.98, "demand_modes not recorded", transform=ax.transAxes, va="top", fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("effective number")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(ctx.title("heterogeneity"), fontsize=10)


def circle_layout(topology: Topology, seed: int = 0) -> np.ndarray:
    """Nodes on the unit circle in index order (rings, complete graphs)."""
    t = 2 * np.pi * np.arange(topology.n) / max(topology.n, 1)
    return np.column_stack([np.cos(t), np.sin(t)])


def _choose_layout(ctx: PlotContext, topology: Topology):
    layouts = ctx.registry.records("layout")
    if ctx.layout:
        return ctx.registry.get("layout", ctx.layout, "--layout")
    for spec in layouts.values():
        if topology.name in spec.topologies:
            return spec
    return layouts["circle"]


def draw_graph(ctx: PlotContext) -> None:
    """The communication graph, each node coloured by its agent's preferred task."""
    topo = ctx.topology()
    if topo.n > MAX_GRAPH_NODES:
        raise ConfigError(
            f"the graph of archive {ctx.archive.path} has {topo.n:,} nodes; the graph kind draws at most "
            f"{MAX_GRAPH_NODES:,} (plot its profiles or time series instead)"
        )
    where, pref = ctx.preferred_tasks()
    spec = _choose_layout(ctx, topo)
    pos = np.asarray(spec.compute(topo, ctx.seed), dtype=float)
    if pos.shape != (topo.n, 2):
        raise ArchiveError(f"layout '{spec.name}' returned shape {pos.shape}, expected ({topo.n}, 2)")
    from matplotlib.collections import LineCollection

    fig = ctx.figure
    fig.set_size_inches(6.5, 6.0)
    ax = fig.subplots()
    if topo.kind == "csr":
        A = topo.matrix().tocoo()
        keep = A.row < A.col
        pairs = set(zip(A.row[keep].tolist(), A.col[keep].tolist(), strict=True))
        one_way = A.row > A.col
        pairs |= {(j, i) for i, j in zip(A.row[one_way].tolist(), A.col[one_way].tolist(), strict=True)}
        edges = sorted(pairs)
    else:
        edges = []  # complete: every pair is linked, drawing them hides the nodes
    if edges:
        segs = np.stack([pos[[i for i, _ in edges]], pos[[j for _, j in edges]]], axis=1)
        alpha = max(0.05, min(0.6, 200.0 / len(edges)))
        ax.add_collection(LineCollection(list(segs), colors="0.5", linewidths=0.5, alpha=alpha, zorder=1))
    size = max(6, 2000 / topo.n)
    if ctx.n_tasks <= 10:  # few tasks: one named colour each
        from matplotlib.lines import Line2D

        names = ctx.labels("tasks") or [f"task {k}" for k in range(ctx.n_tasks)]
        ax.scatter(pos[:, 0], pos[:, 1], c=[f"C{k}" for k in pref], s=size, zorder=2)
        handles = [
            Line2D([], [], ls="", marker="o", color=f"C{k}", label=f"{names[k]} ({np.sum(pref == k)})")
            for k in range(ctx.n_tasks)
        ]
        ax.legend(
            handles=handles, title=f"preferred task ({where})", fontsize=8, loc="upper left", bbox_to_anchor=(1, 1)
        )
    else:
        sc = ax.scatter(pos[:, 0], pos[:, 1], c=pref, cmap="hsv", vmin=0, vmax=ctx.n_tasks, s=size, zorder=2)
        fig.colorbar(sc, ax=ax, label=f"preferred task ({where})", shrink=0.8)
    ax.set_aspect("equal")
    ax.set_axis_off()
    shown = f"{len(edges)} edges" if topo.kind == "csr" else "every pair linked, edges not drawn"
    fig.suptitle(ctx.title(f"graph '{topo.name}' ({shown}, layout {spec.name})"), fontsize=9)


# --- entry points ----------------------------------------------------------------------------------------


def default_kind(archive: Archive, registry) -> str:
    """The kind `dps plot` draws without --kind: one that names the archive's scenario, else timeseries."""
    scenario = str(archive.f["scenario"].attrs["name"])
    for name, spec in sorted(registry.records("plot").items()):
        if scenario in spec.scenarios:
            return name
    return "timeseries"


def plot_archive(
    path: str | Path | Archive,
    kind: str | None = None,
    *,
    metrics: Iterable[str] = (),
    snapshot: int = -1,
    layout: str | None = None,
    seed: int = 0,
    registry=None,
):
    """Draw one kind of figure from an archive (finished, running or killed) and return the
    matplotlib Figure (for notebooks; `save_figure` writes it). `kind` defaults to the scenario's
    own view, else 'timeseries'."""
    if registry is None:
        from .registry import Registry

        registry = Registry()
    from .archive import Archive, open_archive  # h5py: imported when a figure is drawn

    own = not isinstance(path, Archive)
    ar = path if isinstance(path, Archive) else open_archive(path)
    try:
        kind = kind or default_kind(ar, registry)
        spec = registry.get("plot", kind, "--kind")
        fig = new_figure()
        ctx = PlotContext(ar, fig, registry, tuple(metrics), snapshot, layout, seed)
        spec.draw(ctx)
        return fig
    finally:
        if own:
            ar.close()


def _columns(table, names: Iterable[str]) -> dict[str, np.ndarray]:
    keys = list(table.keys())
    missing = [n for n in names if n not in keys]
    if missing:
        raise ConfigError(
            f"sweep table has no column {', '.join(map(repr, missing))}; it has {', '.join(map(str, keys))}"
        )
    return {n: np.asarray(table[n]) for n in names}


def plot_sweep(table: Mapping[str, Any] | Any, x: str, y: str, hue: str | None = None):
    """A metric `y` against a parameter `x` over a sweep table (pandas DataFrame or dict of
    columns, one row per run): the mean over replicates (rows sharing x and hue) with ± one
    sample standard deviation as a band and error bars, one line per value of `hue`."""
    cols = _columns(table, [x, y] + ([hue] if hue else []))
    xs, ys = cols[x], np.asarray(cols[y], dtype=float)
    groups = np.unique(cols[hue]) if hue else [None]
    fig = new_figure(6.5, 4.5)
    ax = fig.subplots()
    for g in groups:
        sel = np.ones(len(xs), bool) if g is None or hue is None else cols[hue] == g
        ux = np.unique(xs[sel])
        mean = np.array([np.nanmean(ys[sel & (xs == v)]) for v in ux])
        spread = np.array([np.nanstd(ys[sel & (xs == v)], ddof=1) if np.sum(sel & (xs == v)) > 1 else 0.0 for v in ux])
        label = None if g is None else f"{hue} = {g}"
        line = ax.errorbar(ux, mean, yerr=spread, marker="o", ms=4, capsize=3, lw=1.5, label=label)
        ax.fill_between(ux, mean - spread, mean + spread, color=line[0].get_color(), alpha=0.15, lw=0)
    reps = len(xs) / max(1, len(groups) * len(np.unique(xs)))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    if hue:
        ax.legend(fontsize=8)
    ax.set_title(f"{y} against {x}: mean ± 1 s.d. over {reps:.3g} replicates per point", fontsize=10)
    if math.isfinite(reps) and reps < 2:
        ax.text(0.01, 0.98, "one run per point: no spread", transform=ax.transAxes, va="top", fontsize=8)
    return fig
