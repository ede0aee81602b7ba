"""The `tlcourse` command: a learner's commands (lessons, lab, datasets, download, verify, doctor, train, predict,
progress), and the
classroom's (student, grade) added by `classroom.cli`. Errors print as one line naming the fix, not a traceback."""

from __future__ import annotations

import argparse
import sys

from . import data
from .classroom.cli import add_grade_parser, add_student_parser
from .errors import TLCourseError


def _human(n: float) -> str:
    """A size in bytes, as people read it (B, KB, MB or GB)."""
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def cmd_datasets(_args) -> int:
    """Print a table of every dataset: present or missing, item counts, size, where."""
    print(f"{'name':12} {'status':8} {'items':38} {'size':>9}  where")
    for spec in data.REGISTRY.values():
        counts = data.count_items(spec)
        status = "present" if counts == spec.splits else ("partial" if any(counts.values()) else "missing")
        items = " / ".join(f"{s} {n:,}" for s, n in counts.items())
        size = "bundled" if spec.kind.where_label else _human(data.folder_size(spec.path))
        print(f"{spec.name:12} {status:8} {items:38} {size:>9}  {data.where(spec)}")
    return 0


def cmd_download(args) -> int:
    """Download one dataset or all offline ones, verifying checksums."""
    names = [n for n, s in data.REGISTRY.items() if s.offline] if args.name == "all" else [args.name]
    for name in names:
        path = data.download_dataset(name, force=args.force)
        print(f"{name}: ready in {path}")
    return 0


def cmd_verify(args) -> int:
    """Check a dataset's files against the published SHA-256 manifest."""
    missing, bad = data.verify(args.name)
    for name in missing:
        print(f"missing:    {name}")
    for name in bad:
        print(f"mismatched: {name}")
    print(
        f"{args.name}: "
        + (
            "all files match"
            if not (missing or bad)
            else f"{len(missing)} missing, {len(bad)} mismatched; fix: tlcourse download {args.name} --force"
        )
    )
    return 0 if not (missing or bad) else 1


def cmd_doctor(_args) -> int:
    """Report versions, device, datasets and weights; exit 0 all ready, 1 own images only, 2 not usable."""
    from .doctor import doctor_status

    return doctor_status()


def cmd_train(args) -> int:
    """Train a classifier on one's own photos (logic in the tlcourse.recipe package)."""
    from pathlib import Path

    from .recipe import TrainConfig, train_recipe

    cfg = TrainConfig(
        data=Path(args.data) if args.data else None,
        out=Path(args.out),
        csv=Path(args.csv) if args.csv else None,
        images=Path(args.images) if args.images else None,
        backbone=args.backbone,
        fine_tune=args.fine_tune,
        val_fraction=args.val_fraction,
        seed=args.seed,
        epochs=args.epochs,
        folds=args.folds,
        groups=args.groups,
        robustness=not args.no_robustness,
        overwrite=args.overwrite,
        progress=not args.quiet,
        device=args.device,
    )
    train_recipe(cfg)
    return 0


def cmd_predict(args) -> int:
    """Print the top-k classes with probabilities for each photo."""
    from pathlib import Path

    from .recipe import predict_report

    for line in predict_report(Path(args.model), [Path(p) for p in args.photos], k=args.k, adapt_bn=args.adapt_bn):
        print(line)
    return 0


def _add_train_parsers(sub) -> None:
    """The `train` and `predict` subcommands: one's own photos."""
    from .models import KNOWN_BACKBONES

    p = sub.add_parser("train", help="train a classifier on your own photos (checks data, probe, fine-tune if it pays)")
    p.add_argument("data", nargs="?", help="folder with train/ and val/ (or class folders to split)")
    p.add_argument("--csv", help="CSV with columns file,label (instead of DATA)")
    p.add_argument("--images", help="folder of the images named in --csv (default: the CSV's folder)")
    p.add_argument("--out", required=True, help="folder for model.pt, metrics.json and figures")
    p.add_argument("--backbone", default="efficientnet_lite0", choices=KNOWN_BACKBONES)
    p.add_argument(
        "--fine-tune",
        default="auto",
        choices=["none", "top", "auto"],
        help="auto: cross-validate the probe and the fine-tuned top stage on the training photos and keep "
        "fine-tuning only if it wins by more than the noise (2 standard errors of the fold differences); "
        "the val photos only measure the kept model",
    )
    p.add_argument(
        "--folds", type=int, default=5, help="cross-validation folds on the training photos for --fine-tune auto"
    )
    p.add_argument(
        "--groups",
        help="keep each subject's photos together (in one fold, on one side of the split): a column of --csv, or a "
        "regular expression on file names whose first group names the subject, e.g. '^(\\w+)_'",
    )
    p.add_argument(
        "--no-robustness",
        action="store_true",
        help="skip the robustness report (the kept model under shifts, AdaBN) and adapt_bn.pt",
    )
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of photos for validation when splitting")
    p.add_argument(
        "--epochs",
        type=int,
        default=10,
        help="most fine-tuning epochs (early stopping on 20%% of the training photos, held out of the fit)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("predict", help="top-k classes of photos with a model from `tlcourse train`")
    p.add_argument("model", help="model.pt written by tlcourse train")
    p.add_argument("photos", nargs="+")
    p.add_argument("-k", type=int, default=3, help="how many classes to show per photo")
    p.add_argument(
        "--adapt-bn",
        action="store_true",
        help="re-estimate BatchNorm statistics on these photos (at least 16 from one new source, a mix of classes as "
        "in training) and classify them with the AdaBN head in adapt_bn.pt; says how far their statistics are from "
        "the training photos'",
    )
    p.set_defaults(func=cmd_predict)


def cmd_progress(args) -> int:
    """Print the learner's progress: a row per lesson (from the local logbook), and the next lesson to do."""
    from .checks.logbook import enabled, logbook_path, progress

    print(progress(args.lesson))
    where = f"recorded in {logbook_path()}"
    print(where if enabled() else f"{where}; recording is off (TLCOURSE_PROGRESS=0)")
    return 0


def cmd_lessons(args) -> int:
    """Copy the lessons out of the installed course into a folder, never overwriting one the learner changed."""
    from pathlib import Path

    from .lessons import copy_lessons

    report = copy_lessons(Path(args.dir), update=args.update)
    print("\n".join(report.lines(update=args.update)))
    return 0


def cmd_lab(args) -> int:
    """Open JupyterLab in a lessons folder, copying the lessons there first when it has none."""
    from pathlib import Path

    from .lessons import copy_lessons, has_lessons, lab_command, run_lab

    folder = Path(args.dir)
    if not has_lessons(folder):
        print("\n".join(copy_lessons(folder).lines(update=False)[:-1]))
    command = lab_command(folder)
    print(f"in {folder}: {' '.join(command)}", flush=True)
    return run_lab(command, folder)


def _add_lesson_parsers(sub) -> None:
    """The `lessons` and `lab` subcommands: the notebooks out of the installed course, and JupyterLab on them."""
    from .lessons import DEFAULT_DIR

    what = f"copy the lesson notebooks into DIR (default: ./{DEFAULT_DIR}); a lesson you changed is never overwritten"
    p = sub.add_parser("lessons", help=what, description=what)
    p.add_argument("dir", nargs="?", default=DEFAULT_DIR, metavar="DIR", help=f"default: ./{DEFAULT_DIR}")
    p.add_argument(
        "--update",
        action="store_true",
        help="also replace lessons you did not change with this release's version; lists the ones you changed (kept)",
    )
    p.set_defaults(func=cmd_lessons)
    what = f"open JupyterLab in DIR (default: ./{DEFAULT_DIR}), copying the lessons there first if it has none"
    p = sub.add_parser("lab", help=what, description=what)
    p.add_argument("dir", nargs="?", default=DEFAULT_DIR, metavar="DIR", help=f"default: ./{DEFAULT_DIR}")
    p.set_defaults(func=cmd_lab)


def build_parser() -> argparse.ArgumentParser:
    """The `tlcourse` argument parser: every subcommand, each with its options."""
    parser = argparse.ArgumentParser(prog="tlcourse", description="Helpers for the tlcourse transfer-learning course.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_lesson_parsers(sub)
    sub.add_parser("datasets", help="list datasets and whether they are present").set_defaults(func=cmd_datasets)
    p = sub.add_parser("download", help="download a dataset (or 'all') with checksum verification")
    p.add_argument("name", choices=[*data.REGISTRY, "all"])
    p.add_argument("--force", action="store_true", help="replace an existing copy")
    p.set_defaults(func=cmd_download)
    p = sub.add_parser("verify", help="check a dataset's files against published checksums")
    p.add_argument("name", choices=list(data.REGISTRY))
    p.set_defaults(func=cmd_verify)
    sub.add_parser(
        "doctor", help="check this machine: exit 0 all ready, 1 own images only (lessons' data missing), 2 not usable"
    ).set_defaults(func=cmd_doctor)
    add_student_parser(sub)
    _add_train_parsers(sub)
    add_grade_parser(sub)
    p = sub.add_parser("progress", help="your exercises so far, lesson by lesson, and the next lesson to do")
    p.add_argument("--lesson", help="one lesson only, by number (e.g. 03)")
    p.set_defaults(func=cmd_progress)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tlcourse` console script; errors print as one clear line, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (TLCourseError, FileExistsError, FileNotFoundError, KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. no network for a download
        print(f"error: {err}. Are you offline? Copy a prepared data/ folder instead (see README).", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
