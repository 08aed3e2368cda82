"""`GET /api/v1/jobs/<id>/events`: a job's progress pushed as Server-Sent Events.

Events: `progress` (`{"processed","failed","status"}`, id = processed count) whenever the
counts change, at most every PROGRESS_EVERY seconds; `end` (the final counts and status,
id `end`) when the job ends, after which the stream closes; a `: heartbeat` comment after
HEARTBEAT_EVERY quiet seconds so proxies keep the connection. `Last-Event-ID` resumes: a
progress already seen is not sent again.

The API runs under gunicorn's threaded workers, where a stream holds one thread for its whole
life. So streams are bounded three ways: at most `MNISTQ_MAX_STREAMS` per API process (over
it: `503` + `Retry-After`; clients fall back to long-polling), a write timeout on the socket
(`MNISTQ_STREAM_WRITE_TIMEOUT`: a client that stops reading is dropped once its buffers fill
instead of blocking a thread forever), and a life (`MNISTQ_STREAM_MAX_SECONDS`; an
EventSource reconnects by itself, with `Last-Event-ID`). Waiting costs no polling: each step
blocks on the job's `done` list for up to PROGRESS_EVERY seconds, so `end` leaves as soon as
the last result is recorded.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

from flask import Blueprint, Response, request

from common.jobs import ENDED
from common.jobstore import JobStore
from common.redis_keys import is_job_id

from .app import services
from .errors import error_response
from .jobs import job_not_found

log = logging.getLogger(__name__)
bp = Blueprint("events", __name__)

PROGRESS_EVERY = 0.25
"""Seconds: the most often a progress event is sent (and the longest one waits)."""
HEARTBEAT_EVERY = 15.0
"""Seconds without an event before a heartbeat comment."""
RETRY_AFTER = 5

_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _streams(limit: int) -> threading.BoundedSemaphore:
    """This process's stream slots (one semaphore per limit value, made once)."""
    with _slots_lock:
        return _slots.setdefault(limit, threading.BoundedSemaphore(limit))


@bp.get("/jobs/<job_id>/events")
def job_events(job_id: str) -> Response:
    svc = services()
    store = svc.store
    state = store.progress(job_id) if is_job_id(job_id) else None
    if state is None:
        return job_not_found(job_id)
    slots = _streams(svc.settings.max_streams)
    if not slots.acquire(blocking=False):
        return error_response(
            503, f"too many event streams open ({svc.settings.max_streams} per API process); "
                 "retry later or long-poll GET /api/v1/jobs/<id>?wait=S",
            {"Retry-After": str(RETRY_AFTER)},
        )
    _set_write_timeout(request.environ.get("gunicorn.socket"), svc.settings.stream_write_timeout)
    last_id = request.headers.get("Last-Event-ID")
    life = svc.settings.stream_max_seconds
    response = Response(_stream(store, job_id, state, last_id, life),
                        mimetype="text/event-stream")
    response.call_on_close(slots.release)  # WSGI servers always close the response
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def _set_write_timeout(sock: socket.socket | None, seconds: float) -> None:
    """A blocking write to a client that never reads raises after `seconds`; gunicorn then
    closes the connection and frees the thread."""
    if sock is not None:
        try:
            sock.settimeout(seconds)
        except OSError:
            log.debug("could not set a write timeout on the event stream", exc_info=True)


def event(name: str, data: dict, event_id: str) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stream(store: JobStore, job_id: str, state: dict, last_id: str | None,
            life: float) -> Iterator[str]:
    """The events of one job until it ends (or the stream's `life` in seconds is up)."""
    started = last_sent = time.monotonic()
    sent = last_id
    yield f"retry: {int(1000 * RETRY_AFTER)}\n\n"
    while True:
        if state["status"] in ENDED:
            yield event("end", state, "end")
            return
        progress_id = str(state["processed"])
        if progress_id != sent:
            fields = ("processed", "failed", "status", "total")
            yield event("progress", {k: state[k] for k in fields}, progress_id)
            sent, last_sent = progress_id, time.monotonic()
        now = time.monotonic()
        if now - started > life:
            return
        if now - last_sent >= HEARTBEAT_EVERY:
            yield ": heartbeat\n\n"
            last_sent = now
        step = time.monotonic()
        ended = store.wait_until_ended(job_id, PROGRESS_EVERY)
        if not ended:  # at most one progress event per PROGRESS_EVERY seconds
            time.sleep(max(0.0, PROGRESS_EVERY - (time.monotonic() - step)))
        new = store.progress(job_id)
        if new is None:  # expired meanwhile
            return
        state = new
