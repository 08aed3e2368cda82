"""Every error the API answers is JSON: `{"error": "..."}`, never an HTML page or traceback.

Errors a client can cause keep their 4xx status; Redis being down is a 503 with
`Retry-After`; anything else is logged with its traceback and answered as a plain 500.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None,
    fields: dict[str, Any] | None = None,
) -> Response:
    """The one error shape, with optional headers (Retry-After, WWW-Authenticate, Allow) and
    `fields` beside `error` (the figures of a refused activation)."""
    response = jsonify(**(fields or {}), error=message)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register(app: Flask) -> None:
    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Response:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return error_response(
            413, f"upload too large: at most {limit} bytes and "
                 f"{app.config.get('MNISTQ_MAX_FILES')} files per job"
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error_response(exc.code or 500, exc.description or exc.name, headers)

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    @app.errorhandler(redis.exceptions.OutOfMemoryError)  # Redis at maxmemory: full, not broken
    @app.errorhandler(OperationalError)
    def store_down(exc: Exception) -> Response:
        log.error("%s %s: job store unavailable: %s", request.method, request.path, exc)
        return error_response(503, "the job store (Redis) is unavailable; retry shortly",
                              {"Retry-After": "5"})

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("%s %s: unexpected error", request.method, request.path)
        return error_response(500, "internal error")
