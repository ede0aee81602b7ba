"""tools/wheelcheck.py (`make test-wheel`): its checks on their own, without building or installing anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

from tools import wheelcheck


def _notebook(path, *sources):
    """A notebook with one code cell per source."""
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": []} for s in sources]
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    return path


def test_lesson_code_naming_repository_paths_is_caught(tmp_path):
    nb = _notebook(tmp_path / "x.ipynb", "import json\nopen('../notebooks/00_welcome.ipynb')", "x = 1")
    assert wheelcheck.repo_paths_in(nb) == ["open('../notebooks/00_welcome.ipynb')"]
    assert wheelcheck.repo_paths_in(_notebook(tmp_path / "y.ipynb", "from tlcourse import doctor")) == []


def test_the_shipped_lessons_name_no_repository_path():
    assert {p.name: wheelcheck.repo_paths_in(p) for p in sorted((wheelcheck.REPO / "notebooks").glob("*.ipynb"))} == {
        p.name: [] for p in sorted((wheelcheck.REPO / "notebooks").glob("*.ipynb"))
    }


def test_wheel_contents_lists_folders_and_size(tmp_path):
    wheel = tmp_path / "tlcourse-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("tlcourse/__init__.py", "x" * 2048)
        z.writestr("tlcourse/notebooks/00_welcome.ipynb", "{}")
    text = wheelcheck.wheel_contents(wheel)
    assert "2 files" in text and "tlcourse/notebooks" in text and "2.0 KB unpacked" in text


def test_the_guard_logs_a_read_of_the_repository_and_nothing_else(tmp_path):
    """The audit hook the new environment runs: a read under the repository is logged, one outside it is not."""
    (tmp_path / "_tlcourse_repo_guard.py").write_text(wheelcheck.GUARD, encoding="utf-8")
    repo, log = tmp_path / "repo", tmp_path / "log"
    (repo / "allowed").mkdir(parents=True)
    for name in ("tracked.txt", "allowed/dep.txt"):
        (repo / name).write_text("x", encoding="utf-8")
    code = "import _tlcourse_repo_guard; open('repo/allowed/dep.txt').read(); open('log2', 'w').close()"
    env = {
        **os.environ,
        "TLCOURSE_GUARD_REPO": str(repo),
        "TLCOURSE_GUARD_ALLOW": str(repo / "allowed"),
        "TLCOURSE_GUARD_LOG": str(log),
    }
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)
    assert not log.exists()
    code += "; open('repo/tracked.txt').read()"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)
    assert log.read_text(encoding="utf-8").strip().endswith(f"open {repo / 'tracked.txt'}")
