"""tools/executed.py: a second client of a real kernel records outputs as a notebook front end keeps them."""

from __future__ import annotations

import nbformat
import pytest

from tools.executed import METADATA_KEY, NotebookRecorder, executed_info, fingerprint, write_executed

pytestmark = pytest.mark.slow  # real Jupyter kernels

kernel_mod = pytest.importorskip("nbval.kernel", reason="nbval not installed: pip install -e '.[test]'")

CELLS = [
    "print('one')\nprint('two')",
    "from IPython.display import display\nh = display('first', display_id=True)\nh.update('last')",
    "import sys\nfor i in range(3):\n    print(f'\\rstep {i}', end='')\nprint()\n40 + 2",
    "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('kept')",
    "1 / 0",
    "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])[0].figure;  # hushed",
    "6 * 7  # a value shown",
]


@pytest.fixture
def notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A title")])
    nb.cells += [nbformat.v4.new_code_cell(c) for c in CELLS]
    path = tmp_path / "00_tiny.ipynb"
    nbformat.write(nb, path)
    return path, nb


def test_recorder_keeps_what_a_front_end_shows(notebook):
    path, nb = notebook
    kernel = kernel_mod.RunningKernel("python3", cwd=str(path.parent))
    try:
        recorder = NotebookRecorder(kernel.km, path)
        for i, source in enumerate(CELLS):
            msg_id = kernel.execute_cell_input(source, allow_stdin=False)
            kernel.await_reply(msg_id, timeout=60)
            recorder.record_cell(i, 0.01)
        recorder.close()
    finally:
        kernel.stop()
    assert recorder.complete
    executed = recorder.notebook(nb)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert code[0].outputs[0].text == "one\ntwo\n"  # one stream, merged
    assert code[1].outputs[0].data["text/plain"] == "'last'"  # the display's update applied
    assert code[2].outputs[0].text == "step 2\n"  # carriage returns overwrite, as in a terminal
    assert code[2].outputs[1].data["text/plain"] == "42"
    assert code[3].outputs[0].text == "kept\n"  # clear_output applied
    assert code[4].outputs[0].ename == "ZeroDivisionError"
    assert [o.output_type for o in code[5].outputs] == ["display_data"]  # the figure once: `;` hides the value
    assert code[6].outputs[0].data["text/plain"] == "42"
    assert [c.execution_count for c in code] == [1, 2, 3, 4, 5, 6, 7]
    assert all("iopub.execute_input" in c.metadata.execution for c in code)
    run = executed.metadata[METADATA_KEY]
    assert run["seconds"] > 0 and len(run["cell_seconds"]) == len(CELLS) and run["fingerprint"] == fingerprint(path)
    write_executed(executed, path.parent / "out" / path.name)
    assert executed_info(path.parent / "out" / path.name)["fingerprint"] == fingerprint(path)


def test_fingerprint_follows_the_cells_not_the_outputs(notebook):
    path, nb = notebook
    before = fingerprint(path)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="an old output")]
    nbformat.write(nb, path)
    assert fingerprint(path) == before
    nb.cells[1].source += "\nprint('three')"
    nbformat.write(nb, path)
    assert fingerprint(path)["notebook"] != before["notebook"]
    assert fingerprint(path)["package"] == before["package"]
