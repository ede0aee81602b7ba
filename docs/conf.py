"""Sphinx configuration of the course site. `make site` builds build/site-src/ (a staged copy of docs/, with the
lessons), so paths here are relative to it: ../../README.md is the repository's README."""

from __future__ import annotations

import shutil
from pathlib import Path

import tlcourse

project = "tlcourse"
author = "the tlcourse authors"
copyright = "the tlcourse authors, MIT licence"
release = version = tlcourse.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",  # Google-style "Args:" lists (train.fit)
    "sphinxarg.ext",
]
exclude_patterns = ["downloads", "runs.json", "lesson_map.md", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["tlcourse.css"]

# The lessons were executed by `make test` (tools/executed.py); the site shows that run's outputs.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no widget JavaScript from a CDN: the site works offline (widgets get a note instead)
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Docstrings write `name` for code.
default_role = "literal"
autosummary_generate = True
napoleon_numpy_docstring = False  # Google style only: inherited numpy-style docstrings (nbclient's) stay as written
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_typehints_description_target = "all"
autodoc_member_order = "bysource"

# Nitpicky: every cross-reference inside tlcourse must resolve; names from other libraries have no inventory offline.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|torchvision|numpy|np|PIL|sklearn|matplotlib|nbformat|pytest|argparse|tqdm|jupyter_client)\..*"),
    (r"py:.*", r"(nbclient|ast|ipywidgets)\..*"),
    (r"py:.*", r"(pathlib|typing|collections|dataclasses|enum|os|abc|queue|subprocess|datetime)\..*"),
    (r"py:.*", r"(Path|Tensor|Module|Optimizer|NotebookNode|Iterable|Iterator|Sequence|Callable|Mapping|Any)"),
    (r"py:.*", r"(nn|F|T)\..*|Dataset|DataLoader|T|tlcourse\.storage\.T"),  # torch's names as the modules import them
]

html_theme = "sphinx_book_theme"
html_title = "tlcourse: transfer learning, by doing it"
html_last_updated_fmt = None
html_copy_source = False  # the pages are the sources: no second copy of every executed notebook (5 MB)
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "show_toc_level": 2,
}

# MathJax from the sphinx-mathjax-offline package, copied next to the pages: math renders with no network. Only
# the parts a page uses (TeX input with its extensions, HTML-CSS output with its fonts, menu and accessibility).
mathjax_path = "mathjax/tex-chtml.js"
MATHJAX_PARTS = ["tex-chtml.js", "input", "output/chtml", "ui", "a11y", "sre", "adaptors"]


def _copy_mathjax(app, exc) -> None:
    """Copy the vendored MathJax into _static/mathjax/ once the pages are written."""
    if exc is not None or app.builder.format != "html":
        return
    import importlib.util

    source = Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent / "static" / "mathjax"
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app) -> None:
    app.connect("build-finished", _copy_mathjax)
