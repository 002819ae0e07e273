"""What `dps principle` writes: the table of statistics and verdicts (Markdown and JSON) and one
figure per law."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dps_core import save_figure

from . import protocol as pr
from .experiments import LawResult
from .stats import Outcome

__all__ = ["table", "write", "figure"]


def _num(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else "n/a"


def _row(law: str, which: str, o: Outcome, gaps: dict) -> str:
    ci = f"[{_num(o.low)}, {_num(o.high)}]"
    g = gaps.get(o.label) if which == "experiment" else None
    gap = "" if g is None else f"{_num(g[0])} [{_num(g[1])}, {_num(g[2])}]"
    cells = [law, which, o.name, _num(o.mean), ci, o.rule.criterion, gap, o.verdict]
    return "| " + " | ".join(cells) + " |"


def table(results: list[LawResult], title: str = "") -> str:
    """The Markdown table: one row per statistic of every experiment and control, then the verdicts."""
    head = ["law", "run", "statistic", "mean", "95 % CI", "criterion", "gap to optimum", "outcome"]
    lines = [f"# {title}", ""] if title else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if not r.applies:
            continue
        lines += [_row(r.law, "experiment", o, r.gaps) for o in r.experiment]
        lines += [_row(r.law, "control", o, r.gaps) for o in r.control]
        lines += [_row(r.law, "diagnostic", o, r.gaps) for o in r.diagnostic]
    lines += ["", "Verdicts:", ""]
    for r in results:
        if not r.applies:
            lines.append(f"- **{r.law}: not applicable**: {r.reason}")
            continue
        lines.append(f"- **{r.law}: {r.verdict}** ({r.why}); control ({pr.CONTROLS[r.law]}): {r.control_verdict}")
        lines += [f"  - {o.name}: {o.reason}" for o in r.experiment]
        lines += [f"  - control {o.name}: {o.reason}" for o in r.control]
        lines += [f"  - diagnostic {o.name} ({pr.DIAGNOSTICS[r.law][o.label]}): {o.reason}" for o in r.diagnostic]
        lines += [f"  - {n}" for n in r.notes]
        if r.control_verdict != "fails":
            lines.append(f"  - WARNING: the control did not fail ({r.control_verdict}): the verdict cannot be trusted")
        lines += [
            f"  - NOTE: the statistic also holds with {o.label} ({pr.DIAGNOSTICS[r.law][o.label]}): the experiment "
            f"cannot attribute its outcome to what that diagnostic removes"
            for o in r.diagnostic
            if o.verdict == "holds"
        ]
    return "\n".join(lines) + "\n"


def write(results: list[LawResult], out: Path, settings: dict) -> tuple[Path, Path]:
    """DIR/principle.md and DIR/principle.json."""
    md = out / "principle.md"
    md.write_text(table(results, "dps principle"), encoding="utf-8")
    js = out / "principle.json"
    js.write_text(
        json.dumps({"settings": settings, "laws": [r.to_dict() for r in results]}, indent=2) + "\n", encoding="utf-8"
    )
    return md, js


# --- figures ---------------------------------------------------------------------------------------


def _figure(ncols: int):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * ncols, 4.2), layout="constrained")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _identity(ax, xs) -> None:
    finite = [x for x in xs if math.isfinite(x)]
    if finite:
        lim = [0.0, max(finite) * 1.1]
        ax.plot(lim, lim, color="0.6", lw=1, ls="--", label="H = M")


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:  # nothing to name when every run failed
        ax.legend()


def _verdict_title(ax, r: LawResult, text: str) -> None:
    ax.set_title(f"{text}\n{r.verdict} (control: {r.control_verdict})", fontsize=10)


def figure(r: LawResult, out: Path) -> Path | None:
    """The law's figure at DIR/<law>.png (None when the law did not apply)."""
    if not r.applies:
        return None
    f = r.figure
    if r.law == "law1":
        fig, (a, b) = _figure(2)
        for which, colour, marker in (("experiment", "C0", ""), ("control", "0.4", "x")):
            for i, (e, h) in enumerate(f[which]):
                a.plot(e, h, color=colour, marker=marker, alpha=0.7, lw=1, label=which if i == 0 else None)
        a.set(xlabel="efficacy", ylabel="Hill number (q = 1)")
        _legend(a)
        _verdict_title(a, r, "law 1: heterogeneity against performance over time")
        b.plot(range(len(f["final"])), f["final"], "o", label="optimised, final")
        b.plot(range(len(f["control_final"])), f["control_final"], "x", color="0.4", label="control (eta = 0), final")
        b.xaxis.get_major_locator().set_params(integer=True)
        b.axhline(f["homogeneous"], color="C3", label="best homogeneous")
        b.set(xlabel="replicate", ylabel="efficacy")
        _legend(b)
        b.set_title("law 1: optimised heterogeneous vs best homogeneous", fontsize=10)
    elif r.law in ("law2", "law4"):
        groups = f["classes"] if r.law == "law2" else {"layer 2": f["points"]}
        fig, axes = _figure(len(groups) + (r.law == "law4"))
        for ax, (label, pts) in zip(axes, groups.items(), strict=False):
            for which, marker, colour in (("experiment", "o", "C0"), ("control", "x", "0.4")):
                xy = np.array([(m, h) for m, h, w in pts if w == which], dtype=np.float64).reshape(-1, 2)
                ax.plot(xy[:, 0], xy[:, 1], marker, color=colour, alpha=0.7, label=which)
            _identity(ax, [m for m, _h, _w in pts])
            ax.set(xlabel="demand modes M", ylabel="heterogeneity H (final)")
            _legend(ax)
            _verdict_title(ax, r, f"{r.law}: {label}")
        if r.law == "law4":
            ax = axes[-1]
            for which, colour, marker in (("experiment", "C0", ""), ("control", "0.4", "x")):
                for i, (e, h) in enumerate(f["series"][which]):
                    ax.plot(e, h, color=colour, marker=marker, alpha=0.7, lw=1, label=which if i == 0 else None)
            ax.set(xlabel="system efficacy", ylabel="between-module H2 (layer 2)")
            _legend(ax)
            ax.set_title("law 4: layer-2 heterogeneity against performance", fontsize=10)
    else:
        fig, (ax,) = _figure(1)
        styles = {"experiment": ("o", "C0"), "control": ("x", "0.3"), "permuted labels": ("+", "C1")}
        styles |= {"rewired": ("^", "C2"), "no trade": ("s", "C3")}
        for which, points in f.items():
            marker, colour = styles.get(which, (".", "C4"))
            pts = np.array([(L, xi) for L, xi, _k in points], dtype=np.float64).reshape(-1, 2)
            label = which if which in ("experiment", "control") else f"diagnostic: {which}"
            ax.plot(pts[:, 0], pts[:, 1], marker, color=colour, alpha=0.6, mfc="none", label=label)
        ax.set(xscale="log", xlabel="mean shortest path L (hops)", ylabel="correlation length xi (hops)")
        lengths = [L for points in f.values() for L, _xi, _k in points if L > 0]
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        ax.set_xticks([1, 2, 5, 10, 20, 50, 100])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        if lengths:
            ax.set_xlim(min(lengths) / 1.3, max(lengths) * 1.3)
        _legend(ax)
        _verdict_title(ax, r, "law 3: spatial scale against the topology's reach")
    return save_figure(fig, out / f"{r.law}.png")
