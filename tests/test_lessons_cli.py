"""`tlcourse lessons` and `tlcourse lab`: lessons copied out of the installed course, a learner's changes never lost,
JupyterLab's command; the wheel's package list and the data folder of a pip install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tlcourse import cli, lessons, paths

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    """A stand-in for the installed course's lessons: two small notebooks the tests can change as a release would."""
    folder = tmp_path / "packaged"
    folder.mkdir()
    for name in ("00_welcome.ipynb", "01_pretraining.ipynb"):
        (folder / name).write_text(f'{{"lesson": "{name}", "release": 1}}\n', encoding="utf-8")
    monkeypatch.setattr(lessons, "packaged_dir", lambda: folder)
    return folder


def test_lessons_are_copied_and_the_next_command_is_named(packaged, tmp_path, capsys):
    target = tmp_path / "mine"
    assert cli.main(["lessons", str(target)]) == 0
    out = capsys.readouterr().out
    assert (target / "00_welcome.ipynb").read_bytes() == (packaged / "00_welcome.ipynb").read_bytes()
    assert "2 lesson(s) copied" in out and f"Next: tlcourse lab {target}" in out


def test_a_changed_lesson_is_never_overwritten(packaged, tmp_path, capsys):
    target = tmp_path / "mine"
    cli.main(["lessons", str(target)])
    (target / "00_welcome.ipynb").write_text("my answers", encoding="utf-8")
    (packaged / "00_welcome.ipynb").write_text('{"release": 2}', encoding="utf-8")
    for argv in (["lessons", str(target)], ["lessons", str(target), "--update"]):
        assert cli.main(argv) == 0
        assert (target / "00_welcome.ipynb").read_text(encoding="utf-8") == "my answers"
    assert "changed by you, kept as they are" in capsys.readouterr().out


def test_update_refreshes_unchanged_lessons_and_brings_new_ones(packaged, tmp_path, capsys):
    target = tmp_path / "mine"
    cli.main(["lessons", str(target)])
    (target / "00_welcome.ipynb").write_text("my answers", encoding="utf-8")
    (packaged / "01_pretraining.ipynb").write_text('{"release": 2}', encoding="utf-8")
    (packaged / "02_feature_extraction.ipynb").write_text('{"new": true}', encoding="utf-8")
    capsys.readouterr()
    cli.main(["lessons", str(target)])  # without --update: the new lesson only; the older one is named
    out = capsys.readouterr().out
    assert (target / "02_feature_extraction.ipynb").is_file()
    assert "older than this release, unchanged by you: 01_pretraining.ipynb" in out and "--update" in out
    assert (target / "01_pretraining.ipynb").read_text(encoding="utf-8") != '{"release": 2}'
    cli.main(["lessons", str(target), "--update"])
    out = capsys.readouterr().out
    assert (target / "01_pretraining.ipynb").read_text(encoding="utf-8") == '{"release": 2}'
    assert "refreshed (you had not changed them): 01_pretraining.ipynb" in out
    assert "changed by you, kept as they are" in out and "00_welcome.ipynb" in out


def test_a_lesson_there_before_any_record_counts_as_the_learners(packaged, tmp_path):
    """No record of what was copied (a folder made by hand): only a copy identical to the packaged one is ours."""
    target = tmp_path / "mine"
    target.mkdir()
    (target / "00_welcome.ipynb").write_text("copied long ago, then edited", encoding="utf-8")
    report = lessons.copy_lessons(target, update=True)
    assert report.kept == ["00_welcome.ipynb"] and report.copied == ["01_pretraining.ipynb"]
    assert (target / "00_welcome.ipynb").read_text(encoding="utf-8") == "copied long ago, then edited"


def test_lab_command_opens_the_first_lesson_with_the_course_python(tmp_path):
    (tmp_path / "00_welcome.ipynb").write_text("{}", encoding="utf-8")
    assert lessons.lab_command(tmp_path, is_root=False) == [sys.executable, "-m", "jupyterlab", "00_welcome.ipynb"]
    assert "--allow-root" in lessons.lab_command(tmp_path, is_root=True)
    assert lessons.lab_command(tmp_path / "empty", is_root=False)[-1] == "jupyterlab"


def test_lab_copies_the_lessons_first_then_runs_jupyter_there(packaged, tmp_path, monkeypatch, capsys):
    """JupyterLab runs in the lessons folder; a Ctrl-C does not kill it (Jupyter asks first), we wait until it stops."""
    import subprocess

    class Jupyter:
        """A stand-in for JupyterLab's process: the learner presses Ctrl-C once, then confirms the shutdown."""

        def __init__(self, command, cwd):
            self.command, self.cwd, self.waits = command, cwd, 0
            started.append(self)

        def wait(self):
            self.waits += 1
            if self.waits == 1:
                raise KeyboardInterrupt
            return 0

    started: list[Jupyter] = []
    monkeypatch.setattr(subprocess, "Popen", Jupyter)
    target = tmp_path / "mine"
    assert cli.main(["lab", str(target)]) == 0
    assert (target / "01_pretraining.ipynb").is_file()
    [jupyter] = started
    assert jupyter.cwd == target and jupyter.command[1:3] == ["-m", "jupyterlab"]
    assert jupyter.command[-1] == "00_welcome.ipynb" and jupyter.waits == 2
    assert "Next:" not in capsys.readouterr().out  # lab goes on to the next step itself


def test_the_checkout_reads_its_own_notebooks():
    """An editable install has no tlcourse/notebooks/: the lessons are the repository's notebooks/ folder."""
    names = [p.name for p in lessons.packaged_lessons()]
    assert names == sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert names[0].startswith("00")


def test_the_wheel_lists_every_package():
    """pyproject.toml lists the packages (a find directive cannot map notebooks/ into the wheel): none forgotten."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "tlcourse").rglob("__init__.py")}
    assert on_disk | {"tlcourse.manifests", "tlcourse.notebooks"} == set(config["packages"])
    assert config["package-dir"] == {"tlcourse.notebooks": "notebooks"}


def test_a_pip_install_keeps_its_data_out_of_site_packages(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.DATA_ENV_VAR, raising=False)
    assert paths.data_root() == REPO / "data"  # the checkout
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site-packages")
    assert paths.data_root() == Path("~/tlcourse-data").expanduser()
    monkeypatch.setenv(paths.DATA_ENV_VAR, str(tmp_path / "d"))
    assert paths.data_root() == tmp_path / "d"
