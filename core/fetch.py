"""Downloading the four MNIST files from a mirror, with checksum verification.

A file only ever appears under its final name complete and verified: it is streamed to a
temporary file in the destination folder and renamed over the final name (`os.replace`,
atomic on one file system) once its SHA-256 matches. An interrupted run leaves nothing that
a later run or `load_split` could mistake for the real file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

from core.data import FILES, DataError, MnistFile, decompress_idx

DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)
"""Well-known public copies of the official files, tried in this order."""

CHUNK = 1 << 16
TIMEOUT = (10.0, 60.0)
"""Seconds to connect and between received bytes: a dead mirror fails fast, a slow one not."""

Progress = Callable[[str, int, int | None], None]
"""Called as `progress(file_name, bytes_done, bytes_total_or_None)` while downloading."""


def fetch_mnist(
    dest: Path, mirror: str | None = None, progress: Progress | None = None
) -> list[Path]:
    """Download the four files into `dest` (skipping valid ones already there); their paths.

    With `mirror` only that base URL is used; otherwise `DEFAULT_MIRRORS` are tried in order
    until one serves a file whose checksum matches. Raises `DataError` naming the file.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    mirrors: Sequence[str] = (mirror,) if mirror else DEFAULT_MIRRORS
    with requests.Session() as session:
        return [_fetch_one(session, spec, dest, mirrors, progress) for spec in FILES.values()]


def is_valid(path: Path, spec: MnistFile) -> bool:
    """True if `path` is the official .gz, or any gzip or raw file with the right content."""
    try:
        content = path.read_bytes()
    except OSError:
        return False
    if hashlib.sha256(content).hexdigest() == spec.gz_sha256:
        return True
    return _content_sha256(content) == spec.sha256


def _content_sha256(content: bytes) -> str | None:
    """SHA-256 of the idx bytes inside `content` (gzip or raw); None if it does not unzip."""
    try:
        return hashlib.sha256(decompress_idx(content)).hexdigest()
    except (OSError, EOFError, zlib.error):
        return None


def _fetch_one(
    session: requests.Session,
    spec: MnistFile,
    dest: Path,
    mirrors: Sequence[str],
    progress: Progress | None,
) -> Path:
    target = dest / spec.name
    for existing in (target, dest / spec.name.removesuffix(".gz")):
        if existing.is_file() and is_valid(existing, spec):
            return existing
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + spec.name
        try:
            _download(session, url, spec, target, progress)
            return target
        except DataError as exc:
            failures.append(str(exc))
    raise DataError("; ".join(failures))


def _download(
    session: requests.Session,
    url: str,
    spec: MnistFile,
    target: Path,
    progress: Progress | None,
) -> None:
    """Stream `url` to a temporary file beside `target`; rename it over `target` if valid."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream(session, url, spec.name, out, progress)
            out.flush()
            os.fsync(out.fileno())
        if digest != spec.gz_sha256 and _content_sha256(tmp.read_bytes()) != spec.sha256:
            raise DataError(f"{spec.name}: checksum mismatch in the download from {url}")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _stream(session: requests.Session, url: str, name: str, out, progress) -> str:
    """Write the body of `url` to `out`; the SHA-256 of what was written."""
    digest = hashlib.sha256()
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as response:
            response.raise_for_status()
            total = response.headers.get("Content-Length")
            total_bytes = int(total) if total and total.isdigit() else None
            done = 0
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(name, done, total_bytes)
    except requests.RequestException as exc:
        raise DataError(f"{name}: download from {url} failed: {_reason(exc)}") from None
    return digest.hexdigest()


def _reason(exc: requests.RequestException) -> str:
    """A one-line cause: the HTTP status, or the kind of connection failure."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__
