"""The course site (`make site`): every lesson with the outputs of one real run, the API and CLI reference.

The lessons come from build/executed/, the copies that `make test`'s nbval run leaves behind (tools/executed.py).
A lesson whose copy is missing, or was run from other cells or other tlcourse code, is run once here, by the same
nbval run (so the site never shows outputs of code that is not the current one). The lessons are staged in
build/site-src/ beside the pages of docs/ (the build copy only: solution cells get a "Show the solution" toggle,
widgets a note, each page a download box), then Sphinx (myst-nb, sphinx-book-theme) builds build/site/ with
warnings as errors. Usage: `python -m tools.sitebuild` (what `make site` runs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from tlcourse.classroom.student import BEGIN, student_notebook

from .colabcell import MARKER as COLAB_MARKER  # the lessons' Colab cell: the pages link Colab instead
from .executed import METADATA_KEY, executed_info, fingerprint

REPO = Path(__file__).resolve().parent.parent
WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "(an interactive ipywidgets control: open the notebook in JupyterLab to use it)"


class SiteError(RuntimeError):
    """The site cannot be built as it is: the message names the lesson and the fix."""


def lessons(repo: Path = REPO) -> list[Path]:
    """The lessons, in order: every notebooks/NN_*.ipynb (a new lesson appears on the site by itself)."""
    return sorted(p for p in (repo / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def stale_reason(lesson: Path, executed: Path) -> str | None:
    """Why the executed copy cannot stand for this lesson now (None when it can)."""
    info = executed_info(executed)
    if info is None:
        return "no executed copy" if not executed.exists() else "executed copy has no record of its run"
    then, now = info.get("fingerprint"), fingerprint(lesson)
    if not isinstance(then, dict):
        return "executed copy was recorded by an older tlcourse"
    if then.get("notebook") != now["notebook"]:
        return "the notebook's cells changed since it ran"
    if then.get("package") != now["package"]:
        return "tlcourse's code changed since it ran"
    return None


INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what a learner's JupyterLab draws figures with


def ensure_executed(repo: Path = REPO) -> dict[str, dict]:
    """Run (once, under nbval) the lessons whose executed copy is missing or stale; returns each lesson's run."""
    executed = repo / "build" / "executed"
    todo = {p: r for p in lessons(repo) if (r := stale_reason(p, executed / p.name))}
    if os.environ.get("TLCOURSE_SITE_REUSE") == "1":  # drafts: keep stale copies, run only missing ones
        for p, reason in todo.items():
            if (executed / p.name).exists():
                print(f"warning: {p.name}: {reason}; reused as it is (TLCOURSE_SITE_REUSE=1)", file=sys.stderr)
        todo = {p: r for p, r in todo.items() if not (executed / p.name).exists()}
    if todo:
        for p, reason in todo.items():
            print(f"{p.name}: {reason}: running it once (nbval)", flush=True)
        cmd = [sys.executable, "-m", "pytest", "-q", "--nbval-lax", *[str(p.relative_to(repo)) for p in todo]]
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "MPLBACKEND": INLINE_BACKEND}  # figures drawn, as in Jupyter
        subprocess.run(cmd, cwd=repo, env=env, check=False)
        for p in todo:
            if still := stale_reason(p, executed / p.name):
                raise SiteError(f"{p.name}: {still} after running it (did a cell fail to finish?): run `make test`")
    runs = {p.stem: executed_info(executed / p.name) for p in lessons(repo)}
    if unrecorded := [name for name, info in runs.items() if info is None]:
        raise SiteError(f"{', '.join(unrecorded)}: the executed copies carry no record of their run: run `make test`")
    return {name: info for name, info in runs.items() if info is not None}


def _errors(nb) -> list[str]:
    """Error outputs of an executed notebook, as 'cell N: Name: message'."""
    found = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        found += [f"cell {i}: {o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"]
    return found


def _hide_solution(cell) -> None:
    """A solution cell is shown folded: the reader tries first, then clicks to see it (build copy only)."""
    tags = cell.metadata.setdefault("tags", [])
    if "hide-input" not in tags:
        tags.append("hide-input")
    cell.metadata["mystnb"] = {"code_prompt_show": "Show the solution", "code_prompt_hide": "Hide the solution"}


def _widget_note(out) -> None:
    """An ipywidgets output has no live kernel on a static page: its static HTML stays (the concept questions carry
    one, answers folded); a widget without one gets a note instead of its repr."""
    if out.output_type in ("display_data", "execute_result") and WIDGET in out.get("data", {}):
        html = out.data.get("text/html")
        out.data = {"text/html": html} if html else {"text/plain": WIDGET_NOTE}


def _shows_something(out) -> bool:
    """False for an output that is only an empty text: what a vanished progress bar (leave=False) leaves."""
    return out.get("data", {"text/plain": "x"}) != {"text/plain": ""}


def format_seconds(seconds: float) -> str:
    """'2 min 05 s' (or '48 s'): a lesson's measured time as the landing page shows it."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def run_line(info: dict) -> str:
    """Where and when a lesson ran, in words."""
    load = ", ".join(f"{x:.1f}" for x in info.get("load_average", []))
    return f"{info.get('cpus')} CPU cores, {info.get('machine')}, load average {load}, finished {info.get('finished')}"


def repository_url() -> str:
    """The one setting the lesson pages' "Open in Colab" links are built from: the repository's GitHub address,
    $TLCOURSE_REPOSITORY_URL, else the repository GitHub Actions builds (site.yml); '' leaves the links out."""
    if url := os.environ.get("TLCOURSE_REPOSITORY_URL", "").rstrip("/"):
        return url
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    return f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{repository}" if repository else ""


def colab_url(repository: str, name: str, *, ref: str = "main") -> str:
    """Where Colab opens lesson `name` straight from the repository on GitHub (the site is built from main)."""
    prefix = "https://github.com/"
    if not repository.startswith(prefix) or repository.count("/") != 4:
        raise SiteError(
            f"Open-in-Colab links need a GitHub repository address like https://github.com/OWNER/NAME, not "
            f"{repository!r}: fix TLCOURSE_REPOSITORY_URL"
        )
    owner_name = repository.removeprefix(prefix)
    return f"https://colab.research.google.com/github/{owner_name}/blob/{ref}/notebooks/{name}.ipynb"


def _download_cell(name: str, info: dict, repository: str = "") -> nbformat.NotebookNode:
    """The box under a lesson's title: its notebook to download or open in Colab, how to open it, its measured time."""
    colab = (
        f" Or [open it in Colab]({colab_url(repository, name)}): its first cell installs the course there."
        if repository
        else ""
    )
    return nbformat.v4.new_markdown_cell(
        ":::{admonition} Run this lesson yourself\n:class: tip\n"
        f"Download {{download}}`{name}.ipynb <../downloads/{name}.ipynb>` (solutions included, no outputs) or the "
        f"exercise version {{download}}`{name}_student.ipynb <../downloads/{name}_student.ipynb>` "
        "(solutions replaced by stubs). In the course folder, `make lab` installs everything and opens JupyterLab; "
        f"there open `notebooks/{name}.ipynb` (or, in any environment with tlcourse installed, "
        f"`jupyter lab {name}.ipynb`) and run *Run ▸ Run All Cells*.{colab}\n\n"
        f"The outputs below are from one real run of this notebook, top to bottom, in "
        f"**{format_seconds(info['seconds'])}** ({run_line(info)}).\n:::"
    )


def _insert_after_title(nb, cell) -> None:
    """Put `cell` right under the lesson's title: the first markdown cell is split after its heading line."""
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
    title, _, rest = nb.cells[first].source.strip().partition("\n")
    nb.cells[first].source = title
    nb.cells[first + 1 : first + 1] = [cell] + ([nbformat.v4.new_markdown_cell(rest.strip())] if rest.strip() else [])


def stage_lesson(lesson: Path, executed: Path, out_dir: Path, *, repository: str = "") -> None:
    """Write the lesson's page source (executed copy, solutions folded, download box) and its downloads."""
    nb = nbformat.read(executed, as_version=4)
    if errors := _errors(nb):
        raise SiteError(f"{lesson.name} ran with errors ({'; '.join(errors)[:500]}): fix the lesson, run `make test`")
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and COLAB_MARKER in c.source)]  # the box links it
    for cell in nb.cells:
        if cell.cell_type == "code" and BEGIN in cell.source:
            _hide_solution(cell)
        for out in cell.get("outputs", []):
            _widget_note(out)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if _shows_something(o)]  # (a `;` was honoured when recorded)
    _insert_after_title(nb, _download_cell(lesson.stem, nb.metadata[METADATA_KEY], repository))
    nbformat.write(nb, out_dir / "lessons" / lesson.name)
    source = nbformat.read(lesson, as_version=4)
    shutil.copyfile(lesson, out_dir / "downloads" / lesson.name)
    nbformat.write(student_notebook(source), out_dir / "downloads" / f"{lesson.stem}_student.ipynb")


def lesson_title(lesson: Path) -> str:
    """The lesson's title: the first heading of its first markdown cell."""
    nb = nbformat.read(lesson, as_version=4)
    first = next(c.source for c in nb.cells if c.cell_type == "markdown")
    return first.strip().splitlines()[0].lstrip("#").strip()


def lesson_map(runs: dict[str, dict], repo: Path = REPO) -> str:
    """The landing page's lesson table: each lesson, linked, with its measured time (MyST markdown)."""
    rows = ["| lesson | measured time, top to bottom |", "|---|---|"]
    for p in lessons(repo):
        rows.append(f"| [{lesson_title(p)}](lessons/{p.stem}.ipynb) | {format_seconds(runs[p.stem]['seconds'])} |")
    total = sum(r["seconds"] for r in runs.values())
    first = runs[lessons(repo)[0].stem]
    rows.append(f"| **all {len(runs)} lessons** | **{format_seconds(total)}** |")
    note = (
        f"\nMeasured in one real run of every lesson (`make test`, which runs each notebook top to bottom under "
        f"nbval; the same run made the outputs on these pages): {run_line(first).rsplit(', finished', 1)[0]}, "
        "Times include starting the kernel; other work on the machine (the load average above) makes them longer.\n"
    )
    return "\n".join(rows) + "\n" + note


def stage(repo: Path = REPO) -> Path:
    """build/site-src/: the pages of docs/, the staged lessons and the lesson map."""
    runs = ensure_executed(repo)
    src = repo / "build" / "site-src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(repo / "docs", src, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "lessons").mkdir()
    (src / "downloads").mkdir()
    for p in lessons(repo):
        stage_lesson(p, repo / "build" / "executed" / p.name, src, repository=repository_url())
    (src / "lesson_map.md").write_text(lesson_map(runs, repo), encoding="utf-8")
    (src / "runs.json").write_text(json.dumps(runs, indent=1), encoding="utf-8")
    return src


def build(repo: Path = REPO) -> float:
    """Stage, then `sphinx-build -W -n` into build/site/; returns the build's seconds."""
    start = time.perf_counter()
    src = stage(repo)
    out = repo / "build" / "site"
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html", "-d"]
    cmd += [str(repo / "build" / "site-doctrees"), str(src), str(out)]
    subprocess.run(cmd, cwd=repo, check=True)
    return time.perf_counter() - start


def main() -> int:
    try:
        seconds = build()
    except (SiteError, subprocess.CalledProcessError) as err:
        print(f"make site: {err}", file=sys.stderr)
        return 1
    pages = list((REPO / "build" / "site").rglob("*.html"))
    size = sum(p.stat().st_size for p in (REPO / "build" / "site").rglob("*") if p.is_file())
    print(f"site: build/site/index.html ({len(pages)} pages, {size / 1e6:.1f} MB) in {seconds:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
