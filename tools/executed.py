"""Executed copies of the lessons: what one run of the notebooks under nbval leaves behind, for the course site.

`make test` runs every lesson top to bottom under nbval (`pytest --nbval-lax notebooks`). The repository's
conftest.py plugs a `NotebookRecorder` into that run: a second client of each lesson's kernel (as a second
JupyterLab tab would be) that listens to everything the kernel broadcasts, so it sees each cell's outputs as a
notebook front end keeps them: a live plot's updates and a finished progress bar's text line included, which nbval
itself does not apply. When every code cell of a lesson has run, the lesson is written to `build/executed/` with
its outputs, each cell's timestamps (`metadata.execution`, as nbclient records them) and, in the notebook's
metadata, the lesson's wall-clock seconds, the machine and a fingerprint of the code it ran. `make site` renders
those copies, so the site shows the outputs of the very run the tests checked, and no lesson runs twice.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from queue import Empty

import nbformat
from IPython.core.displayhook import DisplayHook
from IPython.core.inputtransformer2 import TransformerManager
from jupyter_client.session import Session

METADATA_KEY = "tlcourse_executed"
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}
PACKAGE = Path(__file__).resolve().parent.parent / "tlcourse"  # what the lessons import (these tools are outside it)


def fingerprint(notebook: Path, package: Path | None = None) -> dict:
    """Hashes of what a lesson's outputs depend on: its cells' sources, and the tlcourse files lessons import."""
    cells = hashlib.sha256()
    for cell in nbformat.read(notebook, as_version=4).cells:
        cells.update(f"{cell.cell_type}\0{cell.source}\0".encode())
    code = hashlib.sha256()
    package = package or PACKAGE
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".json", ".sha256"}:
            code.update(f"{path.relative_to(package)}\0".encode() + path.read_bytes())
    return {"notebook": cells.hexdigest()[:16], "package": code.hexdigest()[:16]}


def executed_info(path: Path) -> dict | None:
    """The run recorded in an executed copy (seconds, machine, fingerprint), or None if it has none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["metadata"].get(METADATA_KEY)
    except (OSError, ValueError, KeyError):
        return None


def _iso(header: dict) -> str:
    date = header.get("date")
    return date.isoformat() if isinstance(date, datetime) else str(date)


@dataclass
class CellRecord:
    """One code cell as a front end keeps it: outputs in order, display ids to update, timestamps, seconds."""

    outputs: list = field(default_factory=list)
    execution_count: int | None = None
    execution: dict = field(default_factory=dict)
    seconds: float = 0.0
    clear_pending: bool = False


class NotebookRecorder:
    """Listens to one lesson's kernel on a client of its own and builds the executed notebook, cell by cell."""

    def __init__(self, kernel_manager, notebook_path: Path) -> None:
        self.path = notebook_path
        self.started = time.perf_counter()
        # A session of its own: sharing the test's would route the kernel's replies to this client instead.
        session = Session(key=kernel_manager.session.key, signature_scheme=kernel_manager.session.signature_scheme)
        self.client = kernel_manager.client(session=session)
        self.client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        self.cells: dict[int, CellRecord] = {}
        self.displays: dict[str, list[dict]] = {}  # display_id -> the outputs it names (any cell)
        self.complete = True
        self.fingerprint = fingerprint(notebook_path)  # the code as the kernel starts, before the cells import it
        self._wait_for_iopub()

    def _wait_for_iopub(self, tries: int = 30) -> None:
        """Ask for kernel info until this client's own request shows on iopub: from then on it misses nothing."""
        for _ in range(tries):
            msg_id = self.client.kernel_info()
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                try:
                    msg = self.client.get_iopub_msg(timeout=0.2)
                except Empty:
                    continue
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status":
                    return
        raise RuntimeError(f"could not listen to the kernel of {self.path.name}")

    def record_cell(self, index: int, seconds: float, timeout: float = 30.0) -> None:
        """Read the kernel's messages for the cell just run, up to its 'idle', into the cell's record."""
        cell = self.cells.setdefault(index, CellRecord())
        cell.seconds = seconds
        parent = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=0.5)
            except Empty:
                continue
            kind, content, header = msg["msg_type"], msg["content"], msg["header"]
            if kind == "execute_input":
                parent = msg["parent_header"].get("msg_id")
                cell.execution_count = content.get("execution_count")
                cell.execution["iopub.execute_input"] = _iso(header)
            elif parent is None or msg["parent_header"].get("msg_id") != parent:
                continue  # this client's own replies, or messages from before the cell
            elif kind == "status" and content.get("execution_state") == "idle":
                cell.execution["iopub.status.idle"] = _iso(header)
                return
            else:
                self._apply(cell, kind, msg)
        self.complete = False  # the cell's end never showed: this copy would be incomplete

    def _apply(self, cell: CellRecord, kind: str, msg: dict) -> None:
        """Apply one message as a notebook front end does: add, update or clear outputs."""
        content = msg["content"]
        if kind == "clear_output":
            if content.get("wait"):
                cell.clear_pending = True
            else:
                cell.outputs.clear()
        elif kind == "update_display_data":
            for out in self.displays.get(content.get("transient", {}).get("display_id"), []):
                out["data"], out["metadata"] = content["data"], content.get("metadata", {})
        elif kind in OUTPUT_TYPES:
            if cell.clear_pending:
                cell.outputs.clear()
                cell.clear_pending = False
            out = nbformat.v4.output_from_msg(msg)
            cell.outputs.append(out)
            display_id = content.get("transient", {}).get("display_id")
            if display_id:
                self.displays.setdefault(display_id, []).append(out)

    def notebook(self, nb) -> nbformat.NotebookNode:
        """A copy of `nb` with the recorded outputs, counts and timestamps, and the run in its metadata."""
        nb = copy.deepcopy(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        count = 0  # nbval runs cells without storing history, so the kernel's own count stays at 1
        for index, cell in enumerate(code):
            record = self.cells.get(index, CellRecord())
            count += record.execution_count is not None
            cell.execution_count = count if record.execution_count is not None else None
            cell.outputs = _shown(_coalesce(record.outputs), cell.source)
            for out in cell.outputs:
                if out.output_type == "execute_result":
                    out.execution_count = cell.execution_count
            cell.metadata["execution"] = record.execution
        nb.metadata[METADATA_KEY] = {
            "seconds": round(time.perf_counter() - self.started, 1),
            "cell_seconds": [round(self.cells.get(i, CellRecord()).seconds, 2) for i in range(len(code))],
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            "fingerprint": self.fingerprint,
        }
        return nb

    def close(self) -> None:
        self.client.stop_channels()


def _shown(outputs: list, source: str) -> list:
    """The outputs, without the cell's value when its last line ends in `;`, as a front end shows them.

    IPython reads that `;` from its input history, and nbval runs cells without storing history, so in its run the
    kernel returns the value anyway (a figure a lesson returns with `plots.plot_filters(...);` would show twice).
    """
    cell = TransformerManager().transform_cell(source)  # the code IPython runs, magics turned into Python
    if DisplayHook.semicolon_at_end_of_expression(cell):
        return [out for out in outputs if out.output_type != "execute_result"]
    return outputs


def _coalesce(outputs: list) -> list:
    """Consecutive stream outputs of one stream merged, carriage-return overwrites applied (as a terminal shows)."""
    merged: list = []
    for out in outputs:
        last = merged[-1] if merged else None
        if out.output_type == "stream" and last is not None and last.output_type == "stream" and last.name == out.name:
            merged[-1].text += out.text
        else:
            merged.append(copy.deepcopy(out))
    for out in merged:
        if out.output_type == "stream":
            out.text = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in out.text.split("\n"))
    return merged


def write_executed(nb, target: Path) -> None:
    """Write the executed notebook atomically (a half-written copy never replaces a good one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, target)
