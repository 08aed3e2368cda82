"""The upload reader gives what werkzeug's form parser gives, whoever wrote the body."""

from __future__ import annotations

import io

import pytest
import requests
from werkzeug.wrappers import Request

from api.multipart import MultipartError, TooManyParts, parse_files

NAMES = ["a.png", "ünïcödé 数字.png", 'quo"te.png', "per%cent.png", "back\\slash.png",
         "with space.png", ""]


def werkzeug_files(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    request = Request.from_values(input_stream=io.BytesIO(body), content_type=content_type,
                                  content_length=len(body), method="POST")
    return [(f.filename, f.read()) for f in request.files.getlist("files")]


def requests_body(files: list) -> tuple[bytes, str]:
    prepared = requests.Request("POST", "http://x/", files=files,
                                data={"note": "not a file"}).prepare()
    return prepared.body, prepared.headers["Content-Type"]


def browser_body(parts: list[tuple[str, str, bytes]], boundary: str = "----WebKitForm7x") -> bytes:
    """A body as Chromium writes it: Content-Type on every file part, `"` escaped as %22."""
    out = b""
    for field, filename, data in parts:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n").encode() + data
        out += b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("with_type", [False, True])
def test_bodies_from_requests_read_as_werkzeug_reads_them(with_type: bool) -> None:
    files = [("files", (name, bytes([i]) * (i + 1), "image/png") if with_type
              else (name, bytes([i]) * (i + 1))) for i, name in enumerate(NAMES)]
    body, content_type = requests_body(files)
    expected = werkzeug_files(body, content_type)
    assert parse_files(body, content_type, "files", 100) == expected
    assert [data for _, data in expected] == [bytes([i]) * (i + 1) for i in range(len(NAMES))]


def test_browser_bodies_and_unusual_heads_read_as_werkzeug_reads_them() -> None:
    boundary = "----WebKitForm7x"
    content_type = f"multipart/form-data; boundary={boundary}"
    body = browser_body([("files", "one.png", b"\x89PNG1"), ("other", "x.png", b"no"),
                         ("files", "tw%22o.png", b"\r\n--not-a-boundary\r\n")])
    assert parse_files(body, content_type, "files", 100) == werkzeug_files(body, content_type)
    unusual = (f"--{boundary}\r\ncontent-disposition: form-data;name=\"files\";  "
               f"filename=\"low.png\"\r\nX-Extra: 1\r\n\r\nDATA\r\n--{boundary}--\r\n").encode()
    assert parse_files(unusual, content_type, "files", 100) == [("low.png", b"DATA")]
    assert werkzeug_files(unusual, content_type) == [("low.png", b"DATA")]


@pytest.mark.parametrize("body, content_type, message", [
    (b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n\r\nA",
     "multipart/form-data; boundary=b", "truncated"),
    (b"no boundary here", "multipart/form-data; boundary=b", "without its boundary"),
    (b"--b\r\nX: y\r\n\r\nA\r\n--b--", "multipart/form-data; boundary=b", "Content-Disposition"),
    (b"--b\r\nContent-Disposition: form-data; name=\"files\"\r\nA\r\n--b--",
     "multipart/form-data; boundary=b", "blank line"),
    (b"{}", "application/json", "multipart/form-data"),
])
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, content_type: str,
                                                     message: str) -> None:
    with pytest.raises(MultipartError, match=message):
        parse_files(body, content_type, "files", 100)


def test_too_many_parts_is_its_own_error() -> None:
    body, content_type = requests_body([("files", (f"{i}.png", b"x")) for i in range(11)])
    with pytest.raises(TooManyParts):
        parse_files(body, content_type, "files", 10)
