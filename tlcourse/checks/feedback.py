"""What every exercise check shares: the message a learner reads, and an outcome a grader can read.

A check prints a green line when the answer is right, raises ExerciseError (one readable message, no traceback
wall) when it is wrong, and lets NotImplementedError through when the exercise is not attempted. Each call also
records an `Outcome`: in `outcomes()`, in the learner's logbook (`logbook`: their progress, unless TLCOURSE_PROGRESS=0)
and, with TLCOURSE_CHECK_LOG set, as one JSON line in that file. `tlcourse grade` trusts none of these: it runs
fresh copies of the checks itself (`tlcourse.classroom.verdicts`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NoReturn

from ..errors import TLCourseError
from . import logbook

LOG_ENV = "TLCOURSE_CHECK_LOG"
STATUSES = ("passed", "failed", "not attempted", "error")


class ExerciseError(TLCourseError, AssertionError):
    """The learner's answer is not right yet; the message says why and gives a hint."""


@dataclass(frozen=True)
class Outcome:
    """One check's result: which exercise, which lesson, one of STATUSES, and the message the learner saw."""

    check: str
    lesson: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


_OUTCOMES: list[Outcome] = []
CATALOG: dict[str, list[str]] = {}  # lesson -> names of its checks, in the order they are defined
RECORD_TO_FILES = True  # the grader's fresh copies of this module set it False: their verdict goes to the grader only


def fail(problem: str, hint: str) -> NoReturn:
    """Stop the check with what is wrong and a hint towards the fix."""
    raise ExerciseError(f"{problem}\nHint: {hint}")


def ok(message: str) -> str:
    """Print the green line of a right answer; returns the message for the outcome."""
    print(f"\u2705 {message}")
    return message


def outcomes() -> list[Outcome]:
    """Every outcome recorded in this process (this kernel), oldest first."""
    return list(_OUTCOMES)


def record(outcome: Outcome) -> None:
    """Keep the outcome, add it to the learner's logbook, and append it to $TLCOURSE_CHECK_LOG when that is set."""
    _OUTCOMES.append(outcome)
    if not RECORD_TO_FILES:
        return
    logbook.append(outcome.lesson, outcome.check, outcome.status)
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(outcome)) + "\n")


def exercise(lesson: str) -> Callable:
    """Decorator: register a check under its lesson and record the outcome of every call (the call returns None)."""

    def decorate(check: Callable[..., str]) -> Callable[..., None]:
        name = check.__name__.removeprefix("check_")
        CATALOG.setdefault(lesson, []).append(name)

        @functools.wraps(check)
        def run(*args, **kwargs) -> None:
            try:
                message = check(*args, **kwargs)
            except ExerciseError as err:
                record(Outcome(name, lesson, "failed", str(err)))
                raise
            except NotImplementedError as err:
                record(Outcome(name, lesson, "not attempted", str(err) or "not attempted"))
                raise
            except Exception as err:
                record(Outcome(name, lesson, "error", f"{type(err).__name__}: {err}"))
                raise
            record(Outcome(name, lesson, "passed", message))

        return run

    return decorate
