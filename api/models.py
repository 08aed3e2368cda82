"""Model versions over HTTP: list them, see which worker serves which, activate one.

`GET /api/v1/models` and `PUT /api/v1/model` (`GET /api/v1/model` stays in `api/jobs.py`
and answers `active_model()`). The model folder is shared with the workers; activating writes
its pointer (`core.versions`) and publishes the name in Redis (`common.model_registry`), and
each worker switches by itself.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request

from common import model_registry
from common.redis_keys import HEARTBEAT_MAX_AGE
from core import versions
from core.metadata import described

from .app import services
from .errors import error_response

log = logging.getLogger(__name__)
bp = Blueprint("models", __name__)


def _label(meta: dict[str, Any]) -> str | None:
    """A single model file's name in results (as the worker's `version_label`)."""
    return meta.get("version") or (str(meta.get("sha256") or "")[:12] or None)


def active_model() -> dict[str, Any] | Response:
    """The served model's metadata with its `version`: the active version's (model folder),
    or the single file's (as the workers publish it, else its `.json` beside it); an API
    without the model folder shows what the workers publish."""
    svc = services()
    if svc.settings.model_path is None:
        try:
            version = versions.active_version(svc.settings.model_dir)
            if version is not None:
                return versions.read_metadata(svc.settings.model_dir, version)
        except versions.VersionError as exc:
            return error_response(503, str(exc), {"Retry-After": "5"})
    meta = svc.store.model_metadata()  # an API without the model folder: the workers' word
    if meta is None and svc.settings.model_path is None:
        return error_response(503, f"no active model version in {svc.settings.model_dir}: "
                                   "train one (mnistq train)", {"Retry-After": "5"})
    if meta is None:
        sidecar = Path(svc.settings.model_path).with_suffix(".json")
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return error_response(503, "no model loaded yet: start a worker (or mnistq train)",
                                  {"Retry-After": "5"})
    return {**described(meta), "version": _label(meta)}


@bp.get("/models")
def list_models() -> Response:
    """`{"active", "versions": [metadata, oldest first], "workers": [{"name", "version",
    "error"}]}`; with MNISTQ_MODEL_PATH set, `versions` is empty and `active` names the file."""
    svc = services()
    workers = model_registry.served_by_workers(svc.store.redis, HEARTBEAT_MAX_AGE)
    if svc.settings.model_path is not None:
        served = active_model()
        active = served.get("version") if isinstance(served, dict) else None
        return jsonify(active=active, versions=[], workers=workers)
    try:
        active = versions.active_version(svc.settings.model_dir)
    except versions.VersionError as exc:
        return error_response(503, str(exc))
    listed = versions.list_versions(svc.settings.model_dir)
    for meta in listed:
        meta.pop("smoke", None)  # the smoke digits' figures: only the workers need them
    return jsonify(active=active, versions=listed, workers=workers)


@bp.put("/model")
def activate_model() -> Response:
    """Activate `{"version": NAME[, "force": true]}`: 404 unknown, 409 when its file fails
    its checksum or, unless forced, its MNIST test accuracy is more than 0.2 points below the
    active one's (`active` and `candidate` then carry both figures; nothing changes), else
    the pointer is written and the name published to the workers."""
    svc = services()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("version"), str):
        return error_response(400, 'send a JSON object {"version": "<version name>"}')
    if not isinstance(body.get("force", False), bool):
        return error_response(400, '"force" must be true or false')
    if svc.settings.model_path is not None:
        return error_response(409, "model versions are off: MNISTQ_MODEL_PATH names a single "
                                   "model file (unset it to serve MNISTQ_MODEL_DIR's versions)")
    version = body["version"]
    try:
        pointer = versions.activate(svc.settings.model_dir, version, force=body.get("force", False))
    except versions.GateRefused as exc:
        return error_response(409, str(exc), fields={"active": exc.active,
                                                     "candidate": exc.candidate})
    except versions.VersionError as exc:
        return error_response(exc.status, str(exc))
    model_registry.publish_active(svc.store.redis, version)
    log.info("model version %s activated (previous %s)", version,
             pointer.history[-1] if pointer.history else None)
    return jsonify(versions.read_metadata(svc.settings.model_dir, version))
