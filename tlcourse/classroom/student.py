"""Student notebooks: the lesson notebooks with every solution replaced by a stub (nbgrader-style markers)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("Your turn: write this part, then run the check below.")'
_BLOCK = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*$", re.S | re.M)


def strip_solutions(source: str) -> str:
    """Replace each BEGIN/END SOLUTION block with a stub at the same indentation."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"Unbalanced solution markers in cell:\n{source[:200]}")
    return _BLOCK.sub(lambda m: f"{m.group(1)}{STUB}", source)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` with solutions stubbed and outputs cleared."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs, cell.execution_count = [], None
    return nb


def make_student_notebooks(
    source: str | Path = "notebooks", out: str | Path = "student", overwrite: bool = False
) -> list[Path]:
    """Write a student version of every notebook in `source` to `out`; never overwrites without `overwrite`."""
    source, out = Path(source), Path(out)
    written = []
    for path in sorted(source.glob("*.ipynb")):
        target = out / path.name
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"{target} exists (maybe with your answers). Use --overwrite to replace it, "
                "or choose another --out folder."
            )
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written
