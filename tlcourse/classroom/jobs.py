"""Grading a whole class: N kernels at once, each result kept as soon as it is known, reruns that resume, shards.

`tlcourse grade SUBMISSIONS --jobs N` runs N notebooks at a time, each in its own worker process and kernel, with
each kernel's threads capped so that N x threads <= cores (two kernels each using every core would only slow each
other down). Every finished notebook is appended at once, as one JSON line, to the results file beside the grades
table (`grades.jsonl` for `grades.csv`): an interruption loses nothing already graded, and a rerun skips the
notebooks already there (same file, same content) unless `--regrade`. `--shard i/n` grades the i-th of n shares of
the students, for a class spread over n machines; `tlcourse grade --merge a.jsonl b.jsonl ...` joins the shards'
results into one table. The table is the same whatever N (rows by student, columns by lesson and check).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from ..checks import CATALOG, Outcome
from ..errors import TamperedInstallError, TLCourseError
from . import tamper, verdicts
from .grade import NotebookResult, find_submissions, grade_notebook


def cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def content_digest(path: Path) -> str:
    """The SHA-256 of a submitted file: a resubmitted (changed) notebook is graded again."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def to_json(result: NotebookResult, root: Path, digest: str) -> str:
    """One results-file line for a graded notebook."""
    outcomes = {name: [o.status, o.message] for name, o in result.outcomes.items()}
    fields: dict[str, object] = {"student": result.student, "lesson": result.lesson}
    fields["path"] = result.path.relative_to(root).as_posix()
    fields |= {"sha256": digest, "outcomes": outcomes, "error": result.error, "seconds": round(result.seconds, 1)}
    return json.dumps(fields, ensure_ascii=False)


def from_json(line: str, root: Path) -> tuple[NotebookResult, str]:
    """A graded notebook read back from the results file, with the digest of the file it graded."""
    d = json.loads(line)
    outcomes = {name: Outcome(name, d["lesson"], status, message) for name, (status, message) in d["outcomes"].items()}
    result = NotebookResult(d["student"], root / d["path"], d["lesson"], outcomes, d["error"], d["seconds"])
    return result, d["sha256"]


def load_results(path: Path, root: Path) -> dict[str, tuple[NotebookResult, str]]:
    """Results already in the file, by relative path (a later line for the same notebook wins); {} if none yet."""
    if not path.exists():
        return {}
    found = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            result, digest = from_json(line, root)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise TLCourseError(f"{path}, line {number}: not a grading result ({err}); move the file aside") from err
        found[result.path.relative_to(root).as_posix()] = (result, digest)
    return found


def append_result(path: Path, line: str) -> None:
    """Add one line to the results file and push it to disk before going on."""
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def parse_shard(text: str | None) -> tuple[int, int]:
    """'2/3' -> (2, 3); None -> (1, 1). A clear error for anything else."""
    if not text:
        return 1, 1
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise TLCourseError(f"--shard {text}: expected i/n, e.g. 2/3 (the second of three shares)") from None
    if not 1 <= i <= n:
        raise TLCourseError(f"--shard {text}: i must be between 1 and n")
    return i, n


def in_shard(submissions: list[tuple[str, Path]], shard: tuple[int, int]) -> list[tuple[str, Path]]:
    """The submissions of the i-th of n shares of the students (names dealt round-robin; a student stays whole)."""
    i, n = shard
    students = sorted({student for student, _ in submissions})
    mine = set(students[i - 1 :: n])
    return [(student, path) for student, path in submissions if student in mine]


def summary_line(result: NotebookResult) -> str:
    """The line printed when a notebook is graded."""
    total = len(CATALOG.get(result.lesson, []))
    line = f"{result.student}/{result.path.name}: {result.points}/{total} checks passed in {result.seconds:.1f}s"
    return line + (f" [{result.error}]" if result.error else "")


def run_pending(pending: list[tuple[str, Path]], timeout: float, jobs: int, on_done: Callable) -> None:
    """Grade `pending` (student, path) pairs, `jobs` at a time, calling `on_done(result)` as each one finishes."""
    pristine, threads = verdicts.Pristine.load(), max(1, cores() // jobs)
    if jobs == 1:
        for student, path in pending:
            on_done(grade_notebook(student, path, timeout, pristine, threads))
        return
    context = multiprocessing.get_context("spawn")  # fresh workers: nothing of this process's threads is copied
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        running: set[Future] = {
            pool.submit(grade_notebook, student, path, timeout, pristine, threads) for student, path in pending
        }
        try:
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    on_done(future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def grade_all(
    root: str | Path,
    timeout: float = 600,
    report: Callable[[str], None] = print,
    jobs: int = 1,
    results_file: Path | None = None,
    regrade: bool = False,
    shard: str | None = None,
) -> list[NotebookResult]:
    """Grade every notebook under `root` (or one shard of students), `jobs` at a time, resuming from `results_file`."""
    root = Path(root)
    if jobs < 1:
        raise TLCourseError(f"--jobs {jobs}: give 1 or more notebooks to run at once")
    todo = in_shard(find_submissions(root), parse_shard(shard))
    done = load_results(results_file, root) if results_file and not regrade else {}
    graded, pending, digests = {}, [], {}
    for student, path in todo:
        rel, digests[path] = path.relative_to(root).as_posix(), content_digest(path)
        if rel in done and done[rel][1] == digests[path]:
            graded[path] = done[rel][0]
        else:
            pending.append((student, path))
    threads = max(1, cores() // jobs)
    skipped = f"; {len(graded)} already graded in {results_file} (--regrade grades them again)" if graded else ""
    report(f"grading {len(pending)} notebook(s), {jobs} at a time, {threads} thread(s) per kernel{skipped}")
    installed = tamper.package_digest()

    def on_done(result: NotebookResult) -> None:
        graded[result.path] = result
        if results_file:
            append_result(results_file, to_json(result, root, digests[result.path]))
        report(summary_line(result))
        if tamper.package_digest() != installed:
            raise TamperedInstallError(
                f"the installed tlcourse files in {tamper.PACKAGE_DIR} changed while {result.student}/"
                f"{result.path.name} ran (with --jobs, or a notebook beside it): reinstall the course, "
                "then grade in a container or a throwaway account"
            )

    run_pending(pending, timeout, jobs, on_done)
    return [graded[path] for _, path in todo]


def merge(files: list[Path]) -> list[NotebookResult]:
    """The results of several shards' results files, as one list (a notebook graded twice: the later file wins)."""
    merged: dict[tuple[str, str], NotebookResult] = {}
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no results file (each shard writes <out>.jsonl beside its <out>.csv)")
        for rel, (result, _) in load_results(path, Path(".")).items():
            merged[(result.student, rel)] = result
    return [merged[key] for key in sorted(merged)]
