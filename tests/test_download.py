"""Downloads from local file:// URLs (no network), checksums, and archive safety."""

import io
import tarfile
import zipfile

import pytest

from tlcourse import data
from tlcourse import download as dl
from tlcourse.errors import ChecksumError, DatasetMissingError, UnsafeArchiveError
from tlcourse.kinds import ImageFolderWithManifest, TextTable


def test_download_file_url_with_checksum(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello course" * 1000)
    out = dl.download(src.as_uri(), tmp_path / "out" / "file.bin", sha256=dl.sha256_file(src), progress=False)
    assert out.read_bytes() == src.read_bytes()


def test_download_checksum_mismatch_refused_and_deleted(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"tampered")
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(ChecksumError, match="expected"):
        dl.download(src.as_uri(), dest, sha256="0" * 64, progress=False)
    assert not dest.exists() and not dest.with_name("file.bin.part").exists()


def _zip_with(tmp_path, name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(name, "x")
    return archive


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/path.txt", "ok/../../escape.txt"])
def test_zip_escaping_paths_refused(tmp_path, name):
    with pytest.raises(UnsafeArchiveError):
        dl.safe_extract(_zip_with(tmp_path, name), tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_tar_escape_and_symlink_refused(tmp_path):
    for member in (tarfile.TarInfo("../escape.txt"), tarfile.TarInfo("link")):
        archive = tmp_path / "evil.tar"
        with tarfile.open(archive, "w") as tf:
            if member.name == "link":
                member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(member)
            else:
                member.size = 1
                tf.addfile(member, io.BytesIO(b"x"))
        with pytest.raises(UnsafeArchiveError):
            dl.safe_extract(archive, tmp_path / "dest")


def test_safe_zip_extracts(tmp_path):
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("folder/a.txt", "a")
    dl.safe_extract(archive, tmp_path / "dest")
    assert (tmp_path / "dest/folder/a.txt").read_text() == "a"


def test_missing_dataset_error_names_dataset_folder_and_fix(tmp_data):
    with pytest.raises(DatasetMissingError) as err:
        data.load_dataset("hymenoptera", "train")
    message = str(err.value)
    assert "'hymenoptera'" in message and str(tmp_data / "hymenoptera_data") in message
    assert "tlcourse download hymenoptera" in message and "https://download.pytorch.org" in message
    # In Jupyter the learner sees this one line instead of a traceback wall
    assert err.value._render_traceback_()[0].endswith(message)


def _fake_hymenoptera_zip(tmp_path, corrupt=False):
    """A tiny zip laid out like hymenoptera_data.zip, plus a manifest of its files."""
    from tests.conftest import make_image

    src = tmp_path / "build" / "hymenoptera_data"
    files = [
        make_image(src / split / cls / f"{i}.jpg")
        for split in ("train", "val")
        for cls in ("ants", "bees")
        for i in range(2)
    ]
    manifest = tmp_path / "fake.sha256"
    manifest.write_text("".join(f"{dl.sha256_file(f)}  ./{f.relative_to(src).as_posix()}\n" for f in files))
    if corrupt:
        files[0].write_bytes(files[0].read_bytes()[:-10] + b"0123456789")
    archive = tmp_path / "hymenoptera_data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in files:
            zf.write(f, f"hymenoptera_data/{f.relative_to(src).as_posix()}")
    return archive, manifest


@pytest.mark.parametrize("corrupt", [False, True])
def test_download_dataset_from_file_url_checks_manifest(tmp_path, tmp_data, monkeypatch, corrupt):
    archive, manifest = _fake_hymenoptera_zip(tmp_path, corrupt)
    spec = data.REGISTRY["hymenoptera"]
    fake = data.DatasetSpec(
        spec.name,
        spec.folder,
        spec.description,
        archive.as_uri(),
        {"train": 4, "val": 4},
        ImageFolderWithManifest(str(manifest)),
        archive_subfolder="hymenoptera_data",
    )
    monkeypatch.setitem(data.REGISTRY, "hymenoptera", fake)
    if corrupt:
        with pytest.raises(ChecksumError, match="mismatched"):
            data.download_dataset("hymenoptera", progress=False)
        assert not (tmp_data / "hymenoptera_data").exists()  # nothing half-installed
    else:
        path = data.download_dataset("hymenoptera", progress=False)
        assert data.count_items(fake) == {"train": 4, "val": 4} and path == tmp_data / "hymenoptera_data"


def test_archive_checksum_mismatch_deletes_archive(tmp_path, tmp_data, monkeypatch):
    archive, _ = _fake_hymenoptera_zip(tmp_path)
    fake = data.DatasetSpec(
        "sst2",
        "sst2",
        "",
        archive.as_uri(),
        {"train": 1},
        TextTable(("neg", "pos")),
        archive_checksum="md5:" + "0" * 32,
    )
    monkeypatch.setitem(data.REGISTRY, "sst2", fake)
    with pytest.raises(ChecksumError, match="MD5"):
        data.download_dataset("sst2", progress=False)
    assert not (tmp_data / "sst2").exists()
