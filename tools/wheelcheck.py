"""`make test-wheel`: the course as a pip user gets it. Build the wheel, install it into a new virtual environment
outside the repository, copy the lessons out of it with `tlcourse lessons`, and run lessons 00 and 02 from that
folder under nbval, with the data in a folder of its own. Fails when the installed course reads the repository.

How "reads the repository" is caught: a `.pth` file in the new environment installs an audit hook (PEP 578) in every
Python process it starts (pytest and each lesson's kernel) that logs each file opened or folder listed under the
repository; any line in that log fails the check. The dependencies' environment is allowed (it is not the course).

Dependencies (`--deps`): `reuse` (default, CI) installs the wheel alone and points the new environment at the
course's own environment's site-packages with a plain path line (its `.pth` files, the editable install's finder
among them, are not run); `install` installs the wheel with its dependencies from the package index (`pip install
tlcourse-*.whl[test]`), as a learner does: gigabytes (PyTorch), minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LESSONS = ("00_welcome.ipynb", "02_feature_extraction.ipynb")
DATASETS = ("hymenoptera_data", "sst2")
# Text in a lesson's code that would only work inside the repository.
REPO_MARKERS = ("../", "notebooks/", "benchmarks/", "tests/", "tools/", "REPO_ROOT", "conftest")

GUARD = '''"""Installed by tools/wheelcheck.py: log every file opened or folder listed under the repository."""
import os, sys

def _guard(repo=os.environ.get("TLCOURSE_GUARD_REPO", ""), allowed=os.environ.get("TLCOURSE_GUARD_ALLOW", ""),
           log=os.environ.get("TLCOURSE_GUARD_LOG", "")):
    if not (repo and log):
        return
    def hook(event, args):
        if event not in ("open", "os.listdir", "os.scandir") or not args or not isinstance(args[0], (str, bytes)):
            return
        path = os.path.abspath(os.fsdecode(args[0]))
        if (path + os.sep).startswith(repo + os.sep) and not (allowed and (path + os.sep).startswith(allowed + os.sep)):
            with open(log, "a", encoding="utf-8") as f:  # the log is outside the repository: no recursion
                f.write(f"{os.getpid()} {sys.executable} {event} {path}\\n")
    sys.addaudithook(hook)

_guard()
'''


def step(name: str, command: list[str], **kwargs) -> None:
    """Run one step, print its seconds; stop with its name when it fails."""
    started = time.perf_counter()
    print(f"--- {name}: {' '.join(command)}", flush=True)
    if subprocess.call(command, **kwargs) != 0:
        sys.exit(f"test-wheel: {name} failed (command above)")
    print(f"--- {name}: {time.perf_counter() - started:.1f} s", flush=True)


def source_copy(folder: Path) -> Path:
    """The repository's files (tracked, or new and not ignored) copied into `folder`: a build there cannot pick up
    what an earlier build left in build/lib (setuptools reuses it), nor anything else git ignores."""
    listed = subprocess.check_output(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, text=True)
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, folder / name)
    return folder


def build_wheel(out: Path) -> Path:
    """Build the course's wheel into `out` from a clean copy of the sources (pip wheel, in build isolation)."""
    source = source_copy(out.parent / "src")
    step("build the wheel", [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)])
    [wheel] = out.glob("tlcourse-*.whl")
    return wheel


def wheel_contents(wheel: Path) -> str:
    """The wheel's size and what it holds, by folder."""
    with zipfile.ZipFile(wheel) as z:
        infos = z.infolist()
    folders: dict[str, list[int]] = {}
    for info in infos:
        folder = info.filename.rsplit("/", 1)[0] if "/" in info.filename else "."
        folders.setdefault(folder, [0, 0])
        folders[folder][0] += 1
        folders[folder][1] += info.file_size
    lines = [f"{wheel.name}: {wheel.stat().st_size / 1024:.0f} KB, {len(infos)} files"]
    lines += [f"  {f:40} {n:3} files {size / 1024:8.1f} KB unpacked" for f, (n, size) in sorted(folders.items())]
    return "\n".join(lines)


def site_packages(python: Path) -> Path:
    """The site-packages folder of the environment whose interpreter is `python`."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.check_output([str(python), "-c", code], text=True).strip())


def make_venv(venv: Path, wheel: Path, *, deps: str) -> Path:
    """A new environment holding the wheel (and its dependencies, see the module docstring); its Python."""
    step("create the environment", [sys.executable, "-m", "venv", str(venv)])
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if deps == "install":
        step("install the wheel and its dependencies", [str(python), "-m", "pip", "install", "-q", f"{wheel}[test]"])
    else:
        step("install the wheel", [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)])
        (site_packages(python) / "course-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    site = site_packages(python)
    (site / "_tlcourse_repo_guard.py").write_text(GUARD, encoding="utf-8")
    (site / "_tlcourse_repo_guard.pth").write_text("import _tlcourse_repo_guard\n", encoding="utf-8")
    return python


def repo_paths_in(notebook: Path) -> list[str]:
    """The lines of a lesson's code cells that name a path only the repository has."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
    return [line for line in lines if any(marker in line for marker in REPO_MARKERS)]


def data_folder(folder: Path, *, reuse_features: bool) -> Path:
    """A data folder of its own for the run: links to the datasets the course's data folder holds (the mirror's), and
    a copy of its cached features when asked (derived data: the lessons then skip most of the extraction)."""
    from tlcourse.paths import data_root  # the course environment's (a checkout's) data: the mirror's links

    folder.mkdir()
    for name in DATASETS:
        if (data_root() / name).exists():
            (folder / name).symlink_to((data_root() / name).resolve(), target_is_directory=True)
    if reuse_features and (data_root() / "cache" / "features").is_dir():
        shutil.copytree(data_root() / "cache" / "features", folder / "cache" / "features")
    return folder


def check_guard(python: Path, env: dict[str, str], log: Path) -> None:
    """The audit hook is live in the new environment: reading the repository's pyproject.toml there is logged."""
    subprocess.run([str(python), "-c", f"open({str(REPO / 'pyproject.toml')!r}).read()"], env=env, check=True)
    if not log.is_file() or "pyproject.toml" not in log.read_text(encoding="utf-8"):
        sys.exit("test-wheel: the repository guard is not active in the new environment (see tools/wheelcheck.py)")
    log.unlink()
    print("--- the repository guard is active in the new environment", flush=True)


def check_installed(python: Path, venv: Path, work: Path) -> None:
    """The course imported in the new environment is the wheel's, inside it, and carries the lessons."""
    code = (
        "import sys, tlcourse, tlcourse.lessons as l; from pathlib import Path; "
        f"f = Path(tlcourse.__file__).resolve(); assert f.is_relative_to(Path({str(venv.resolve())!r})), f; "
        f"assert not f.is_relative_to(Path({str(REPO)!r})), f; assert l.packaged_dir().is_relative_to(f.parent); "
        "print('tlcourse', tlcourse.__version__, 'from', f.parent)"
    )
    step("the course comes from the new environment", [str(python), "-c", code], cwd=work)


def main(argv: list[str] | None = None) -> int:
    """Build, install, copy the lessons, run two of them; print each step's seconds and the wheel's contents."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deps", choices=["reuse", "install"], default="reuse")
    parser.add_argument("--fresh", action="store_true", help="extract the features again (no copy of the cached ones)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="tlcourse-wheel-")).resolve()
    if tmp.is_relative_to(REPO):
        sys.exit(f"test-wheel: the temporary folder {tmp} is inside the repository; set TMPDIR elsewhere")
    wheel = build_wheel(tmp / "dist")
    print(wheel_contents(wheel))
    venv, work = tmp / "venv", tmp / "work"
    python = make_venv(venv, wheel, deps=args.deps)
    work.mkdir()
    check_installed(python, venv, work)
    lessons = work / "lessons"
    step("tlcourse lessons", [str(python.parent / "tlcourse"), "lessons", str(lessons)], cwd=work)
    found = {name: repo_paths_in(lessons / name) for name in sorted(p.name for p in lessons.glob("*.ipynb"))}
    if any(found.values()):
        sys.exit(f"test-wheel: lessons name repository paths: { {k: v for k, v in found.items() if v} }")
    log = tmp / "repo-reads.log"
    allowed = "" if args.deps == "install" else sys.prefix  # reuse: the dependencies come from the course environment
    env = {
        **os.environ,
        "TLCOURSE_DATA": str(data_folder(tmp / "data", reuse_features=not args.fresh)),
        "TLCOURSE_PROGRESS": "0",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "TLCOURSE_GUARD_REPO": str(REPO),
        "TLCOURSE_GUARD_ALLOW": str(Path(allowed).resolve()) if allowed else "",
        "TLCOURSE_GUARD_LOG": str(log),
        "PYTHONPATH": "",
    }
    check_guard(python, env, log)
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", *LESSONS]
    step(f"lessons {', '.join(LESSONS)} under nbval", command, cwd=lessons, env=env)
    if log.exists():
        sys.exit(f"test-wheel: the installed course read the repository:\n{log.read_text(encoding='utf-8')}")
    print(f"test-wheel: passed in {time.perf_counter() - started:.0f} s ({tmp}; the repository was not read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
