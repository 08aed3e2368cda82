"""`mnistq data fetch` from a local mirror: verified files, nothing half-written, clear errors."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli.main import main
from core.data import FILES, DataError, load_split
from core.fetch import fetch_mnist
from tests.support import free_port

LABELS_KEY = ("test", "labels")
LABELS = FILES[LABELS_KEY].name


class Mirror:
    """A static HTTP server over a folder, counting the requests it answers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mnist/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def mirror_root(data_dir: Path, tmp_path: Path) -> Path:
    """The shared files under `<root>/mnist/` (links; tests replace what they damage)."""
    folder = tmp_path / "mirror" / "mnist"
    folder.mkdir(parents=True)
    for spec in FILES.values():
        (folder / spec.name).symlink_to(data_dir / spec.name)
    return folder.parent


@pytest.fixture()
def labels_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fetch only the 4 kB test labels: error cases need no 10 MB downloads."""
    monkeypatch.setattr("core.fetch.FILES", {LABELS_KEY: FILES[LABELS_KEY]})


@pytest.fixture()
def mirror(mirror_root: Path) -> Iterator[Mirror]:
    with Mirror(mirror_root) as server:
        yield server


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_fetch_downloads_and_verifies_all_four(mirror, tmp_path):
    dest = tmp_path / "data"
    seen: set[str] = set()
    paths = fetch_mnist(dest, mirror=mirror.url, progress=lambda name, done, total: seen.add(name))
    assert [p.name for p in paths] == [spec.name for spec in FILES.values()]
    assert seen == {spec.name for spec in FILES.values()}
    images, labels = load_split(dest, "test")
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert leftovers(dest) == []

    count = len(mirror.requests)
    assert fetch_mnist(dest, mirror=mirror.url) == paths
    assert len(mirror.requests) == count, "valid files are not downloaded again"


def test_corrupted_file_on_the_mirror(mirror, mirror_root, tmp_path, labels_only):
    served = mirror_root / "mnist" / LABELS
    content = bytearray(served.read_bytes())
    content[len(content) // 2] ^= 0xFF
    served.unlink()
    served.write_bytes(bytes(content))
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch") as error:
        fetch_mnist(dest, mirror=mirror.url)
    assert LABELS in str(error.value)
    assert not (dest / LABELS).exists()
    assert leftovers(dest) == []


def test_invalid_existing_file_is_replaced(mirror, data_dir, tmp_path, labels_only):
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / LABELS).write_bytes(b"half a download")
    fetch_mnist(dest, mirror=mirror.url)
    assert (dest / LABELS).read_bytes() == (data_dir / LABELS).read_bytes()


def test_missing_file_on_the_mirror_is_an_http_error(mirror, mirror_root, tmp_path, labels_only):
    (mirror_root / "mnist" / LABELS).unlink()
    with pytest.raises(DataError, match="HTTP 404") as error:
        fetch_mnist(tmp_path / "data", mirror=mirror.url)
    assert LABELS in str(error.value)
    assert leftovers(tmp_path / "data") == []


def test_unreachable_mirror(tmp_path, labels_only):
    url = f"http://127.0.0.1:{free_port()}/mnist/"
    with pytest.raises(DataError, match="cannot connect") as error:
        fetch_mnist(tmp_path / "data", mirror=url)
    assert LABELS in str(error.value) and url in str(error.value)
    assert not (tmp_path / "data" / LABELS).exists()


def test_fetch_command(mirror, tmp_path, capsys, labels_only):
    dest = tmp_path / "data"
    assert main(["data", "fetch", "--dest", str(dest), "--mirror", mirror.url]) == 0
    assert str(dest / LABELS) in capsys.readouterr().out
    assert main(["data", "fetch", "--dest", str(dest), "--mirror", mirror.url + "nope/"]) == 0
    bad_dest = tmp_path / "other"
    assert main(["data", "fetch", "--dest", str(bad_dest), "--mirror", mirror.url + "nope/"]) == 1
    assert "HTTP 404" in capsys.readouterr().err
