"""The Flask app factory: JSON API, health checks and the page, configured from `Settings`.

The API never loads the model: it stores uploads in the job store and sends Celery tasks
that carry ids only.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from celery import Celery
from flask import Flask, Response, current_app, request

from common import logs
from common.corrections import CorrectionStore
from common.interactive import InteractiveBatches
from common.jobstore import JobStore
from common.queue import make_celery
from common.settings import Settings

from . import errors


@dataclass(frozen=True)
class Services:
    """What request handlers need, built once per app: settings, job store, task sender."""

    settings: Settings
    store: JobStore
    celery: Celery
    corrections: CorrectionStore
    batches: InteractiveBatches


def services() -> Services:
    return current_app.extensions["mnistq"]


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logs.configure(settings)
    app = Flask(__name__, static_folder=None)  # the page serves its assets itself
    # the upload's parts are counted by our reader (api/multipart.py), not werkzeug's
    app.config.update(MAX_CONTENT_LENGTH=settings.max_upload_bytes)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = JobStore.from_settings(settings)
    app.extensions["mnistq"] = Services(
        settings, store, make_celery(settings, main="api"),
        CorrectionStore(settings.corrections_dir), InteractiveBatches(store.redis, store.ttl),
    )

    from . import events, health, jobs, metrics, models, openapi, page, review

    metrics.init_app(app, app.extensions["mnistq"].store)  # first: it times every request
    app.register_blueprint(jobs.bp, url_prefix="/api/v1")
    app.register_blueprint(review.bp, url_prefix="/api/v1")
    app.register_blueprint(models.bp, url_prefix="/api/v1")
    app.register_blueprint(events.bp, url_prefix="/api/v1")
    app.register_blueprint(openapi.bp, url_prefix="/api/v1")
    app.register_blueprint(health.bp)
    app.register_blueprint(page.bp)
    errors.register(app)
    if settings.api_key:
        app.before_request(_require_key(settings.api_key))
    return app


def _require_key(key: str):
    """Every /api/ route needs `Authorization: Bearer <key>` when a key is configured."""
    expected = f"Bearer {key}".encode()

    def check() -> Response | None:
        if not request.path.startswith("/api/"):
            return None
        given = request.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, expected):
            return None
        return errors.error_response(
            401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
            {"WWW-Authenticate": 'Bearer realm="mnistq"'},
        )

    return check
