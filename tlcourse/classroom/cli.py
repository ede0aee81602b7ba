"""The classroom's subcommands of `tlcourse` (the command itself: `tlcourse.cli`): `student` writes the student
versions of the lessons (or their nbgrader metadata), `grade` grades a class's submitted notebooks."""

from __future__ import annotations

from pathlib import Path


def cmd_student(args) -> int:
    """Write student versions of the lesson notebooks, or (--nbgrader-metadata) mark the lessons for nbgrader."""
    if args.nbgrader_metadata:
        from .metadata import write_nbgrader_metadata

        changed = write_nbgrader_metadata(args.source)
        for path in changed:
            print(f"updated nbgrader metadata in {path}")
        print(f"{len(changed)} notebook(s) changed; the others were already up to date.")
        return 0
    from .student import make_student_notebooks

    for path in make_student_notebooks(args.source, args.out, overwrite=args.overwrite):
        print(f"wrote {path}")
    return 0


def cmd_grade(args) -> int:
    """Run every submitted notebook (or merge shards' results), then write the grades CSV and feedback files."""
    from .gradebook import write_csv, write_feedback
    from .jobs import grade_all, merge

    if args.merge:
        results = merge(args.merge)
    elif args.submissions is None:
        raise ValueError("give the SUBMISSIONS folder (or --merge the results files of several shards)")
    else:
        results_file = args.out.with_suffix(".jsonl")
        results_file.parent.mkdir(parents=True, exist_ok=True)
        results = grade_all(
            args.submissions,
            args.timeout,
            jobs=args.jobs,
            results_file=results_file,
            regrade=args.regrade,
            shard=args.shard,
        )
        print(f"results kept in {results_file} (a rerun skips what is there)")
    if args.include_questions:  # read from the notebooks each time: cheap, and graded results stay as they were
        add_questions(results)
    print(f"wrote {write_csv(results, args.out)}")
    feedback = args.feedback or args.out.with_name(args.out.stem + "_feedback")
    print(f"wrote {len(write_feedback(results, feedback))} feedback file(s) to {feedback}/")
    return 0


def add_questions(results: list) -> None:
    """Add each notebook's concept questions to its outcomes, read as plain data from the file (`answers`)."""
    from ..questions import lessons
    from .answers import from_file

    for result in results:
        if result.lesson in lessons():
            result.outcomes.update(from_file(result.path, result.lesson))


def add_student_parser(sub) -> None:
    """`tlcourse student`, added to the command's subcommands (`tlcourse.cli.build_parser`)."""
    p = sub.add_parser("student", help="write student notebooks with solutions stubbed out")
    p.add_argument("--source", default="notebooks")
    p.add_argument("--out", default="student")
    p.add_argument("--overwrite", action="store_true", help="replace existing student notebooks")
    p.add_argument(
        "--nbgrader-metadata",
        action="store_true",
        help="instead: split check cells off and rewrite the nbgrader metadata of --source in place",
    )
    p.set_defaults(func=cmd_student)


def add_grade_parser(sub) -> None:
    """`tlcourse grade`, added to the command's subcommands (`tlcourse.cli.build_parser`)."""
    p = sub.add_parser("grade", help="run submitted notebooks (SUBMISSIONS/<student>/<NN_lesson>.ipynb) and grade them")
    p.add_argument("submissions", type=Path, nargs="?", help="folder with one sub-folder per student")
    p.add_argument("--out", type=Path, default=Path("grades.csv"), help="the grades table (default grades.csv)")
    p.add_argument("--feedback", type=Path, help="folder for <student>.md feedback (default <out>_feedback/)")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per notebook (default 600)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks run at once (threads per kernel: cores // jobs)")
    p.add_argument("--regrade", action="store_true", help="grade again the notebooks already in <out>.jsonl")
    p.add_argument("--shard", help="i/n: grade only the i-th of n shares of the students (one machine of n)")
    p.add_argument("--merge", type=Path, nargs="+", help="instead: join the <out>.jsonl results of several shards")
    p.add_argument(
        "--include-questions",
        action="store_true",
        help="also grade the concept questions: the answers= handed in to each lesson's questions.ask(...), read as "
        "plain data (questions that depend on the run are left out)",
    )
    p.set_defaults(func=cmd_grade)
