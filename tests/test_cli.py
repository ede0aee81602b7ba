"""The command line: datasets table, doctor's exit code, clear one-line errors."""

from tlcourse import cli


def test_datasets_table(capsys):
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "hymenoptera" in out and "sst2" in out and "digits" in out


def test_doctor_fails_with_fixes_when_data_missing(tmp_data, capsys):
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "tlcourse download hymenoptera" in out and "Not ready" in out


def test_doctor_passes_with_the_data(real_data, capsys):
    assert cli.main(["doctor"]) == 0, capsys.readouterr().out


def test_verify_detects_a_missing_file(tmp_data, capsys):
    assert cli.main(["verify", "hymenoptera"]) == 1
    assert "missing" in capsys.readouterr().out


def test_download_offline_error_is_one_line(tmp_data, monkeypatch, capsys):
    from tlcourse import data
    spec = data.REGISTRY["sst2"]
    monkeypatch.setitem(data.REGISTRY, "sst2", data.DatasetSpec(
        "sst2", "sst2", "", (tmp_data / "nowhere.zip").as_uri(), spec.splits, spec.kind))
    assert cli.main(["download", "sst2"]) == 2
    assert "error:" in capsys.readouterr().err


def test_student_refuses_to_overwrite(tmp_path, capsys):
    import nbformat
    src = tmp_path / "nb"
    src.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION")])
    nbformat.write(nb, src / "a.ipynb")
    assert cli.main(["student", "--source", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "NotImplementedError" in (tmp_path / "out" / "a.ipynb").read_text()
    assert cli.main(["student", "--source", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "--overwrite" in capsys.readouterr().err
