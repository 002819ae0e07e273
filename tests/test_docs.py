"""The docs stay true: the config reference is generated from the code, and every runnable
example in the README and docs/ is run."""

import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_config_reference_is_current():
    gen = runpy.run_path(str(REPO / "docs" / "gen_config.py"))
    assert (REPO / "docs" / "config.md").read_text() == gen["render"](), "run: python docs/gen_config.py"


def test_every_config_key_is_documented():
    from dps_core import params
    from dps_core.config import _SECTIONS

    text = (REPO / "docs" / "config.md").read_text()
    for section, cls in _SECTIONS.items():
        body = text.split(f"## [{section}]")[1].split("\n## ")[0]
        for row in params.describe(cls):
            assert f"| `{row['name']}` |" in body, (section, row["name"])


def python_blocks(path):
    text = path.read_text()
    parts = text.split("```python\n")[1:]
    return [p.split("```")[0] for p in parts]


DOCS = [p for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))] if python_blocks(p)]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_python_examples_in_docs_run(path, tmp_path, monkeypatch):
    """Every ```python block of a page runs, in order, in one scratch directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(REPO / "examples")
    for i, code in enumerate(python_blocks(path)):
        exec(compile(code, f"{path.name}[{i}]", "exec"), {"__name__": "__docs__"})
