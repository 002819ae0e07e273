"""Sphinx configuration of the dps documentation site (Markdown pages through myst-parser, the API
reference by autodoc). Built offline with warnings as errors: `python -m tox -e docs`, or
`python -m sphinx -W --keep-going -b html docs docs/_build/html`."""

import dps_core

project = "dps"
author = "the dps authors"
release = version = dps_core.__version__
copyright = "the dps authors"

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "figures/README.md"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # signatures stay readable; types are in the docstrings and records
autodoc_default_options = {"members": False}
html_theme = "furo" if __import__("importlib.util").util.find_spec("furo") else "alabaster"
html_title = f"dps {release}"
html_static_path = []
nitpicky = False
