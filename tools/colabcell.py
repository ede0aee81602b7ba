"""Each lesson's first cell: on Google Colab it installs this release of the course and fetches the lesson's
data; anywhere else it does nothing. `python -m tools.colabcell` writes or refreshes that cell in every lesson (after
a version bump, or when a lesson needs other data); tests/test_colab.py checks every lesson holds the cell it writes.

The cell cannot call the package (on Colab the package is not installed yet), so it is plain IPython: `%pip`
installs into the running kernel, `!tlcourse download` is the command a learner would type.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from tlcourse import __version__

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MARKER = '"google.colab" in sys.modules'
CELL_ID = "colab-setup"
# The data sets each lesson reads (lesson 00's doctor.check() asks for every offline one; 05 uses bundled digits).
DATA = {"00": ["all"], "05": [], "07": ["sst2"], "08": ["sst2"], "11": ["sst2"]}
DEFAULT_DATA = ["hymenoptera"]


def cell_source(lesson: str, *, version: str = __version__) -> str:
    """The Colab cell of lesson `lesson` ('00' … '12'): 3–4 lines."""
    lines = [
        "import sys  # on Google Colab only: install this release of the course and fetch this lesson's data",
        f"if {MARKER}:",
        f"    %pip install -q tlcourse=={version}",
    ]
    lines += [f"    !tlcourse download {name}" for name in DATA.get(lesson, DEFAULT_DATA)]
    return "\n".join(lines)


def colab_cell_index(nb: nbformat.NotebookNode) -> int | None:
    """Where the lesson's Colab cell is (None when it has none)."""
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and MARKER in c.source), None)


def with_colab_cell(nb: nbformat.NotebookNode, lesson: str) -> bool:
    """Make the Colab cell the lesson's first cell (what Colab shows first), or refresh it; True when it changed."""
    source, index = cell_source(lesson), colab_cell_index(nb)
    if index is not None:
        changed = nb.cells[index].source != source
        nb.cells[index].source = source
        return changed
    cell = nbformat.v4.new_code_cell(source)
    cell.id = CELL_ID
    nb.cells.insert(0, cell)
    return True


def main() -> int:
    """Write or refresh the Colab cell in every lesson; print which lessons changed."""
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if with_colab_cell(nb, path.name[:2]):
            nbformat.write(nb, path)
            print(f"wrote the Colab cell of {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
