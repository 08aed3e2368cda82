"""A job as the API shows it, built from its hashes as read (common.jobstore reads them):
counts, times in ISO 8601, and the results in upload order with people's corrections."""

from __future__ import annotations

import bisect
import json
from datetime import UTC, datetime
from typing import Any

from common.jobs import ENDED


def iso(ts: str | bytes | float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp (milliseconds), None stays None."""
    if ts in (None, b"", ""):
        return None
    value = datetime.fromtimestamp(float(ts), tz=UTC)  # type: ignore[arg-type]
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rows(chunks: dict[bytes, bytes], corrected: dict[bytes, bytes] | None = None
         ) -> list[dict[str, Any]]:
    """The results hash (chunk start -> JSON array) as one list in upload order, with the
    people's corrections (index -> JSON) as `corrected`."""
    rows: list[dict[str, Any]] = []
    for start in sorted(chunks, key=int):
        rows.extend(json.loads(chunks[start]))
    if corrected:
        for row in rows:
            value = corrected.get(str(row["index"]).encode())
            if value is not None:
                row["corrected"] = json.loads(value)
    return rows


def rows_json(chunks: dict[bytes, bytes], corrected: dict[bytes, bytes] | None = None) -> str:
    """The same list as JSON text, spliced from the stored arrays without re-encoding; only
    the chunks holding a correction are decoded to add it."""
    starts = sorted(chunks, key=int)
    if corrected:
        numbers = [int(start) for start in starts]
        touched = {starts[i] for i in (bisect.bisect_right(numbers, int(index)) - 1
                                       for index in corrected) if i >= 0}
        chunks = {**chunks, **{start: json.dumps(rows({start: chunks[start]}, corrected),
                                                 separators=(",", ":")).encode()
                               for start in touched}}
    parts = [chunks[start][1:-1] for start in starts]
    return "[" + b",".join(p for p in parts if p).decode() + "]"


def job_view(job_id: str, fields: dict[bytes, bytes], raw: dict[bytes, bytes] | None,
             corrected: dict[bytes, bytes] | None, results_as_json: bool
             ) -> dict[str, Any] | None:
    """The job as the API shows it (`get_job`), from its hashes as read; `results` only
    once it has ended and when they were read (`raw`)."""
    if not fields:
        return None
    view = _view(job_id, fields)
    if raw is not None and view["status"] in ENDED:
        view["results"] = (rows_json(raw, corrected) if results_as_json
                           else rows(raw, corrected))
    return view


def _view(job_id: str, fields: dict[bytes, bytes]) -> dict[str, Any]:
    """The job hash as the API's JSON object (results filled in by the caller)."""
    def get(name: str) -> str | None:
        value = fields.get(name.encode())
        return None if value is None else value.decode()

    view = {
        "id": job_id,
        "status": get("status"),
        "total": int(get("total") or 0),
        "processed": int(get("processed") or 0),
        "failed": int(get("failed") or 0),
        "created_at": iso(get("created_at")),
        "finished_at": iso(get("finished_at")),
        "models": sorted(name[len(b"model:"):].decode() for name in fields
                         if name.startswith(b"model:")),
        "read": get("read") or "digit",
        "results": None,
    }
    if get("callback_url") is not None:
        view["callback"] = {"status": get("callback_status"),
                            "attempts": int(get("callback_attempts") or 0),
                            "last_error": get("callback_last_error") or None}
    return view
