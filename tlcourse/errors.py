"""Errors the course raises on bad input: each names the file and the fix, with no traceback wall."""

from __future__ import annotations


class TLCourseError(Exception):
    """Base error: Jupyter shows just its message (the fix), not a wall of traceback."""

    def _render_traceback_(self) -> list[str]:
        """IPython calls this instead of printing the full traceback."""
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class DatasetMissingError(TLCourseError, FileNotFoundError):
    """A dataset is not in the data folder and cannot be fetched."""


class ChecksumError(TLCourseError, ValueError):
    """A file's SHA-256 does not match the published one."""


class UnsafeArchiveError(TLCourseError, ValueError):
    """An archive tries to write outside the folder it is extracted into."""


class WeightsUnavailableError(TLCourseError, FileNotFoundError):
    """Pretrained weights are asked for but are neither cached nor downloadable."""


class CheckpointError(TLCourseError, ValueError):
    """A checkpoint does not belong to this model or run."""


class NonFiniteLossError(TLCourseError, FloatingPointError):
    """The training loss became NaN or infinite."""


class TrainInputError(TLCourseError, ValueError):
    """The data or the options given to `tlcourse train` cannot be used as they are."""


class ImageFileError(TLCourseError, OSError):
    """An image file cannot be used (unreadable, changed since the dataset was built, too large)."""


class SplitMismatchError(TLCourseError, ValueError):
    """The splits of a dataset do not have the same class folders, so labels would not mean the same class."""


class DataFolderError(TLCourseError, FileNotFoundError):
    """A folder the data layout needs is not there."""


class TamperedInstallError(TLCourseError):
    """A submission changed the installed course files: later grades could not be trusted, so grading stops."""
