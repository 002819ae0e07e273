"""A figure for every example: run each config in examples/ (with --quick, a shortened version),
draw its figures into docs/figures/, and write the gallery page docs/figures.md and the figures
section of each plugin's README, every caption stating the numbers measured in that run.

    python docs/make_figures.py --quick            # every example, a few minutes on one core
    python docs/make_figures.py --quick generic    # only some examples; the pages keep the others' blocks
    python docs/make_figures.py --out /tmp/f       # figures and page elsewhere; READMEs untouched

Sweep files in examples/ (a top-level [sweep] table, run by `dps sweep run`) get no figure.

Needs the core with the [plot] extra and every plugin installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np

REPO = Path(__file__).resolve().parents[1]


@attrs.frozen
class Example:
    """One example's figures: the quick overrides, the plot kinds, and its caption from the run."""

    name: str
    plugin: str  # whose README shows it ('core': the main README's gallery only)
    kinds: tuple[str, ...]
    caption: Callable  # (series, archive) -> str
    quick: dict = attrs.field(factory=dict)
    full: dict = attrs.field(factory=dict)  # overrides even the full run needs (snapshots for a figure)
    metrics: tuple[str, ...] = ()  # series the timeseries kind draws (default: the first six recorded)


def is_sweep(path: Path) -> bool:
    """A sweep file (for `dps sweep run`) has a top-level [sweep] table; a run config never has one."""
    return "sweep" in tomllib.loads(path.read_text())


def run_configs() -> list[str]:
    """Names of the run configs in examples/ (sweep files expand into runs of a config and get no figure)."""
    return sorted(p.stem for p in (REPO / "examples").glob("*.toml") if not is_sweep(p))


def _v(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3g}".replace("e+0", "·10^").replace("e+", "·10^")


def _from_to(ts, name: str, label: str | None = None) -> str:
    v = ts[name][np.isfinite(ts[name])]  # a ratio may be undefined at step 0 (no stimulus yet)
    return f"{label or name} {_v(v[0])} → {_v(v[-1])}"


def _steps(ts) -> str:
    return f"{int(ts['step'][-1])} steps"


def _hill(ts, ar) -> str:
    modes = f" against {_v(ts['demand_modes'][-1])} demand modes" if "demand_modes" in ts else ""
    return f"heterogeneity (Hill number, q = 1) {_v(ts['hill_q1'][0])} → {_v(ts['hill_q1'][-1])}{modes}"


def cap_generic(ts, ar) -> str:
    return f"{_hill(ts, ar)}; {_from_to(ts, 'efficacy')} over {_steps(ts)}."


def cap_ricardo(ts, ar) -> str:
    price = ar.snapshots("signal.price")[-1].mean(axis=0)
    S = ar.snapshots("S")[-1]
    return (
        f"England puts {S[0, 0]:.0%} of its labour into cloth, Portugal {S[1, 1]:.0%} into wine; "
        f"relative price of cloth {price[0] / price[1]:.3f} "
        f"(between the autarky ratios 0.833 and 1.125); {_from_to(ts, 'specialisation')}; "
        f"{_from_to(ts, 'welfare')} over {_steps(ts)}."
    )


def cap_hill_eff(ts, ar) -> str:
    return f"{_hill(ts, ar)}; {_from_to(ts, 'efficacy')}; {_from_to(ts, 'specialisation')} over {_steps(ts)}."


def cap_lv(ts, ar) -> str:
    w = ar.snapshots("w")[-1]
    return (
        f"densities settle at {w[0]:.4g} and {w[1]:.4g}; the interior equilibrium is 1.375 and 0.3125 "
        f"({_steps(ts)}, dt = 0.01)."
    )


def cap_biomass(ts, ar) -> str:
    return f"{_from_to(ts, 'productivity')}; {_from_to(ts, 'richness', 'species present')} over {_steps(ts)}."


def cap_metacommunity(ts, ar) -> str:
    p = ts["productivity"]
    return (
        f"productivity {_v(p[0])} at the start (every population at its initial biomass), {_v(p[-1])} at "
        f"the end, {_v(np.mean(p[len(p) // 2 :]))} on average over the second half; "
        f"{_v(ts['richness'][-1])} species-patch populations present ({_steps(ts)})."
    )


def cap_radiation(ts, ar) -> str:
    return f"{_hill(ts, ar)}; {_from_to(ts, 'productivity')} over {_steps(ts)}."


def cap_biodiversity(ts, ar) -> str:
    from dps_ecology.plots import plot_productivity

    from dps_core.plotting import PlotContext

    rich, prod = plot_productivity(PlotContext(ar, None, None))
    means = ", ".join(f"{int(s)}: {prod[rich == s].mean():.3g}" for s in np.unique(rich))
    return f"mean productivity by species sown ({means}) after {_steps(ts)}; it rises and saturates with richness."


def cap_lca(ts, ar) -> str:
    return (
        f"the population explains {ts['reconstruction'][-1]:.3f} of the stimulus with "
        f"{ts['active_fraction'][-1]:.0%} of its neurons active ({_steps(ts)})."
    )


def cap_learning(ts, ar) -> str:
    return f"{_from_to(ts, 'reconstruction', 'explained fraction')}; {_from_to(ts, 'active_fraction', 'active fraction')} over {_steps(ts)}."


def cap_cluster(ts, ar) -> str:
    return f"{_from_to(ts, 'throughput', 'requests per hour')} from equal spend on each type; {_hill(ts, ar)} ({_steps(ts)})."


def cap_lasso(ts, ar) -> str:
    return (
        f"{_from_to(ts, 'lca_energy', 'LASSO energy')}; the population explains {ts['reconstruction'][-1]:.3f} "
        f"of the stimulus with {ts['active_fraction'][-1]:.0%} of its 12 neurons active ({_steps(ts)})."
    )


def cap_law2(ts, ar) -> str:
    return (
        f"{_hill(ts, ar)}; {_from_to(ts, 'efficacy')}, against {_v(ts['reference_efficacy'][-1])} for the reference "
        f"optimum: a gap of {_v(100 * ts['efficacy_gap'][-1])} % after {_steps(ts)}."
    )


def _radius(x: float) -> str:
    return f"{x:.3g} hops" if np.isfinite(x) else "not reached within the largest ball tried"


def cap_spatial(ts, ar) -> str:
    c1, se = ts["corr_d1"][-1], ts["corr_se_d1"][-1]
    sign = "anti-correlated" if c1 < -2 * se else "correlated" if c1 > 2 * se else "no more alike than random pairs"
    return (
        f"{_from_to(ts, 'efficacy')}; {_hill(ts, ar)}; at the end neighbours are {sign} "
        f"(C(1) = {ts['corr_d1'][-1]:.3f} ± {ts['corr_se_d1'][-1]:.3f}, C(2) = {ts['corr_d2'][-1]:.3f}), "
        f"correlation length {ts['correlation_length'][-1]:.3g} hops, self-sufficiency radius "
        f"{_radius(ts['self_sufficiency_radius'][-1])}, heterogeneity radius "
        f"{_radius(ts['heterogeneity_radius'][-1])} ({_steps(ts)})."
    )


def cap_nested(ts, ar) -> str:
    return (
        f"{_from_to(ts, 'layer2_between', 'heterogeneity between layer-2 modules')} against "
        f"{_v(ts['layer2_demand_modes'][-1])} demand modes at a module's breadth; "
        f"{_from_to(ts, 'layer3_between', 'between layer-3 units')}; "
        f"{_from_to(ts, 'system_efficacy', 'system efficacy')} over {_steps(ts)}."
    )


EXAMPLES = (
    Example("generic", "core", ("heterogeneity", "profiles"), cap_generic, {"run.steps": 600}),
    Example("division_of_labour", "economics", ("graph",), cap_hill_eff, {"run.steps": 1000}),
    Example("ricardo", "economics", ("economics.ricardo",), cap_ricardo, {"run.steps": 400}),
    Example("trade_network", "economics", ("graph",), cap_hill_eff, {"run.steps": 1000}),
    Example(
        "lotka_volterra",
        "ecology",
        ("ecology.densities",),
        cap_lv,
        {"run.steps": 3000, "run.checkpoint_every": 1000},
    ),
    Example("consumer_resource", "ecology", ("timeseries",), cap_biomass, {"run.steps": 5000}),
    Example("biodiversity", "ecology", ("ecology.biodiversity",), cap_biodiversity),
    Example("radiation", "ecology", ("heterogeneity",), cap_radiation, {"run.steps": 5000}),
    Example("metacommunity", "ecology", ("timeseries",), cap_metacommunity, {"run.steps": 5000}),
    Example("lca", "neuroscience", ("neuroscience.lca",), cap_lca),
    Example("dictionary_learning", "neuroscience", ("timeseries",), cap_learning, {"run.steps": 5000}),
    Example("circuits", "neuroscience", ("timeseries",), cap_learning, {"run.steps": 5000}),
    Example("cluster", "aicompute", ("aicompute.mix",), cap_cluster, {"run.steps": 3000}),
    Example("store_recompute", "aicompute", ("profiles",), cap_hill_eff, {"run.steps": 3000}),
    # quick: the reference optimum by single-agent exchanges, not all 2.9 million splits (same 0.786 here)
    Example("law2_narrow", "core", ("heterogeneity",), cap_law2, {"metrics.optimum_gap.max_splits": 1000}),
    Example("lasso_file", "neuroscience", ("neuroscience.lca",), cap_lasso),
    Example("spatial_ring", "metrics", ("graph",), cap_spatial, {"run.steps": 1000}),
    Example(
        "nested",
        "nesting",
        ("timeseries",),
        cap_nested,
        metrics=("system_efficacy", "layer2_between", "layer2_demand_modes", "layer3_between", "layer2_within"),
    ),
)


def make(example: Example, out: Path, quick: bool) -> list[tuple[str, str]]:
    """Run one example and draw its figures; return (figure file name, caption) pairs."""
    from dps_core import Simulation, open_archive, plot_archive, save_figure

    overrides = {**example.full, **(example.quick if quick else {})}
    sim = Simulation.from_config(REPO / "examples" / f"{example.name}.toml", overrides=overrides)
    archive = out / f"{example.name}.h5"
    sim.run(archive, overwrite=True)
    made = []
    with open_archive(archive) as ar:
        ts = ar.timeseries()
        caption = example.caption(ts, ar)
        for kind in example.kinds:
            fig = plot_archive(ar, kind, metrics=example.metrics)
            name = f"{example.name}-{kind.replace('.', '-')}.png"
            save_figure(fig, out / name, dpi=80)
            made.append((name, caption))
    archive.unlink()
    return made


def command(example: Example, quick: bool) -> str:
    sets = {**example.full, **(example.quick if quick else {})}
    extra = "".join(f" --set {k}={v}" for k, v in sets.items())
    return f"dps run examples/{example.name}.toml -o {example.name}.h5{extra}"


def kept_blocks(page: Path) -> dict[str, list[str]]:
    """The existing gallery page's block of each example, kept for the examples a partial run does not redraw."""
    blocks: dict[str, list[str]] = {}
    name = None
    for line in page.read_text().splitlines() if page.is_file() else []:
        head = re.fullmatch(r"### `examples/(.+)\.toml`", line)
        if head:
            name = head[1]
            blocks[name] = []
        elif line.startswith("## "):
            name = None
        if name is not None:
            blocks[name].append(line)
    return {n: [*"\n".join(b).rstrip("\n").split("\n"), ""] for n, b in blocks.items()}


def gallery(
    results: dict[str, list[tuple[str, str]]], quick: bool, prefix: str, kept: dict[str, list[str]] | None = None
) -> dict[str, list[str]]:
    """Markdown sections by plugin: figure, caption and the command that reproduces it (for examples not
    in `results`, their `kept` block from the page, whose figure links start with 'figures/')."""
    sections: dict[str, list[str]] = {}
    for ex in EXAMPLES:
        if ex.name not in results:
            if kept and ex.name in kept:
                block = [line.replace("](figures/", f"]({prefix}") for line in kept[ex.name]]
                sections.setdefault(ex.plugin, []).extend(block)
            continue
        lines = [f"### `examples/{ex.name}.toml`", ""]
        for name, _caption in results[ex.name]:
            lines += [f"![{ex.name}: {name}]({prefix}{name})", ""]
        kinds = " ".join(f"--kind {k}" for k in ex.kinds[:1])
        if ex.metrics:
            kinds += " --metric " + " ".join(ex.metrics)
        lines += [
            f"{results[ex.name][0][1]}",
            "",
            f"`{command(ex, quick)} && dps plot {ex.name}.h5 {kinds}`",
            "",
        ]
        sections.setdefault(ex.plugin, []).extend(lines)
    return sections


HEAD = """# Figures

<!-- generated by docs/make_figures.py: edit that script, not this file -->

One figure for every run configuration in `examples/` (sweep files, run by `dps sweep run`, have
none), each from a run of its quick version
(`python docs/make_figures.py --quick` runs them all and rewrites this page, the figures in
`docs/figures/` and the figures section of every plugin's README). The numbers in each caption
are measured in that run; the full configs run longer and get closer to the values their
comments promise.
"""


def write_readme(path: Path, lines: list[str]) -> None:
    begin, end = "<!-- figures:begin (docs/make_figures.py) -->", "<!-- figures:end -->"
    text = path.read_text()
    block = "\n".join([begin, "", *lines, end])
    if begin in text:
        text = text.split(begin)[0] + block + text.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Figures\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", nargs="*", help="example names (default: all)")
    parser.add_argument("--quick", action="store_true", help="shortened runs (what the committed figures use)")
    parser.add_argument(
        "--out", type=Path, help="directory for figures and page (default: docs/figures, docs/figures.md)"
    )
    args = parser.parse_args(argv)
    known = {e.name for e in EXAMPLES}
    unknown = [n for n in args.examples if n not in known]
    missing = [name for name in run_configs() if name not in known]
    if unknown or missing:
        print(f"make_figures: unknown example(s) {unknown}; examples without figures {missing}", file=sys.stderr)
        return 2
    out = args.out or REPO / "docs" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for ex in EXAMPLES:
        if args.examples and ex.name not in args.examples:
            continue
        t = time.perf_counter()
        results[ex.name] = make(ex, out, args.quick)
        print(f"{ex.name}: {time.perf_counter() - t:.1f} s: {results[ex.name][0][1]}", file=sys.stderr)
    if args.examples and args.out is not None:  # a partial run elsewhere draws figures only
        return 0
    # a partial run keeps the other examples' blocks from the committed page
    kept = kept_blocks(out.parent / "figures.md") if args.examples else None
    sections = gallery(results, args.quick, "figures/" if args.out is None else "", kept)
    page = [HEAD]
    for plugin in ("core", "economics", "ecology", "neuroscience", "aicompute", "metrics", "nesting"):
        if plugin in sections:
            page += [f"## {'The generic scenario' if plugin == 'core' else plugin}", "", *sections[plugin]]
    (out.parent / "figures.md" if args.out is None else out / "figures.md").write_text("\n".join(page))
    if args.out is None:
        for plugin, lines in gallery(results, args.quick, "../../docs/figures/", kept).items():
            if plugin != "core":
                write_readme(REPO / "plugins" / plugin / "README.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
