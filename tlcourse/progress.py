"""Progress bars that leave readable text behind: in a notebook, a finished bar becomes one line of plain text.

`tqdm.auto` draws an ipywidgets bar in a notebook. Once the notebook is saved and reopened, the bar's widget model
is gone and JupyterLab shows "Error displaying widget: model not found" in its place. The bars here are shown under
a display id and, when closed, replace their widget with text: the finished bar as one line (`leave=True`), or
nothing (`leave=False`, a bar meant to vanish). Outside a notebook `tqdm` is tqdm's own text bar.
Usage: `from tlcourse.progress import tqdm`, then exactly as tqdm.
"""

from __future__ import annotations

from tqdm.auto import tqdm as _auto_tqdm
from tqdm.notebook import tqdm as _notebook_tqdm

# In a notebook, subclass the very class tqdm.auto picked (notebook + asyncio): it iterates exactly as before, so
# DataLoader iterators, and with them the random numbers they draw, are created just as with tqdm.auto.
_IN_NOTEBOOK = issubclass(_auto_tqdm, _notebook_tqdm)


class NotebookBar(_auto_tqdm if _IN_NOTEBOOK else _notebook_tqdm):  # type: ignore[misc]  # base chosen at import
    """tqdm's notebook bar, whose widget gives way to a plain-text line (or to nothing) when the bar closes."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["delay"] = 0  # shown at once, under our display id
        super().__init__(*args, display=False, **kwargs)
        self._handle = None
        if not self.disable:
            from IPython.display import display

            self._handle = display(self.container, display_id=True)
            self.displayed = True

    def summary(self) -> str:
        """The bar as one line of text, as tqdm prints it in a terminal."""
        return self.format_meter(**{**self.format_dict, "ncols": 80})

    def close(self) -> None:
        """Close the bar, then swap its widget for its text line (and free the widget's model)."""
        if self.disable or self._handle is None:
            return super().close()
        super().close()
        failed = bool(self.total and self.n < self.total)
        text = self.summary() if (self.leave or failed) else ""
        self._handle.update({"text/plain": text}, raw=True)
        self._handle = None
        self.container.close()


tqdm = NotebookBar if _IN_NOTEBOOK else _auto_tqdm
