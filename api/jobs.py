"""The JSON API of jobs: upload, read (with long-poll), download results, cancel; the model.

Handlers validate, delegate to the job store and the task queue, and answer. Uploaded file
names are only echoed back, never used as paths.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from flask import Blueprint, Response, jsonify, request

from common.interactive import LANE_QUEUE
from common.interactive import QUEUE as BATCH_QUEUE
from common.jobs import ENDED, NewJob, QueueFull
from common.queue import (
    INTERACTIVE,
    PREDICT_CHUNK,
    SMALLEST_CHUNK,
    chunk_priority,
    chunk_size_for,
    send_interactive_batch,
    time_bounded_chunk,
)
from common.redis_keys import HEARTBEAT_MAX_AGE, is_job_id
from common.webhooks import BadCallback, announce_end, check_callback_url
from core.results import READ_MODES, to_csv

from .app import services
from .errors import error_response
from .models import active_model
from .multipart import MultipartError, TooManyParts, parse_files

log = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__)

MAX_FILENAME = 255


def job_url(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


@bp.post("/jobs")
def create_job() -> Response:
    """Store the upload as a job, enqueue its chunks; with `?wait`, answer when it ends."""
    svc = services()
    wait = _wait_seconds()
    if isinstance(wait, Response):
        return wait
    form: dict[str, str | None] = {"callback_url": "", "read": None}  # None: not given
    files = _uploaded_files(svc.settings.max_files, form)
    if isinstance(files, Response):
        return files
    given = [value for value in (request.args.get("read"), form["read"]) if value is not None]
    if not set(given) <= set(READ_MODES):  # each one given must be valid...
        return error_response(400, "read must be 'digit' or 'number'")
    read = given[0] if given else "digit"  # ...and the query's wins over the form's
    callback_url = request.args.get("callback_url") or form["callback_url"] or None
    if callback_url is not None:
        try:
            check_callback_url(callback_url, svc.settings)
        except BadCallback as exc:
            return error_response(400, str(exc))
    size = _chunk_size(len(files), read)
    small = chunk_priority(0, math.ceil(len(files) / size), len(files)) == INTERACTIVE
    batch = LANE_QUEUE if svc.settings.fast_lane else BATCH_QUEUE
    try:
        new = svc.store.create(files, size, max_unfinished=svc.settings.max_queued_jobs,
                               callback_url=callback_url, read=read,
                               batch=batch if small else None)
    except QueueFull as exc:
        return error_response(429, f"too many unfinished jobs ({exc}); retry later",
                              {"Retry-After": "10"})
    _enqueue(new, files, small)
    job_id = new.id
    if wait:
        job = svc.store.wait_for_job(job_id, wait)
        if job is not None and job["status"] in ENDED:
            return _job_response(job)
    response = jsonify(id=job_id, status="queued", total=len(files), read=read,
                       url=job_url(job_id))
    response.status_code = 202
    response.headers["Location"] = job_url(job_id)
    return response


def _uploaded_files(
    max_files: int, form: dict[str, str | None] | None = None
) -> list[tuple[str, bytes]] | Response:
    """`(filename, bytes)` of the multipart `files` parts, or the 400/413 answer; the text
    fields named in `form` are filled in."""
    try:
        parts = parse_files(request.get_data(cache=False), request.content_type or "", "files",
                            max_parts=max_files + 100, texts=form)
    except TooManyParts:
        return error_response(413, f"too many files: more than {max_files} per job")
    except MultipartError as exc:
        return error_response(400, f"bad upload: {exc}")
    # a browser's empty file input sends one part with no name and no bytes: not a file
    files = [(name[:MAX_FILENAME], data) for name, data in parts if name or data]
    if not files:
        return error_response(400, "no files: send one or more multipart fields named 'files'")
    if len(files) > max_files:
        return error_response(413, f"too many files: more than {max_files} per job")
    return files


def _chunk_size(total: int, read: str) -> int:
    """Images per chunk for this job of mode `read`, given the workers alive now and what an
    image of that mode costs them (asked only when the job could make more than one chunk)."""
    svc = services()
    largest = svc.settings.chunk_size
    if total <= min(SMALLEST_CHUNK, largest):
        return chunk_size_for(total, 1, largest)
    largest = time_bounded_chunk(svc.store.seconds_per_image(read), largest)
    return chunk_size_for(total, svc.store.live_workers(HEARTBEAT_MAX_AGE), largest)


def _enqueue(job: NewJob, files: list[tuple[str, bytes]], small: bool) -> None:
    """Send the job's work. A small job's one chunk joined the interactive batch as the job
    was recorded (common.interactive), waking a fast lane when one is alive: its batch task is
    sent only when it rang the bell instead.
    A bigger job's chunks are sent one task each (ids only), each one's images stored right
    before (the first's were stored with the job): workers start on the first chunks while
    the rest are stored. A job whose work cannot be sent is marked failed."""
    svc = services()
    try:
        if not small:
            _send_chunks(job, files)
        elif job.rang:
            _send_batch_task()
    except Exception:
        svc.store.fail(job.id, "could not enqueue its chunks")
        raise
    log.info("job %s: enqueued %d chunks", job.id, len(job.chunks), extra={"job": job.id})


def _send_chunks(job: NewJob, files: list[tuple[str, bytes]]) -> None:
    """Store each chunk's images (but the first's), then send its task in its lane."""
    svc = services()
    with svc.celery.producer_or_acquire() as producer:
        for index, chunk in enumerate(job.chunks):
            if index and not svc.store.store_images(job.id, chunk, files):
                log.info("job %s: ended while its chunks were being enqueued", job.id)
                return
            svc.celery.send_task(PREDICT_CHUNK, args=[job.id, chunk.start, chunk.stop],
                                 producer=producer,
                                 priority=chunk_priority(index, len(job.chunks), len(files)))


def _send_batch_task() -> None:
    """Send the interactive batch task (a small job's chunk rang the bell: none is queued);
    when it cannot be sent, forget the bell so that the next small job, or a worker's
    heartbeat, rings again."""
    svc = services()
    try:
        send_interactive_batch(svc.celery)
    except Exception:
        svc.batches.silence()
        raise


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    """The job with counts; results once ended. `?wait=S` returns as soon as it ends."""
    wait = _wait_seconds()
    if isinstance(wait, Response):
        return wait
    store = services().store
    job = _find(job_id, with_results=False)
    if isinstance(job, Response):
        return job
    ended = job["status"] in ENDED
    if not ended and wait:
        ended = store.wait_until_ended(job_id, wait)
    job = _find(job_id, with_results=True, expect_ended=ended)
    return job if isinstance(job, Response) else _job_response(job)


@bp.get("/jobs/<job_id>/results")
def get_results(job_id: str) -> Response:
    """The results recorded so far, in upload order, as a JSON or CSV download."""
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        return error_response(400, "format must be 'json' or 'csv'")
    store = services().store
    if not is_job_id(job_id):
        return job_not_found(job_id)
    if fmt == "csv":
        results = store.results(job_id)
        body = None if results is None else to_csv(results, store.job_read(job_id))
        mimetype = "text/csv; charset=utf-8"
    else:
        body, mimetype = store.results_json(job_id), "application/json"
    if body is None:
        return job_not_found(job_id)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="job-{job_id}.{fmt}"'
    return response


@bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str) -> Response:
    """Cancel: chunks not yet predicted are skipped. 409 when the job had already ended."""
    if not is_job_id(job_id):
        return job_not_found(job_id)
    store = services().store
    outcome = store.cancel(job_id)
    if outcome < 0:
        return job_not_found(job_id)
    job = store.get_job(job_id, results_as_json=True)
    if job is None:
        return job_not_found(job_id)
    if outcome == 0:
        return error_response(409, f"job already ended: {job['status']}")
    announce_end(store, services().celery, job_id)
    return _job_response(job)


@bp.get("/model")
def model() -> Response:
    """Metadata of the served model, with its `version` (api/models.py)."""
    meta = active_model()
    return meta if isinstance(meta, Response) else jsonify(meta)


def _job_response(job: dict[str, Any]) -> Response:
    """The job as JSON; `results` arrives as JSON text already (see JobStore.get_job)."""
    results = job["results"]
    head = {k: v for k, v in job.items() if k != "results"}
    body = json.dumps({**head, "url": job_url(job["id"])})
    results_text = "null" if results is None else results
    return Response(f'{body[:-1]}, "results": {results_text}}}', mimetype="application/json")


def _find(
    job_id: str, with_results: bool, expect_ended: bool = False
) -> dict[str, Any] | Response:
    store = services().store
    job = (store.get_job(job_id, with_results, expect_ended, results_as_json=True)
           if is_job_id(job_id) else None)
    return job_not_found(job_id) if job is None else job


def job_not_found(job_id: str) -> Response:
    """410 for a job that expired (its tombstone says when), 404 for an id never seen."""
    expired_at = services().store.expired_at(job_id) if is_job_id(job_id) else None
    if expired_at is not None:
        return error_response(410, f"job expired at {expired_at}")
    ttl = services().settings.job_ttl
    return error_response(404, f"job not found: unknown id (jobs are kept {ttl} s, then "
                               "answer 410 for a week)")


def _wait_seconds() -> float | Response:
    """`?wait=SECONDS` as a float capped by settings.max_wait; 0 without it; 400 when bad
    (an empty `wait=` too: the OpenAPI document says a number)."""
    raw = request.args.get("wait")
    if raw is None:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not (wait >= 0 and wait != float("inf")):
        return error_response(400, "wait must be a number of seconds >= 0")
    return min(wait, services().settings.max_wait)
