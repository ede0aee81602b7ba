"""Progress bars: in a notebook a finished bar leaves plain text, never a widget that cannot be shown when reopened."""

import nbformat
from nbclient import NotebookClient

from tlcourse import progress

WIDGET = "application/vnd.jupyter.widget-view+json"


def test_outside_a_notebook_it_is_tqdms_text_bar():
    assert progress.tqdm is not progress.NotebookBar
    assert list(progress.tqdm(range(3), disable=True)) == [0, 1, 2]


def test_in_a_notebook_finished_bars_become_text(tmp_path):
    cells = [
        "from tlcourse.progress import tqdm\nfor _ in tqdm(range(3), desc='epochs'):\n    pass",
        "for _ in tqdm(range(4), desc='batches', leave=False):\n    pass\nprint('done')",
        "bar = tqdm(total=5, desc='stopped early')\nbar.update(2)\nbar.close()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [cell.outputs for cell in nb.cells]
    assert not [o for outs in outputs for o in outs if WIDGET in o.get("data", {})], outputs
    texts = [[o.get("data", {}).get("text/plain", o.get("text", "")) for o in outs] for outs in outputs]
    assert len(texts[0]) == 1 and "epochs: 100%" in texts[0][0] and "3/3" in texts[0][0]
    assert "".join(texts[1]).strip() == "done", "a leave=False bar leaves nothing behind"
    assert "stopped early" in texts[2][0] and "2/5" in texts[2][0], "an unfinished bar stays readable"
