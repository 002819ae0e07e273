"""A figure for every example: docs/make_figures.py knows every config in examples/, the gallery
and the plugin READMEs show committed figures, and the quick versions all run and draw."""

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("make_figures", REPO / "docs" / "make_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_example_has_figures_that_are_committed():
    """Every run config in examples/ has a committed figure shown on a page. Sweep files (a top-level
    [sweep] table: a base config plus axes, run by `dps sweep run`) are not run configs and get none."""
    mod = _module()
    tomls = list((REPO / "examples").glob("*.toml"))
    sweeps = {p.stem for p in tomls if "sweep" in tomllib.loads(p.read_text())}
    assert all(mod.is_sweep(p) == (p.stem in sweeps) for p in tomls)
    assert {e.name for e in mod.EXAMPLES} == {p.stem for p in tomls} - sweeps
    pages = [REPO / "docs" / "figures.md", *(REPO / "plugins").glob("*/README.md")]
    shown = set()
    for page in pages:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page.read_text()):
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.relative_to(REPO)} shows missing {target}"
            assert path.stat().st_size < 200_000, f"{target} is not small"
            shown.add(path.name)
    for ex in mod.EXAMPLES:
        assert any(name.startswith(ex.name + "-") for name in shown), f"no figure of examples/{ex.name}.toml"
    for plugin in ("economics", "ecology", "neuroscience", "aicompute", "metrics", "nesting"):
        assert "figures:begin" in (REPO / "plugins" / plugin / "README.md").read_text(), plugin


@pytest.mark.slow
def test_quick_versions_run_and_draw(tmp_path):
    pytest.importorskip("matplotlib")
    mod = _module()
    assert mod.main(["--quick", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "figures.md").read_text()
    for ex in mod.EXAMPLES:
        assert f"### `examples/{ex.name}.toml`" in page
        for kind in ex.kinds:
            assert (tmp_path / f"{ex.name}-{kind.replace('.', '-')}.png").stat().st_size > 5000
    assert not list(tmp_path.glob("*.h5"))  # the runs' archives are removed
