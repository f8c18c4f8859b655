"""Checksummed downloads, tested against an HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

import unskew.datasets
from unskew.datasets import (
    REMOTE_FILES,
    ChecksumError,
    RemoteFile,
    fetch_dataset,
    fetch_file,
    load_adult,
    load_german,
    sha256_of,
)
from unskew.exceptions import UnskewInputError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


BUNDLED_GERMAN = Path(unskew.datasets.__file__).parent / "_data" / "german.data.gz"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A loopback HTTP server serving a copy of German credit in the data-home layout."""
    for var in ("no_proxy", "NO_PROXY"):  # never route loopback through a proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    root = tmp_path / "mirror"
    (root / "german").mkdir(parents=True)
    with gzip.open(BUNDLED_GERMAN, "rb") as src, open(root / "german" / "german.data", "wb") as dst:
        shutil.copyfileobj(src, dst)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_checksums_match_the_shared_copies(data_home):
    """The stored checksums are those of the reference copies (and of the bundled German file)."""
    with gzip.open(BUNDLED_GERMAN, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == REMOTE_FILES["german"][0].sha256
    for files in REMOTE_FILES.values():
        for rf in files:
            assert sha256_of(data_home / rf.path) == rf.sha256, rf.path


def test_fetch_file_good_checksum(mirror, tmp_path):
    root, base = mirror
    dest = tmp_path / "home" / "german" / "german.data"
    sha = sha256_of(root / "german/german.data")
    assert fetch_file(f"{base}/german/german.data", dest, sha) == dest
    assert sha256_of(dest) == sha
    assert _leftovers(dest.parent) == [dest]


def test_fetch_file_bad_checksum_leaves_nothing(mirror, tmp_path):
    _, base = mirror
    dest = tmp_path / "home" / "german" / "german.data"
    with pytest.raises(ChecksumError, match="Checksum mismatch") as err:
        fetch_file(f"{base}/german/german.data", dest, "0" * 64)
    assert isinstance(err.value, UnskewInputError)
    assert not dest.exists()
    assert _leftovers(tmp_path / "home") == []


def test_fetch_file_corrupted_mirror_keeps_existing_file(mirror, tmp_path):
    root, base = mirror
    good = sha256_of(root / "german/german.data")
    dest = tmp_path / "home" / "german.data"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"old contents")
    (root / "german/german.data").write_bytes(b"tampered")
    with pytest.raises(ChecksumError):
        fetch_file(f"{base}/german/german.data", dest, good)
    assert dest.read_bytes() == b"old contents"
    assert _leftovers(dest.parent) == [dest]


def test_fetch_file_http_error_and_bad_scheme(mirror, tmp_path):
    _, base = mirror
    dest = tmp_path / "home" / "x.bin"
    with pytest.raises(UnskewInputError, match="Could not download .*missing.bin"):
        fetch_file(f"{base}/missing.bin", dest, "0" * 64)
    assert _leftovers(tmp_path / "home") == []
    with pytest.raises(UnskewInputError, match="only http"):
        fetch_file("ftp://example.org/x", dest, None)


def test_verified_file_is_not_downloaded_again(mirror, tmp_path):
    root, base = mirror
    dest = tmp_path / "home" / "german.data"
    sha = sha256_of(root / "german/german.data")
    fetch_file(f"{base}/german/german.data", dest, sha)
    (root / "german/german.data").unlink()  # the server can no longer serve it
    assert fetch_file(f"{base}/german/german.data", dest, sha) == dest
    with pytest.raises(UnskewInputError):
        fetch_file(f"{base}/german/german.data", dest, sha, force=True)
    assert sha256_of(dest) == sha


def test_download_true_uses_the_mirror_from_env(mirror, tmp_path, monkeypatch, data_home):
    root, base = mirror
    for rel in ("adult/adult.data.gz", "adult/adult.test.gz"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_home / rel, root / rel)
    home = tmp_path / "home"
    monkeypatch.setenv("UNSKEW_DATASETS_URL", base)
    monkeypatch.setenv("UNSKEW_DATA_HOME", str(home))
    with pytest.raises(UnskewInputError, match="download=True"):
        load_adult()
    assert len(load_adult("test", download=True)) == 16281
    assert [p.name for p in _leftovers(home)] == ["adult.test.gz"]  # only what was needed
    df = load_adult(download=True)
    assert len(df) == 48842
    assert sorted(p.name for p in _leftovers(home)) == ["adult.data.gz", "adult.test.gz"]
    g = load_german(download=True)
    assert g.attrs["source"] == str(home / "german" / "german.data")


def test_upstream_urls_are_saved_uncompressed(mirror, tmp_path, monkeypatch):
    """Without a mirror the upstream URL and checksum of each file are used."""
    root, base = mirror
    monkeypatch.delenv("UNSKEW_DATASETS_URL", raising=False)
    raw = root / "upstream" / "german.data"
    raw.parent.mkdir()
    shutil.copyfile(root / "german/german.data", raw)
    real = REMOTE_FILES["german"][0]
    monkeypatch.setitem(
        REMOTE_FILES,
        "german",
        (RemoteFile(real.path, real.sha256, f"{base}/upstream/german.data", "german/up.data", real.upstream_sha256),),
    )
    home = tmp_path / "home"
    paths = fetch_dataset("german", data_home=home)
    assert paths == [home / "german" / "up.data"]
    assert sha256_of(paths[0]) == real.upstream_sha256
    monkeypatch.setitem(
        REMOTE_FILES,
        "german",
        (RemoteFile(real.path, real.sha256, f"{base}/upstream/german.data", "german/up2.data", "f" * 64),),
    )
    with pytest.raises(ChecksumError):
        fetch_dataset("german", data_home=home)
    assert not (home / "german" / "up2.data").exists()
    with pytest.raises(UnskewInputError, match="Unknown dataset"):
        fetch_dataset("imagenet", data_home=home)
    with pytest.raises(UnskewInputError, match="no file"):
        fetch_dataset("german", data_home=home, files=["german/other.data"])
