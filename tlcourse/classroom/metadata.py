"""nbgrader metadata for the lesson notebooks, written by code (never by hand) so it cannot drift.

Each exercise becomes two cells: the solution cell (`### BEGIN SOLUTION` ... `### END SOLUTION`, nbgrader
`solution: true`) and, right after it, the check cell that starts with `checks.check_<name>(` (nbgrader
`grade: true`, locked, 1 point). A lesson cell that holds both is split in two at the check call, so the
notebooks work with nbgrader's `generate_assignment` / `autograde` and with `tlcourse student` / `tlcourse grade`.
Running `tlcourse student --nbgrader-metadata` again changes nothing (a unit test holds the notebooks to that).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from .student import BEGIN

CHECK_CALL = re.compile(r"^checks\.check_(\w+)\(", re.MULTILINE)
POINTS = 1
SCHEMA = 3


def split_check_cells(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Split every code cell holding a solution and a later check call into a solution cell and a check cell."""
    cells = []
    for cell in nb.cells:
        match = CHECK_CALL.search(cell.source) if cell.cell_type == "code" and BEGIN in cell.source else None
        if match is None or match.start() == 0:
            cells.append(cell)
            continue
        solution, check = copy.deepcopy(cell), nbformat.v4.new_code_cell(cell.source[match.start() :])
        solution.source = cell.source[: match.start()].rstrip("\n")
        solution.outputs, solution.execution_count = [], None
        check.id = f"{cell.get('id', 'cell')}-check"[:64]
        check.outputs, check.execution_count = cell.get("outputs", []), cell.get("execution_count")
        cells += [solution, check]
    nb.cells = cells
    return nb


def _solution_meta(name: str) -> dict:
    return {
        "grade": False,
        "grade_id": name,
        "locked": False,
        "schema_version": SCHEMA,
        "solution": True,
        "task": False,
    }


def _check_meta(name: str) -> dict:
    return {
        "grade": True,
        "grade_id": f"check_{name}",
        "locked": True,
        "points": POINTS,
        "schema_version": SCHEMA,
        "solution": False,
        "task": False,
    }


def exercise_names(nb: nbformat.NotebookNode) -> list[str]:
    """The check names of the notebook's exercises, in order (`top5_names` for `checks.check_top5_names(`)."""
    return [m.group(1) for cell in nb.cells if cell.cell_type == "code" for m in [CHECK_CALL.match(cell.source)] if m]


def mark_nbgrader(nb: nbformat.NotebookNode, path: str | Path = "notebook") -> nbformat.NotebookNode:
    """A copy of `nb` with check cells split off and every cell's nbgrader metadata set (or removed)."""
    nb = split_check_cells(nbformat.from_dict(copy.deepcopy(nb)))
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type != "code":
            continue
        if BEGIN in cell.source:
            following = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            match = CHECK_CALL.match(following.source) if following and following.cell_type == "code" else None
            if match is None:
                raise ValueError(
                    f"{path}: the solution cell {i} is not followed by a cell starting with "
                    "`checks.check_<name>(`; put the exercise's check call right after it."
                )
            cell.metadata["nbgrader"] = _solution_meta(match.group(1))
        elif (match := CHECK_CALL.match(cell.source)) and i > 0 and BEGIN in nb.cells[i - 1].source:
            cell.metadata["nbgrader"] = _check_meta(match.group(1))
    return nb


def write_nbgrader_metadata(source: str | Path = "notebooks") -> list[Path]:
    """Rewrite, in place, the notebooks in `source` that have exercises; returns those whose file changed."""
    changed = []
    for path in sorted(Path(source).glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        if BEGIN not in text:
            continue
        new = nbformat.writes(mark_nbgrader(nbformat.reads(text, as_version=4), path)) + "\n"
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed
