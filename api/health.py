"""`/healthz` (the process lives) and `/readyz` (Redis answers and a worker holds the model)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from common.jobstore import REDIS_DOWN
from common.redis_keys import HEARTBEAT_MAX_AGE

from .app import services
from .errors import error_response

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """Ready when Redis answers and at least one worker with the model loaded beats."""
    store = services().store
    try:
        store.ping()
        workers = store.live_workers(HEARTBEAT_MAX_AGE)
    except REDIS_DOWN as exc:
        log.warning("readyz: redis unreachable: %s", exc)
        return error_response(503, "not ready: Redis is unreachable", {"Retry-After": "5"})
    if workers == 0:
        return error_response(503, "not ready: no worker with the model loaded is alive",
                              {"Retry-After": "5"})
    return jsonify(status="ready", workers=workers)
