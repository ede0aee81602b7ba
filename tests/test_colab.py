"""Each lesson's first cell (tools/colabcell.py): on Google Colab it installs this release of the course and
fetches the lesson's data; anywhere else it does nothing. Colab is simulated: a stand-in `google.colab` module, a new
environment, and local wheels in place of PyPI; IPython's own transformer turns `%pip` and `!` into the calls a
Colab kernel makes."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from tlcourse import __version__
from tools import colabcell

LESSONS = sorted(colabcell.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_starts_with_the_colab_cell_of_this_release(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code" and first.source == colabcell.cell_source(path.name[:2]), (
        f"{path.name}: its Colab cell is not this release's. Fix: python -m tools.colabcell"
    )
    assert 3 <= len(first.source.splitlines()) <= 4 and f"tlcourse=={__version__}" in first.source


class Kernel:
    """A stand-in for the IPython kernel the transformed cell calls: `%pip` runs pip of `python`, `!` runs a shell
    command with that environment's scripts first on PATH (as a Colab kernel's `%pip` and `!` do for its Python)."""

    def __init__(self, python: Path | None = None, env: dict | None = None):
        self.python, self.env, self.calls = python, env, []

    def run_line_magic(self, name: str, line: str) -> None:
        """%pip LINE: pip in the kernel's own environment."""
        self.calls.append(f"%{name} {line}")
        assert name == "pip" and self.python is not None
        subprocess.run([str(self.python), "-m", "pip", *line.split()], env=self.env, check=True)

    def system(self, command: str) -> None:
        """!COMMAND: a shell command."""
        self.calls.append(f"!{command}")
        assert self.python is not None
        subprocess.run(command, shell=True, env=self.env, check=True)


def run_cell(source: str, kernel: Kernel) -> None:
    """The cell as IPython runs it: transformed (`%pip` and `!` become calls on get_ipython()), then executed."""
    exec(TransformerManager().transform_cell(source), {"get_ipython": lambda: kernel})


def test_outside_colab_the_cell_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    for path in LESSONS:
        kernel = Kernel()
        run_cell(colabcell.cell_source(path.name[:2]), kernel)
        assert kernel.calls == [], path.name


def _stand_in_wheel(folder: Path, version: str) -> Path:
    """A tiny `tlcourse` wheel whose `tlcourse` command records its arguments in $TLCOURSE_CALLS (no dependencies)."""
    record = "open(os.environ['TLCOURSE_CALLS'], 'a').write(' '.join(sys.argv[1:]) + '\\n')"
    cli = f"import os, sys\ndef main():\n    {record}\n"
    info = f"tlcourse-{version}.dist-info"
    files = {
        "tlcourse/__init__.py": f"__version__ = {version!r}\n",
        "tlcourse/cli.py": cli,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tlcourse\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": "[console_scripts]\ntlcourse = tlcourse.cli:main\n",
    }
    digest = lambda text: base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    rows = "".join(f"{name},sha256={digest(text)},{len(text.encode())}\n" for name, text in files.items())
    wheel = folder / f"tlcourse-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in {**files, f"{info}/RECORD": rows + f"{info}/RECORD,,\n"}.items():
            z.writestr(name, text)
    return wheel


@pytest.mark.slow
def test_on_colab_the_cell_installs_this_release_and_fetches_the_lessons_data(tmp_path, monkeypatch):
    """Two lessons' cells in a new environment: the pinned release is installed (not a newer one on the index), and
    `tlcourse download` gets the lesson's data set names."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _stand_in_wheel(wheels, __version__)
    _stand_in_wheel(wheels, "99.0")  # a newer release on the index: the pin must keep this lesson's
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    calls = tmp_path / "calls.txt"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PIP_NO_INDEX": "1",  # local wheels in place of PyPI
        "PIP_FIND_LINKS": str(wheels),
        "PIP_CONSTRAINT": "",
        "PIP_EXTRA_INDEX_URL": "",
        "TLCOURSE_CALLS": str(calls),
    }
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    python = bin_dir / "python"
    for lesson, data in (("02", "hymenoptera"), ("07", "sst2")):
        kernel = Kernel(python, env)
        run_cell(colabcell.cell_source(lesson), kernel)
        assert kernel.calls == [f"%pip install -q tlcourse=={__version__}", f"!tlcourse download {data}"]
    version = subprocess.check_output([str(python), "-c", "import tlcourse; print(tlcourse.__version__)"], text=True)
    assert version.strip() == __version__
    assert calls.read_text().splitlines() == ["download hymenoptera", "download sst2"]


def test_the_cell_goes_in_once_before_the_title():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 03 · T"), nbformat.v4.new_code_cell("x")])
    assert colabcell.with_colab_cell(nb, "03") and not colabcell.with_colab_cell(nb, "03")
    assert [c.source for c in nb.cells] == [colabcell.cell_source("03"), "# 03 · T", "x"]
    assert colabcell.colab_cell_index(nb) == 0
