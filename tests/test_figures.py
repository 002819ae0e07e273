"""A figure for every example: docs/make_figures.py knows every config in examples/, the gallery
and the plugin READMEs show committed figures, and the quick versions all run and draw."""

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_example_has_figures_that_are_committed(make_figures):
    """Every run config in examples/ has a committed figure shown on a page. Sweep files (a top-level
    [sweep] table: a base config plus axes, run by `dps sweep run`) are not run configs and get none."""
    tomls = list((REPO / "examples").glob("*.toml"))
    sweeps = {p.stem for p in tomls if "sweep" in tomllib.loads(p.read_text())}
    assert all(make_figures.is_sweep(p) == (p.stem in sweeps) for p in tomls)
    assert {e.name for e in make_figures.EXAMPLES} == {p.stem for p in tomls} - sweeps
    pages = [REPO / "docs" / "figures.md", *(REPO / "plugins").glob("*/README.md")]
    shown = set()
    for page in pages:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page.read_text()):
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.relative_to(REPO)} shows missing {target}"
            assert path.stat().st_size < 200_000, f"{target} is not small"
            shown.add(path.name)
    for ex in make_figures.EXAMPLES:
        assert any(name.startswith(ex.name + "-") for name in shown), f"no figure of examples/{ex.name}.toml"
    for plugin in ("economics", "ecology", "neuroscience", "aicompute", "metrics", "nesting"):
        assert "figures:begin" in (REPO / "plugins" / plugin / "README.md").read_text(), plugin


@pytest.mark.slow
def test_quick_versions_run_and_draw(tmp_path, make_figures):
    pytest.importorskip("matplotlib")
    assert make_figures.main(["--quick", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "figures.md").read_text()
    for ex in make_figures.EXAMPLES:
        assert f"### `examples/{ex.name}.toml`" in page
        for kind in ex.kinds:
            assert (tmp_path / f"{ex.name}-{kind.replace('.', '-')}.png").stat().st_size > 5000
    assert not list(tmp_path.glob("*.h5"))  # the runs' archives are removed
