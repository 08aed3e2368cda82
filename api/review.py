"""Review: a person says what a result really reads (`PUT /api/v1/jobs/<id>/results/<i>`).

The correction goes first to the corrections store on disk (durable, beyond the job's TTL,
with the normalised digit that training needs: `common.corrections`), then into the job in
Redis (`corrected`, which every later GET and the CSV show). A full disk answers 507 and
changes nothing; a confirmation (`{"label": <the prediction>}`) is a correction too.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from common.corrections import Correction, StoreFull, kind_of
from common.jobs import ENDED, StoredResult
from common.redis_keys import is_job_id

from .app import services
from .errors import error_response
from .jobs import job_not_found

log = logging.getLogger(__name__)
bp = Blueprint("review", __name__)

MAX_TEXT = 64
"""Digits in a corrected number, at most (a reading never holds more than 32)."""
_DIGITS = re.compile(r"[0-9]+")


@bp.put("/jobs/<job_id>/results/<index>")
def correct_result(job_id: str, index: str) -> Response:
    """Record a person's reading of one result; 200 with the result and its `corrected`."""
    svc = services()
    position = _index(index)
    stored = svc.store.stored_result(job_id, position) if is_job_id(job_id) else None
    if stored is None:
        return job_not_found(job_id)
    if position is None or not 0 <= position < stored.total:
        return error_response(404, f"no result {index} in this job: its results are numbered "
                                   f"0 to {stored.total - 1}")
    value = _corrected_value(stored.read)
    if isinstance(value, Response):
        return value
    if stored.status not in ENDED:
        return error_response(409, f"the job is still {stored.status}: correct its results "
                                   "once it has ended")
    result = stored.result
    if result is None:
        return error_response(409, f"result {position} was never read: the job ended "
                                   f"({stored.status}) before it")
    if not stored.digits:
        why = result.get("error") or "its digit image is no longer kept"
        return error_response(409, f"result {position} cannot be labelled: there is no digit "
                                   f"image to keep with the label ({why})")
    try:
        svc.corrections.add_all(_corrections(job_id, result, stored, value))
    except StoreFull as exc:
        log.error("job %s: correction of result %d not recorded: %s", job_id, position, exc,
                  extra={"job": job_id})
        return error_response(507, "the corrections store is full: the correction was not "
                                   "recorded; try again once space is freed")
    if not svc.store.set_corrected(job_id, position, value):
        return job_not_found(job_id)  # expired meanwhile: the store keeps the correction
    return jsonify({**result, "corrected": value})


def _index(raw: str) -> int | None:
    """The path's index as an int (digits only: `-1` or `x` are no result of any job)."""
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _corrected_value(read: str) -> int | str | Response:
    """The body's `label` (digit mode) or `text` (number mode), or the 400 saying why not."""
    body = request.get_json(silent=True, force=True)
    field, other = ("label", "text") if read == "digit" else ("text", "label")
    example = '{"label": 7}' if read == "digit" else '{"text": "02139"}'
    if not isinstance(body, dict) or field not in body:
        reason = (f"this job reads {read}s: send {{\"{field}\": ...}}, not \"{other}\""
                  if isinstance(body, dict) and other in body else
                  f"send a JSON object such as {example}")
        return error_response(400, reason)
    value = body[field]
    if read == "digit":
        if type(value) is not int or not 0 <= value <= 9:
            return error_response(400, f"label must be an integer digit from 0 to 9, "
                                       f"not {value!r}")
        return value
    if not isinstance(value, str) or not _DIGITS.fullmatch(value) or len(value) > MAX_TEXT:
        return error_response(400, f"text must be 1 to {MAX_TEXT} digits 0-9, not {value!r}")
    return value


def _corrections(job_id: str, result: dict[str, Any], stored: StoredResult,
                 value: int | str) -> list[Correction]:
    """The store's records: one for a digit; one per digit of a number whose digit count
    matches what was read (else none: no image could be paired with each digit)."""
    now = time.time()
    common = {"job": job_id, "index": int(result["index"]), "filename": result["filename"],
              "model": result.get("model"), "created_at": now}
    if isinstance(value, int):
        prediction = result.get("prediction")
        return [Correction(**common, label=value, prediction=prediction,
                           confidence=result.get("confidence"),
                           kind=kind_of(value, prediction), image=stored.digits[0])]
    read = result.get("digits") or []
    if len(value) != len(read) or len(stored.digits) != len(read):
        log.info("job %s: result %s corrected to %d digits, %d were read: not kept per digit",
                 job_id, result["index"], len(value), len(read), extra={"job": job_id})
        return []
    return [Correction(**common, label=int(char), prediction=digit["prediction"],
                       confidence=digit["confidence"], kind=kind_of(int(char),
                                                                    digit["prediction"]),
                       image=image, digit=position)
            for position, (char, digit, image) in enumerate(zip(value, read, stored.digits,
                                                                strict=True))]
