"""A small, strict multipart/form-data reader for uploads of many small files.

Why not werkzeug's `request.files`: its streaming parser costs about 100 µs per part, so a
10,000-image job spent over a second parsing before any worker could start. Splitting the
(size-capped, already buffered) body on its boundary, then matching each usual part head
with one regular expression, costs about 1 µs per part. Only file
parts (those with a `filename`) of the named field are returned; other fields are ignored.
Anything malformed is a `MultipartError` (the API answers 400), never a traceback.
"""

from __future__ import annotations

import re

from werkzeug.http import parse_options_header

_SIMPLE_DISPOSITION = re.compile(
    r'^form-data; *name="([^"\\]*)"(?:; *filename="([^"\\]*)")? *$', re.IGNORECASE
)
_USUAL_HEAD = re.compile(
    rb'\r\nContent-Disposition: form-data; name="([^"\\%\r\n]*)"'
    rb'(?:; filename="([^"\\%\r\n]*)")?\r\n(?:Content-Type: [^\r\n]*\r\n)?\r\n'
)
"""The head of a part as requests, curl and browsers write it, matched in one go (C speed);
any other head takes the general path in `_part`, which gives the same answer for these."""


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


MAX_TEXT_BYTES = 4096
"""Bytes kept of a text field (e.g. callback_url)."""


class TooManyParts(MultipartError):
    """More parts than allowed (the API answers 413)."""


def parse_files(
    body: bytes, content_type: str, field: str, max_parts: int,
    texts: dict[str, str | None] | None = None,
) -> list[tuple[str, bytes]]:
    """`(filename, content)` of each file part named `field`, in order. Text parts (no
    filename) whose names are keys of `texts` are put there (the first of each, decoded)."""
    mimetype, options = parse_options_header(content_type or "")
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary:
        raise MultipartError("expected a multipart/form-data body with a boundary")
    try:
        delimiter = b"--" + boundary.encode("latin-1")
    except UnicodeEncodeError:
        raise MultipartError("bad multipart boundary") from None
    first = body.find(delimiter)
    if first < 0 or (first > 0 and body[first - 2:first] != b"\r\n"):
        raise MultipartError("multipart body without its boundary")
    pieces = body[first + len(delimiter):].split(b"\r\n" + delimiter)
    if len(pieces) > max_parts + 1:
        raise TooManyParts(f"too many parts: at most {max_parts}")
    files: list[tuple[str, bytes]] = []
    for piece in pieces:
        if piece.startswith(b"--"):
            return files  # the close delimiter: what follows is the epilogue
        name, filename, content = _part(piece)
        if name == field and filename is not None:
            files.append((filename, content))
        elif texts is not None and filename is None and name in texts and not texts[name]:
            texts[name] = content[:MAX_TEXT_BYTES].decode("utf-8", "replace")
    raise MultipartError("multipart body is truncated (no closing boundary)")


def _part(piece: bytes) -> tuple[str | None, str | None, bytes]:
    """(field name, filename or None, content) of one part as split off by `parse_files`."""
    usual = _USUAL_HEAD.match(piece)
    if usual:
        name, filename = usual.group(1, 2)
        return (name.decode("utf-8", "replace"),
                None if filename is None else filename.decode("utf-8", "replace"),
                piece[usual.end():])
    line_end = piece.find(b"\r\n")
    if line_end < 0 or piece[:line_end].strip(b" \t"):
        raise MultipartError("malformed multipart delimiter line")
    head_end = piece.find(b"\r\n\r\n", line_end)
    if head_end < 0:
        raise MultipartError("multipart part without a blank line after its headers")
    head = piece[line_end + 2:head_end].decode("utf-8", "replace")
    disposition = None
    for line in head.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "content-disposition":
            disposition = value.strip()
    if disposition is None:
        raise MultipartError("multipart part without Content-Disposition")
    match = _SIMPLE_DISPOSITION.match(disposition)  # the fast path; werkzeug's for the rest
    if match and "%" not in disposition:
        name, filename = match.group(1), match.group(2)
    else:
        kind, options = parse_options_header(disposition)
        if kind.lower() != "form-data":
            raise MultipartError("multipart part is not form-data")
        name, filename = options.get("name"), options.get("filename")
    return name, filename, piece[head_end + 4:]
