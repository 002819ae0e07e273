"""Terminal output fits: listings wrap to the terminal width (100 columns when not a terminal),
type names read as English, and a plugin that fails to load is reported once per command."""

import textwrap

import pytest

from dps_core.cli import main
from dps_core.params import _type_name


@pytest.mark.parametrize("command", ["plugins", "scenarios"])
@pytest.mark.parametrize("columns", [None, "60"])
def test_listings_fit_the_width(command, columns, capsys, monkeypatch):
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    else:
        monkeypatch.delenv("COLUMNS", raising=False)  # captured output is not a terminal: 100 columns
    assert main([command]) == 0
    out = capsys.readouterr().out
    width = int(columns or 100)
    assert max(len(line) for line in out.splitlines()) <= width
    assert "core" in out


def test_plugins_lists_plot_kinds(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["plugins"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # undo the wrapping
    assert "plot: graph, heterogeneity, profiles, timeseries" in text and "layout: circle" in text


def test_type_names_read_correctly():
    assert _type_name(tuple[tuple[float, ...], ...]) == "a list of lists of numbers"
    assert _type_name(tuple[int, ...]) == "a list of integers"
    assert _type_name(tuple[str, ...]) == "a list of strings"


def test_a_broken_plugin_is_warned_about_once_per_command(tmp_path, monkeypatch, capsys):
    (tmp_path / "dps_broken_once.py").write_text("raise ImportError('missing dependency foo')\n")
    info = tmp_path / "dps_broken_once-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dps-broken-once\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[dps]\nbroken_once = dps_broken_once\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        textwrap.dedent("""
        [run]
        steps = 2
        [scenario]
        name = "generic"
        agents = 4
        tasks = 4
    """)
    )
    # the parser's registry and the simulation's registry both meet the broken plugin
    assert main(["run", str(cfg), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("plugin failed to load") == 1 and "broken_once" in err
    # the next command reports it again
    assert main(["validate", str(cfg)]) == 0
    assert capsys.readouterr().err.count("plugin failed to load") == 1
