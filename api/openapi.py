"""The OpenAPI 3 document of the API, served at `/api/v1/openapi.json`.

Written by hand next to the handlers it describes; `tests/test_api_openapi.py` checks that
every Flask route is in it, and schemathesis checks the live API against it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)

STATUSES = ["queued", "running", "succeeded", "cancelled", "failed"]


def _json(
    description: str, schema: str, headers: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A response whose JSON body is the component `schema`, with optional headers and links."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return response


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _json(description, "Error", headers)


_RETRY_AFTER = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}
_UNAUTHORIZED = _error("API key missing or wrong (only when MNISTQ_API_KEY is set)")
_UNAVAILABLE = _error("the job store (Redis) is unavailable", _RETRY_AFTER)
_NOT_FOUND = _error("unknown or malformed job id (or one that expired over a week ago)")
_GONE = _error("the job expired (MNISTQ_JOB_TTL): 'job expired at <ISO 8601 time>'")
_JOB_ID = {
    "name": "job_id", "in": "path", "required": True,
    "description": "job id (32 hex digits)", "schema": {"type": "string"},
}
_WAIT = {
    "name": "wait", "in": "query", "required": False,
    "description": "long-poll: seconds to wait for the job to end (capped by MNISTQ_MAX_WAIT)",
    "schema": {"type": "number", "minimum": 0},
}
_READ = {
    "name": "read", "in": "query", "required": False,
    "description": "what each image holds: one digit (default) or a number (also accepted "
                   "as a multipart form field `read`; when both are given, both must be valid "
                   "and the query's wins)",
    "schema": {"type": "string", "enum": ["digit", "number"]},
}

_CALLBACK_NOTE = (
    "With `callback_url` (query parameter or form field) the service POSTs the job's end to "
    "that URL, signed; only hosts the operator allowed (MNISTQ_WEBHOOK_HOSTS) are accepted, "
    "anything else is a 400 and no job is created (docs/operations.md). It is not a "
    "documented parameter here because whether a URL is accepted depends on that setting."
)


def _job(description: str, links: bool = False) -> dict[str, Any]:
    return _json(description, "Job", links=_LINKS if links else None)


_LINKS = {
    name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}}
    for name, operation in (("GetJob", "getJob"), ("CancelJob", "cancelJob"),
                            ("GetResults", "getResults"))
}


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "mnist-queue",
        "version": "1",
        "description": "Upload images of handwritten digits as a job; read the predictions.",
    },
    "security": [{"bearer": []}, {}],
    "paths": {
        "/api/v1/jobs": {
            "post": {
                "summary": "Upload images as one job",
                "operationId": "createJob",
                "description": _CALLBACK_NOTE,
                "parameters": [_WAIT, _READ],
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"files": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "minItems": 1,
                            }, "read": {"type": "string", "enum": ["digit", "number"]}},
                            "required": ["files"],
                        },
                    }},
                },
                "responses": {
                    "200": _job("with ?wait: the job ended within the wait", links=True),
                    "202": {
                        "description": "accepted: the job is queued",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "links": _LINKS,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/JobCreated"},
                        }},
                    },
                    "400": _error("no files, a bad wait or read value, or a refused "
                                  "callback_url"),
                    "401": _UNAUTHORIZED,
                    "413": _error("too many files or bytes"),
                    "429": _error("too many unfinished jobs", _RETRY_AFTER),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/v1/jobs/{job_id}": {
            "get": {
                "summary": "The job: status, counts, and results once ended",
                "operationId": "getJob",
                "parameters": [_JOB_ID, _WAIT],
                "responses": {
                    "200": _job("the job"),
                    "400": _error("bad wait value"),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "410": _GONE,
                    "503": _UNAVAILABLE,
                },
            },
            "delete": {
                "summary": "Cancel the job; images not yet predicted are skipped",
                "operationId": "cancelJob",
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _job("cancelled"),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "410": _GONE,
                    "409": _error("the job had already ended"),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/v1/jobs/{job_id}/events": {
            "get": {
                "summary": "The job's progress as Server-Sent Events until it ends",
                "operationId": "getJobEvents",
                "parameters": [_JOB_ID, {
                    "name": "Last-Event-ID", "in": "header", "required": False,
                    "description": "resume: the id of the last event seen",
                    "schema": {"type": "string"},
                }],
                "responses": {
                    "200": {
                        "description": "`progress` events ({processed, failed, status, "
                                       "total}), then `end` (the final counts and status)",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "410": _GONE,
                    "503": _error("too many event streams open (long-poll instead), or "
                                  "Redis unavailable", _RETRY_AFTER),
                },
            },
        },
        "/api/v1/jobs/{job_id}/results": {
            "get": {
                "summary": "The results so far (partial while running), as a download",
                "operationId": "getResults",
                "parameters": [_JOB_ID, {
                    "name": "format", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
                }],
                "responses": {
                    "200": {
                        "description": "results in upload order",
                        "content": {
                            "application/json": {"schema": {
                                "type": "array", "items": {"$ref": "#/components/schemas/Result"},
                            }},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "400": _error("bad format"),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "410": _GONE,
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/v1/jobs/{job_id}/results/{index}": {
            "put": {
                "summary": "Record a person's correction (or confirmation) of one result",
                "operationId": "correctResult",
                "description": "Digit mode takes `{\"label\": 0-9}`, number mode "
                               "`{\"text\": \"digits\"}`. The correction is kept in the "
                               "corrections store (MNISTQ_CORRECTIONS_DIR) with the normalised "
                               "digit, and the result shows it as `corrected` from then on.",
                "parameters": [_JOB_ID, {
                    "name": "index", "in": "path", "required": True,
                    "description": "the result's index (its position in the upload)",
                    "schema": {"type": "integer", "minimum": 0},
                }],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Correction"}}},
                },
                "responses": {
                    "200": _json("the result with its `corrected`", "Result"),
                    "400": _error("a label that is not an integer 0-9, a text that is not "
                                  "digits, or the other mode's field"),
                    "401": _UNAUTHORIZED,
                    "404": _error("unknown or malformed job id, or an index outside the job"),
                    "409": _error("the job has not ended, or the result has no digit image "
                                  "to keep (a file that could not be read)"),
                    "410": _GONE,
                    "503": _UNAVAILABLE,
                    "507": _error("the corrections store's disk is full: nothing recorded"),
                },
            },
        },
        "/api/v1/model": {
            "get": {
                "summary": "Metadata of the served model (the active version), with `version`",
                "operationId": "getModel",
                "responses": {
                    "200": {
                        "description": "model metadata",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "401": _UNAUTHORIZED,
                    "503": _error("no model loaded yet, or Redis unavailable", _RETRY_AFTER),
                },
            },
            "put": {
                "summary": "Activate a model version; every worker switches between two chunks",
                "operationId": "activateModel",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"version": {"type": "string"},
                                       "force": {"type": "boolean"}},
                        "required": ["version"],
                    }}},
                },
                "responses": {
                    "200": {
                        "description": "the activated version's metadata",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "400": _error("not a JSON object with a version"),
                    "401": _UNAUTHORIZED,
                    "404": _error("unknown version"),
                    "409": _error("the version's file fails its checksum, or (unless "
                                  "`force`) its MNIST test accuracy is more than 0.2 points "
                                  "below the active one's: `active` and `candidate` carry "
                                  "both figures; nothing changes. Or versions are off "
                                  "(MNISTQ_MODEL_PATH is set)"),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/v1/models": {
            "get": {
                "summary": "The model versions, the active one, and what each worker serves",
                "operationId": "listModels",
                "responses": {
                    "200": {
                        "description": "versions (oldest first) and live workers",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "active": {"type": "string", "nullable": True},
                                "versions": {"type": "array", "items": {"type": "object"}},
                                "workers": {"type": "array", "items": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string"},
                                        "version": {"type": "string", "nullable": True},
                                        "error": {"type": "string", "nullable": True},
                                    },
                                    "required": ["name", "version", "error"],
                                }},
                            },
                            "required": ["active", "versions", "workers"],
                        }}},
                    },
                    "401": _UNAUTHORIZED,
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "getOpenApi",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "401": _UNAUTHORIZED,
                },
            },
        },
        "/metrics": {
            "get": {
                "summary": "The whole system's figures for Prometheus (docs/operations.md)",
                "operationId": "metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "the Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "503": _error("Redis, which holds the figures, is unavailable",
                                  _RETRY_AFTER),
                },
            },
        },
        "/healthz": {
            "get": {
                "summary": "The API process lives",
                "operationId": "healthz",
                "security": [],
                "responses": {"200": {
                    "description": "alive",
                    "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"status": {"type": "string"}},
                        "required": ["status"],
                    }}},
                }},
            },
        },
        "/readyz": {
            "get": {
                "summary": "Redis answers and a worker with the model loaded is alive",
                "operationId": "readyz",
                "security": [],
                "responses": {
                    "200": {
                        "description": "ready",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "string"},
                                "workers": {"type": "integer", "minimum": 1},
                            },
                            "required": ["status", "workers"],
                        }}},
                    },
                    "503": _error("not ready, with the reason", _RETRY_AFTER),
                },
            },
        },
        "/": {
            "get": {
                "summary": "The web page (api/page.py)",
                "operationId": "page",
                "security": [],
                "responses": {"200": {
                    "description": "the page",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }},
            },
        },
        "/assets/{version}/{name}": {
            "get": {
                "summary": "A script or stylesheet of the page",
                "operationId": "pageAsset",
                "security": [],
                "parameters": [
                    {"name": "version", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                    {"name": "name", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "the asset",
                        "content": {"*/*": {"schema": {"type": "string"}}},
                    },
                    "404": _error("no such asset"),
                },
            },
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            },
            "Result": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "filename": {"type": "string"},
                    "prediction": {"type": "integer", "minimum": 0, "maximum": 9,
                                   "nullable": True},
                    "confidence": {"type": "number", "nullable": True},
                    "runner_up": {"type": "integer", "minimum": 0, "maximum": 9,
                                  "nullable": True},
                    "error": {"type": "string", "nullable": True},
                    "box": {
                        "type": "array", "items": {"type": "integer", "minimum": 0},
                        "minItems": 4, "maxItems": 4, "nullable": True,
                        "description": "[x, y, width, height] of the digit read, in pixels "
                                       "of the upright uploaded image (after its EXIF "
                                       "orientation); null with an error",
                    },
                    "model": {"type": "string", "nullable": True,
                              "description": "the model version that read the image"},
                    "text": {"type": "string", "pattern": "^[0-9]+$", "nullable": True,
                             "description": "number mode: the digits left to right"},
                    "digits": {
                        "type": "array", "nullable": True,
                        "description": "number mode: each digit left to right",
                        "items": {"$ref": "#/components/schemas/DigitRead"},
                    },
                    "corrected": {
                        "description": "a person's reading (PUT .../results/{index}): the "
                                       "digit, or in number mode the text; absent until then",
                        "oneOf": [{"type": "integer", "minimum": 0, "maximum": 9},
                                  {"type": "string", "pattern": "^[0-9]+$"}],
                    },
                },
                "required": ["index", "filename", "prediction", "confidence", "runner_up",
                             "error", "box"],
            },
            "Correction": {
                "type": "object",
                "description": "`label` for a digit job, `text` for a number job",
                "properties": {
                    "label": {"type": "integer", "minimum": 0, "maximum": 9},
                    "text": {"type": "string", "pattern": "^[0-9]+$", "minLength": 1,
                             "maxLength": 64},
                },
            },
            "DigitRead": {
                "type": "object",
                "properties": {
                    "prediction": {"type": "integer", "minimum": 0, "maximum": 9},
                    "confidence": {"type": "number"},
                    "runner_up": {"type": "integer", "minimum": 0, "maximum": 9},
                    "box": {"type": "array", "items": {"type": "integer", "minimum": 0},
                            "minItems": 4, "maxItems": 4},
                },
                "required": ["prediction", "confidence", "runner_up", "box"],
            },
            "JobCreated": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": STATUSES},
                    "read": {"type": "string", "enum": ["digit", "number"]},
                    "total": {"type": "integer", "minimum": 1},
                    "url": {"type": "string"},
                },
                "required": ["id", "status", "total", "url"],
            },
            "Job": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": STATUSES},
                    "total": {"type": "integer", "minimum": 0},
                    "processed": {"type": "integer", "minimum": 0},
                    "failed": {"type": "integer", "minimum": 0},
                    "created_at": {"type": "string", "format": "date-time"},
                    "finished_at": {"type": "string", "format": "date-time", "nullable": True},
                    "callback": {
                        "type": "object",
                        "description": "the webhook's delivery (jobs with a callback_url)",
                        "properties": {
                            "status": {"type": "string", "enum": [
                                "pending", "retrying", "delivered", "failed"]},
                            "attempts": {"type": "integer", "minimum": 0},
                            "last_error": {"type": "string", "nullable": True},
                        },
                    },
                    "models": {"type": "array", "items": {"type": "string"},
                               "description": "the model versions that read the job"},
                    "read": {"type": "string", "enum": ["digit", "number"]},
                    "results": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Result"},
                        "nullable": True,
                    },
                    "url": {"type": "string"},
                },
                "required": ["id", "status", "total", "processed", "failed", "created_at",
                             "finished_at", "results"],
            },
        },
    },
}

# Every operation: a request line longer than the HTTP server reads is refused by the server
# itself (gunicorn's `limit_request_line`), before the API sees it, with its own page.
_URI_TOO_LONG = {
    "description": "the request line (method, path and query) is over the HTTP server's "
                   "4,094 bytes: answered by the server itself with its own HTML page",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
for _operations in SPEC["paths"].values():
    for _operation in _operations.values():
        _operation["responses"].setdefault("414", _URI_TOO_LONG)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(SPEC)
