"""Teaching a class: nothing a lesson imports.

- `cli`: the classroom's subcommands of `tlcourse` (`student`, `grade`); the command itself is `tlcourse.cli`.
- `student` and `metadata`: student versions of the lessons (solutions stubbed) and their nbgrader metadata.
- `grade`, `jobs`, `gradebook`: `tlcourse grade` (one notebook; a whole class, N at a time, resumable, in shards;
  the grades table and feedback files).
- `verdicts`, `kernel_checks`, `tamper`: the grader's own verdicts (fresh copies of the checks, run in the
  submission's kernel; the code sent there as text) and tampering named.
"""
