"""Figures from archives: each kind draws what the archive holds (the lines are the recorded
series, the profile image is N × K sorted by preferred task, the graph has the topology's nodes
and edges), on finished and killed archives, with one clear line when something is missing;
matplotlib is never imported by `import dps_core` or `dps --help`."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dps_core import (
    ArchiveError,
    ConfigError,
    PlotSpec,
    Simulation,
    hookimpl,
    open_archive,
    plot_archive,
    plot_sweep,
    save_figure,
)
from dps_core.cli import main
from dps_core.registry import Registry

CONFIG = {
    "run": {"steps": 60, "record_every": 10, "snapshot_every": 20, "checkpoint_every": 20, "seed": 2},
    "scenario": {"name": "generic", "agents": 10, "tasks": 12, "peaks": 2},
    "profile": {"family": "vonmises", "kappa": 4.0},
    "topology": {"name": "ring", "k": 2},
    "mixing": {"name": "shared"},
    "mode": {"name": "gradient", "eta": 0.2},
    "metrics": {"names": ["productivity", "efficacy"]},
    "archive": {"snapshots": ["S", "w"]},
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "run.h5"
    Simulation.from_config(CONFIG).run(path)
    return path


def test_timeseries_lines_are_the_archive_series(archive):
    fig = plot_archive(archive, "timeseries", metrics=["efficacy", "productivity"])
    with open_archive(archive) as ar:
        ts = ar.timeseries()
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["efficacy", "productivity"]
    for ax, name in zip(axes, ["efficacy", "productivity"], strict=True):
        [line] = ax.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), ts["step"])
        np.testing.assert_array_equal(line.get_ydata(), ts[name])
    # the default picks recorded series, 'change' (a diagnostic) excluded
    labels = [ax.get_ylabel() for ax in plot_archive(archive).axes]
    assert "change" not in labels and "efficacy" in labels


def test_profile_image_is_n_by_k_sorted_by_preferred_task(archive):
    fig = plot_archive(archive, "profiles")
    with open_archive(archive) as ar:
        S = ar.snapshots("S")[-1]
    [image] = fig.axes[1].get_images()
    shown = np.asarray(image.get_array())
    assert shown.shape == (10, 12)  # N agents × K tasks
    assert np.all(np.diff(np.argmax(shown, axis=1)) >= 0)  # sorted by preferred task
    # the rows are the archive's profiles, reordered, none lost or changed
    np.testing.assert_array_equal(np.sort(shown, axis=0), np.sort(S, axis=0))
    demand = fig.axes[0].get_lines()[0].get_ydata()
    assert demand.shape == (12,) and demand.max() == pytest.approx(1.0)


def test_graph_has_the_topologys_nodes_and_edges(archive):
    fig = plot_archive(archive, "graph")
    ax = fig.axes[0]
    [nodes] = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    assert len(nodes.get_offsets()) == 10
    [edges] = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    assert len(edges.get_segments()) == 10 * 2  # a ring with k = 2 neighbours each side: N k undirected edges
    # colours are the preferred tasks at the last snapshot
    with open_archive(archive) as ar:
        pref = np.argmax(ar.snapshots("S")[-1], axis=1)
    np.testing.assert_array_equal(nodes.get_array(), pref)
    # nodes on the core's circle layout: all at radius 1
    np.testing.assert_allclose(np.hypot(*nodes.get_offsets().T), 1.0)


def test_graph_refuses_more_than_2000_nodes(tmp_path):
    path = tmp_path / "big.h5"
    cfg = {
        "run": {"steps": 1},
        "scenario": {"name": "generic", "agents": 2001, "tasks": 4},
        "topology": {"name": "ring"},
        "mixing": {"name": "shared"},
    }
    Simulation.from_config(cfg).run(path)
    with pytest.raises(ConfigError, match="has 2,001 nodes; the graph kind draws at most 2,000"):
        plot_archive(path, "graph")


def test_missing_data_is_one_clear_line(tmp_path, capsys):
    path = tmp_path / "bare.h5"
    Simulation.from_config({**CONFIG, "run": {"steps": 10}, "archive": {"snapshots": []}}).run(path)
    assert main(["plot", str(path), "--kind", "profiles"]) == ArchiveError.exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no snapshots of 'S'" in err and "archive.snapshots" in err
    assert main(["plot", str(path), "--kind", "heterogeneity"]) == ArchiveError.exit_code
    assert "needs the 'hill' metric" in capsys.readouterr().err
    assert main(["plot", str(path), "--kind", "timeseries", "--metric", "nope"]) == ArchiveError.exit_code
    assert "has no series 'nope'" in capsys.readouterr().err
    assert main(["plot", str(path), "--kind", "nope"]) == ConfigError.exit_code
    assert "unknown plot 'nope'" in capsys.readouterr().err
    assert main(["plot", str(path), "-o", str(tmp_path / "x.gif")]) == ConfigError.exit_code


def test_cli_writes_the_format_its_suffix_names(archive, tmp_path, capsys):
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")):
        out = tmp_path / f"f{suffix}"
        assert main(["plot", str(archive), "--kind", "timeseries", "-o", str(out)]) == 0
        assert out.read_bytes()[:5].startswith(magic)
    assert main(["plot", str(archive), "--kind", "heterogeneity"]) == ArchiveError.exit_code  # no hill metric


KILLER = textwrap.dedent("""
    import os, signal, sys
    from dps_core import Simulation, hookimpl

    class Killer:
        dps_plugin_name = "killer"

        @hookimpl
        def dps_record(self, simulation, step, metrics):
            if step == 40:
                os.kill(os.getpid(), signal.SIGKILL)

    Simulation.from_config({config!r}, plugins=[Killer()]).run(sys.argv[1])
""")


@pytest.mark.slow
def test_plots_a_killed_run(tmp_path):
    path = tmp_path / "killed.h5"
    config = {**CONFIG, "archive": {**CONFIG["archive"], "flush_every": 1}}  # every record durable before the kill
    proc = subprocess.run([sys.executable, "-c", KILLER.format(config=config), str(path)], cwd=tmp_path)
    assert proc.returncode == -9
    with open_archive(path) as ar:
        assert ar.swmr and ar.status == "running"
        ts = ar.timeseries()
    fig = plot_archive(path, "timeseries", metrics=["efficacy"])
    [line] = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_ydata(), ts["efficacy"])
    assert line.get_xdata()[-1] == 40
    [image] = plot_archive(path, "profiles").axes[1].get_images()
    assert image.get_array().shape == (10, 12)
    save_figure(fig, tmp_path / "killed.png")


def test_plugins_add_kinds_and_a_scenario_default(archive):
    seen = {}

    def draw(ctx):
        seen["series"] = ctx.series(["efficacy"])
        ctx.figure.subplots().plot(seen["series"]["step"], seen["series"]["efficacy"])

    class Mine:
        dps_plugin_name = "mine"

        @hookimpl
        def dps_register_plots(self, register):
            register(PlotSpec("mine.view", draw, scenarios=("generic",)))

    reg = Registry([Mine()], entry_points=False)
    assert reg.owner("plot", "mine.view") == "mine"
    fig = plot_archive(archive, registry=reg)  # the scenario's own view is the default
    assert "efficacy" in seen["series"] and len(fig.axes) == 1


def test_sweep_plot_mean_and_spread():
    # hand-made table: two replicates per point, values chosen so mean and s.d. are exact
    table = {
        "kappa": [1, 1, 2, 2, 1, 1, 2, 2],
        "topology": ["ring"] * 4 + ["complete"] * 4,
        "hill_q1": [1.0, 3.0, 4.0, 4.0, 2.0, 2.0, 5.0, 7.0],
    }
    fig = plot_sweep(table, "kappa", "hill_q1", hue="topology")
    ax = fig.axes[0]
    lines = {t.get_text(): None for t in ax.get_legend().get_texts()}
    assert set(lines) == {"topology = ring", "topology = complete"}
    # the mean lines (markers at each x); means: ring (2, 4), complete (2, 6)
    ys = sorted(tuple(line.get_ydata()) for line in ax.get_lines() if line.get_marker() == "o")
    assert ys == [(2.0, 4.0), (2.0, 6.0)]
    # spread: sample s.d. of (1, 3) is sqrt(2), of (4, 4) is 0, of (5, 7) sqrt(2)
    caps = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    half = sorted(round(float(abs(seg[1, 1] - seg[0, 1]) / 2), 9) for c in caps for seg in c.get_segments())
    assert half == pytest.approx(sorted([np.sqrt(2), 0.0, 0.0, np.sqrt(2)]))
    pd = pytest.importorskip("pandas")
    fig2 = plot_sweep(pd.DataFrame(table), "kappa", "hill_q1")
    [line] = [ln for ln in fig2.axes[0].get_lines() if ln.get_marker() == "o"]
    np.testing.assert_allclose(line.get_ydata(), [2.0, 5.0])  # (1+3+2+2)/4, (4+4+5+7)/4
    with pytest.raises(ConfigError, match="sweep table has no column 'nope'"):
        plot_sweep(table, "nope", "hill_q1")


def test_import_and_help_do_not_import_matplotlib():
    code = (
        "import sys, dps_core\n"
        "from dps_core.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
