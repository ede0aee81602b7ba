"""The lessons' nbval run leaves executed copies behind for the course site (see tools/executed.py).

pytest loads this file for every run in the repository. For each lesson in notebooks/ that nbval runs
(`make test-lessons`), a `NotebookRecorder` listens to the lesson's kernel; when all its code cells have run, the
lesson is written to build/executed/ with its outputs and seconds. Runs without nbval are untouched; a lesson
stopped part-way (-x, -k, a kernel that died) is not written, so no half-run copy reaches the site.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tools.executed import NotebookRecorder, write_executed

EXECUTED = Path(__file__).resolve().parent / "build" / "executed"
LESSONS = Path(__file__).resolve().parent / "notebooks"


def _is_lesson_cell(item) -> bool:
    """An nbval cell item of a lesson in notebooks/."""
    return type(item).__name__ == "IPyNbCell" and Path(str(item.path)).resolve().parent == LESSONS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    started = time.perf_counter()
    yield  # the notebook's kernel starts in its first cell's setup
    if _is_lesson_cell(item) and not hasattr(item.parent, "tlcourse_recorder"):
        kernel = getattr(item.parent, "kernel", None)
        if kernel is not None and kernel.is_alive():
            recorder = NotebookRecorder(kernel.km, Path(str(item.path)))
            recorder.started = started  # the lesson's time includes starting its kernel
            item.parent.tlcourse_recorder = recorder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    started = time.perf_counter()
    yield
    recorder = getattr(item.parent, "tlcourse_recorder", None) if _is_lesson_cell(item) else None
    if recorder is not None:
        if item.options["skip"]:
            recorder.complete = False  # an nbval-skip cell: the copy would not be the lesson as a learner runs it
        else:
            recorder.record_cell(item.cell_num, time.perf_counter() - started)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    recorder = getattr(item.parent, "tlcourse_recorder", None) if _is_lesson_cell(item) else None
    if recorder is not None and (nextitem is None or nextitem.parent is not item.parent):
        ran_all = len(recorder.cells) == sum(c.cell_type == "code" for c in item.parent.nb.cells)
        if recorder.complete and ran_all:
            write_executed(recorder.notebook(item.parent.nb), EXECUTED / item.path.name)
        recorder.close()
        del item.parent.tlcourse_recorder
    yield  # then nbval stops the kernel
