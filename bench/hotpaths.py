"""Micro-benchmarks of the hot paths the docs quote, each against the way it replaced.

- the multipart splitter (`api.multipart.parse_files`) against werkzeug's form parser, on a
  10,000-part body as requests writes it;
- reading a 10,000-result job as JSON text: the stored chunk arrays spliced
  (`job_views.rows_json`) against decoding and re-encoding them (`json.dumps(rows(...))`);
- `Result.to_dict` against `dataclasses.asdict`;
- keeping a 512-digit chunk's normalised MNIST test digits for review (`chunk_packing.pack_digits`,
  a bit mask of the ink and its values) against zlib (level 1) of their bytes, the way it was
  chosen over; the report gives the bytes per digit of each.

Both sides run in this process, taking turns, timed in CPU time (`time.process_time`), best
of `--repeat`: on a shared machine the best of CPU times is the steadiest figure, and the
ratio of two sides measured together means more than either alone.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from werkzeug.formparser import parse_form_data

from api.multipart import parse_files
from bench.images import multipart
from bench.report import arguments, table, write
from common import job_views
from common.chunk_packing import pack_digits, unpack_digits
from common.settings import Settings
from core.data import load_split
from core.results import Result

PARTS = 10_000
CHUNK = 512


def best_cpu(work: Callable[[], Any], repeat: int, number: int = 1) -> float:
    """The least CPU time (s) of one call of `work`, over `repeat` rounds of `number` calls."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(number):
            work()
        best = min(best, (time.process_time() - started) / number)
    return best


def sample_results(n: int) -> list[Result]:
    return [Result(i, f"{i:05d}-digit.png", prediction=i % 10, confidence=0.987654,
                   runner_up=(i + 3) % 10) for i in range(n)]


def stored_chunks(results: Sequence[Result], chunk: int) -> dict[bytes, bytes]:
    """The results hash as the job store keeps it: chunk start -> JSON array (compact)."""
    return {str(s).encode(): json.dumps([r.to_dict() for r in results[s:s + chunk]],
                                        separators=(",", ":")).encode()
            for s in range(0, len(results), chunk)}


def werkzeug_parse(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    _stream, _form, files = parse_form_data(environ, max_form_parts=PARTS + 100)
    return [(f.filename or "", f.read()) for f in files.getlist("files")]


def measure(parts: int, repeat: int, data_dir: Path) -> dict[str, dict[str, float]]:
    """Each hot path's CPU time, ours and the replaced way, and their ratio."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2  # the size of an MNIST PNG, ~0.5 kB
    body, content_type = multipart([(f"{i:05d}.png", png) for i in range(parts)])
    ours = parse_files(body, content_type, "files", max_parts=parts + 100)
    assert ours == werkzeug_parse(body, content_type)  # the same answer, or no comparison

    results = sample_results(parts)
    chunks = stored_chunks(results, CHUNK)
    assert json.loads(job_views.rows_json(chunks)) == job_views.rows(chunks)
    one = results[0]
    fields = dataclasses.asdict(one)  # a digit result: the number fields are not in its JSON
    assert one.to_dict() == {name: fields[name] for name in one.to_dict()}

    digits, _ = load_split(data_dir, "test", limit=CHUNK)
    chunk = [[digit] for digit in digits]
    packed = pack_digits(chunk)
    assert all(np.array_equal(a[0], b) for a, b in zip(unpack_digits(packed), digits, strict=True))
    raw = digits.tobytes()

    rows = {
        f"multipart: split {parts:,} parts (ms)": (
            lambda: parse_files(body, content_type, "files", max_parts=parts + 100),
            lambda: werkzeug_parse(body, content_type), 1e3, 1),
        f"results: {parts:,} as JSON text (ms)": (
            lambda: job_views.rows_json(chunks), lambda: json.dumps(job_views.rows(chunks)),
            1e3, 1),
        "Result.to_dict, one result (µs)": (
            one.to_dict, lambda: dataclasses.asdict(one), 1e6, 10_000),
        f"digits kept for review: pack {CHUNK} (ms)": (
            lambda: pack_digits(chunk), lambda: zlib.compress(raw, 1), 1e3, 5),
    }
    report: dict[str, dict[str, float]] = {}
    for name, (new, old, scale, number) in rows.items():
        new_s = best_cpu(new, repeat, number)
        old_s = best_cpu(old, repeat, number)
        report[name] = {"ours": round(new_s * scale, 3), "replaced": round(old_s * scale, 3),
                        "ratio": round(old_s / new_s, 1)}
    report[f"digits kept for review: pack {CHUNK} (ms)"].update(
        bytes_per_digit=round(len(packed) / CHUNK), zlib_bytes_per_digit=round(
            len(zlib.compress(raw, 1)) / CHUNK))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = arguments("hotpaths", __doc__, "1,000 parts, 3 rounds", Settings.from_env(),
                       model=False)
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best counts")
    args = parser.parse_args(argv)
    parts, repeat = (1_000, 3) if args.quick else (PARTS, args.repeat)
    report = measure(parts, repeat, args.data_dir)
    print(table(["hot path", "ours", "replaced way", "x faster"],
                [[name, f"{r['ours']:g}", f"{r['replaced']:g}", f"{r['ratio']:g}"]
                 for name, r in report.items()]))
    write("hotpaths", {"quick": args.quick, "parts": parts, "repeat": repeat,
                       "cpu_time": "best of repeat, time.process_time", "results": report},
          args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
