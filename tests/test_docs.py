"""The docs stay true: the config reference is generated from the code, and every runnable
example in the README and docs/ is run."""

import inspect
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


# the tutorial mixes `dps` commands with Python: test_tutorial_runs runs it
DOCS = [
    p
    for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    if python_blocks(p) and p.name != "tutorial.md"
]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_python_examples_in_docs_run(path, tmp_path, monkeypatch):
    """Every ```python block of a page runs, in order, in one scratch directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(REPO / "examples")
    for i, code in enumerate(python_blocks(path)):
        exec(compile(code, f"{path.name}[{i}]", "exec"), {"__name__": "__docs__"})


def test_every_hook_and_record_field_is_in_the_plugin_guide():
    """docs/plugins.md lists every hook with its arguments and every record with all its fields, in order."""
    import re

    import attrs

    import dps_core
    from dps_core import hookspecs
    from dps_core.records import RECORD_KINDS

    text = (REPO / "docs" / "plugins.md").read_text()
    for hook in (n for n in dir(hookspecs) if n.startswith("dps_")):
        args = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
        assert f"`{hook}({args})`" in text, f"docs/plugins.md does not document {hook}({args})"
    records = [cls for cls, _ in RECORD_KINDS.values()] + [dps_core.Setup, dps_core.ArraySpec]
    for cls in records:
        found = re.search(rf"`{cls.__name__}\(([^)]*)\)`", text)
        assert found, f"docs/plugins.md does not list {cls.__name__}(...)"
        listed = [f.strip() for f in found.group(1).replace("\n", " ").split(",")]
        assert listed == [f.name for f in attrs.fields(cls)], f"{cls.__name__} fields in docs/plugins.md: {listed}"


def test_reference_pages_are_current():
    """docs/api.md and docs/hooks/ are generated from dps_core.__all__ and the hookspecs."""
    gen = runpy.run_path(str(REPO / "docs" / "gen_reference.py"))
    for path, text in gen["pages"]().items():
        assert path.exists() and path.read_text() == text, f"{path.name} is stale: run python docs/gen_reference.py"


def tutorial_blocks(path):
    """(language, code) of every ```bash and ```python block, in page order."""
    text = path.read_text()
    out = []
    for part in text.split("```")[1::2]:
        lang, _, code = part.partition("\n")
        if lang in ("bash", "python"):
            out.append((lang, code))
    return out


@pytest.mark.slow
def test_tutorial_runs(tmp_path, monkeypatch, capsys):
    """Every `dps` command and Python block of the tutorial runs, in order (the install line is text)."""
    pytest.importorskip("matplotlib")
    import shlex

    from dps_core.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(REPO / "examples")
    blocks = tutorial_blocks(REPO / "docs" / "tutorial.md")
    assert sum(lang == "bash" for lang, _ in blocks) >= 3
    for i, (lang, code) in enumerate(blocks):
        if lang == "python":
            exec(compile(code, f"tutorial.md[{i}]", "exec"), {"__name__": "__docs__"})
            continue
        for line in code.strip().splitlines():
            argv = shlex.split(line)
            assert argv[0] == "dps", line
            assert main(argv[1:]) == 0, (line, capsys.readouterr().err)
    assert (tmp_path / "first-profiles.png").stat().st_size > 0 and (tmp_path / "sweep.png").exists()
