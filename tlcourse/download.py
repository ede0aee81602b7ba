"""Downloading with checksums, and extracting archives without letting them escape their folder."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tarfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from .errors import ChecksumError, UnsafeArchiveError
from .progress import tqdm

CHUNK = 1 << 20


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file (sha256, md5, ...), read in chunks so large files need little memory."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sha256_while_unchanged(path: str | os.PathLike) -> str:
    """SHA-256 of a file, remembered while its size and modification time stay the same (read once per change)."""
    stat = Path(path).stat()
    return _remembered_sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=100_000)
def _remembered_sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_digest(path, "sha256")


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file."""
    return file_digest(path, "sha256")


def download(
    url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True, checksum: str | None = None
) -> Path:
    """Fetch `url` to `dest` through a `.part` file; a checksum mismatch deletes it and raises.

    `checksum` is "<algorithm>:<hex>" (e.g. "md5:9f81...", as GLUE publishes); `sha256=<hex>` is the short form.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(url) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
            while block := response.read(CHUNK):
                out.write(block)
                bar.update(len(block))
    checksum = checksum or (f"sha256:{sha256}" if sha256 else None)
    if checksum is not None:
        _refuse_mismatch(part, url, checksum)
    os.replace(part, dest)
    return dest


def _refuse_mismatch(part: Path, url: str, checksum: str) -> None:
    """Delete the downloaded file and raise when its digest differs from the published one."""
    algorithm, expected = checksum.split(":", 1)
    actual = file_digest(part, algorithm)
    if actual != expected.lower():
        part.unlink()
        raise ChecksumError(
            f"{url} downloaded with {algorithm.upper()} {actual}, expected {expected}. The file was deleted, "
            "not used. Retry the download; if it fails again the source has changed: report it."
        )


def _check_member(name: str, dest: Path, is_link: bool = False) -> None:
    """Refuse absolute paths, `..` components and links: they could write outside `dest`."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"Archive member {name!r} would be written outside {dest}; refusing to extract.")
    if is_link:
        raise UnsafeArchiveError(f"Archive member {name!r} is a link; refusing to extract links.")


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a zip or tar archive into `dest` after checking every member name first."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member(info.filename, dest)
            zf.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member(m.name, dest, is_link=m.issym() or m.islnk())
                if not (m.isfile() or m.isdir()):
                    raise UnsafeArchiveError(f"Archive member {m.name!r} is not a plain file or folder; refusing.")
            tf.extractall(dest, members=members)
    else:
        raise UnsafeArchiveError(f"{archive} is neither a zip nor a tar archive.")
    return dest


def read_manifest(path: str | os.PathLike) -> dict[str, str]:
    """Read a `sha256sum`-format file into {relative path: digest}."""
    manifest = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            manifest[name.lstrip("*").removeprefix("./")] = digest
    return manifest


def verify_manifest(folder: str | os.PathLike, manifest: dict[str, str]) -> tuple[list[str], list[str]]:
    """Check every listed file under `folder`; return (missing, mismatched) relative paths."""
    folder = Path(folder)
    missing, bad = [], []
    for name, digest in manifest.items():
        path = folder / name
        if not path.is_file():
            missing.append(name)
        elif sha256_file(path) != digest:
            bad.append(name)
    return missing, bad


def move_into_place(src: Path, dest: Path) -> None:
    """Move a freshly extracted folder to `dest`, refusing to replace an existing one silently."""
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; remove it first (or use --force) to replace it.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), dest)
