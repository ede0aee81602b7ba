"""`tlcourse lessons` and `tlcourse lab`: the lesson notebooks copied out of the installed package into a folder of
the learner's, and JupyterLab opened there. Nothing is lost: a lesson the learner changed is never overwritten.

The wheel carries the notebooks as `tlcourse/notebooks/*.ipynb` (pyproject.toml); a source checkout (an editable
install) reads the repository's notebooks/ folder instead. `DIR/.tlcourse-lessons.json` records the SHA-256 of each
lesson as it was copied, so `--update` can tell a lesson the learner changed (kept) from one they did not (refreshed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .paths import REPO_ROOT

DEFAULT_DIR = "tlcourse-lessons"
RECORD = ".tlcourse-lessons.json"
FIRST_LESSON = "00_welcome.ipynb"


def packaged_dir() -> Path:
    """Where the installed course keeps its lessons: the wheel's tlcourse/notebooks/, else the checkout's notebooks/."""
    inside = Path(__file__).resolve().parent / "notebooks"
    return inside if any(inside.glob("*.ipynb")) else REPO_ROOT / "notebooks"


def packaged_lessons() -> list[Path]:
    """The lesson notebooks the installed course carries, in lesson order (`00_welcome.ipynb` to the last)."""
    lessons = sorted(packaged_dir().glob("[0-9][0-9]_*.ipynb"))
    if not lessons:
        raise FileNotFoundError(
            f"no lesson notebooks in {packaged_dir()}. Fix: reinstall the course (pip install --force-reinstall "
            f"tlcourse=={__version__}), or run from a source checkout (its notebooks/ folder)."
        )
    return lessons


def sha256(path: Path) -> str:
    """A file's SHA-256, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_record(folder: Path) -> dict[str, str]:
    """Each lesson's SHA-256 as it was last copied into `folder` (empty when nothing was recorded there)."""
    path = folder / RECORD
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("lessons", {}))
    except (ValueError, AttributeError):
        return {}  # a damaged record: every lesson that differs counts as the learner's


def _write_record(folder: Path, lessons: dict[str, str]) -> None:
    """Record which version of each lesson was copied (what `--update` compares the learner's copies with)."""
    document = {"tlcourse": __version__, "lessons": dict(sorted(lessons.items()))}
    (folder / RECORD).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


@dataclass
class LessonsReport:
    """What `copy_lessons` did to each lesson file, by name."""

    folder: Path
    copied: list[str] = field(default_factory=list)  # new here
    refreshed: list[str] = field(default_factory=list)  # unchanged by the learner, replaced by the packaged version
    current: list[str] = field(default_factory=list)  # identical to the packaged version already
    kept: list[str] = field(default_factory=list)  # changed by the learner and different from the packaged version
    outdated: list[str] = field(default_factory=list)  # unchanged, older than the packaged version (no --update)

    def lines(self, *, update: bool) -> list[str]:
        """What was done, one line per kind, and the next command to run."""
        out = []
        if self.copied:
            out.append(f"{len(self.copied)} lesson(s) copied into {self.folder}: {', '.join(self.copied)}")
        if self.refreshed:
            out.append(f"{len(self.refreshed)} refreshed (you had not changed them): {', '.join(self.refreshed)}")
        if self.current:
            out.append(f"{len(self.current)} already up to date")
        if self.outdated:
            out.append(
                f"{len(self.outdated)} older than this release, unchanged by you: {', '.join(self.outdated)}. "
                f"Fix: tlcourse lessons {_quoted(self.folder)} --update"
            )
        if self.kept:
            how = "rename yours and run it again to get the new one" if update else "see: --update"
            out.append(f"{len(self.kept)} changed by you, kept as they are ({how}): {', '.join(self.kept)}")
        out.append(f"Next: tlcourse lab {_quoted(self.folder)}   (or: cd {_quoted(self.folder)}; jupyter lab)")
        return out


def _quoted(path: Path) -> str:
    """A path as the learner would type it in a shell (quoted when it holds a space)."""
    text = str(path)
    return f'"{text}"' if " " in text else text


def copy_lessons(folder: Path, *, update: bool = False) -> LessonsReport:
    """Copy the packaged lessons into `folder`; with `update`, refresh the ones the learner did not change."""
    folder.mkdir(parents=True, exist_ok=True)
    record, report = _read_record(folder), LessonsReport(folder)
    for source in packaged_lessons():
        target, new = folder / source.name, sha256(source)
        if not target.exists():
            shutil.copyfile(source, target)
            record[source.name] = new
            report.copied.append(source.name)
            continue
        mine = sha256(target)
        if mine == new:
            record[source.name] = new
            report.current.append(source.name)
        elif record.get(source.name) != mine:
            report.kept.append(source.name)  # the learner's work: never overwritten
        elif update:
            shutil.copyfile(source, target)
            record[source.name] = new
            report.refreshed.append(source.name)
        else:
            report.outdated.append(source.name)
    _write_record(folder, record)
    return report


def lab_command(folder: Path, *, is_root: bool | None = None) -> list[str]:
    """The command, run in `folder`, that opens JupyterLab on its first lesson (--allow-root as root, as `make lab`)."""
    if is_root is None:
        is_root = hasattr(os, "getuid") and os.getuid() == 0
    allow_root = ["--allow-root"] if is_root else []
    first = [FIRST_LESSON] if (folder / FIRST_LESSON).is_file() else []
    return [sys.executable, "-m", "jupyterlab", *allow_root, *first]


def run_lab(command: list[str], folder: Path) -> int:
    """Run JupyterLab in `folder` until it stops; a Ctrl-C is Jupyter's to handle (it asks before shutting down)."""
    process = subprocess.Popen(command, cwd=folder)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue  # the terminal sent the same Ctrl-C to Jupyter: it decides, and we wait for it to stop


def has_lessons(folder: Path) -> bool:
    """Whether `folder` holds at least one lesson notebook already."""
    return folder.is_dir() and any(folder.glob("[0-9][0-9]_*.ipynb"))
