"""`mnistq submit`: upload files (or folders of images) as one job to a running service.

Without `--wait` it prints the accepted job (id, url) and exits. With `--wait` it shows a
progress bar on stderr, then prints the results to stdout (the job as JSON, or CSV).
Exit codes: 0 succeeded, 1 the job failed or was cancelled, 2 nothing to upload,
3 the service cannot be reached or refused the upload.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path
from typing import Any

import requests

from cli import events
from cli.files import collect_images
from cli.progress import JobProgress
from common.settings import Settings
from core.results import READ_MODES

DEFAULT_URL = "http://127.0.0.1:5000"
POLL = 0.5  # seconds per long-poll while showing progress


class ServiceError(Exception):
    """The service could not be reached or answered with an error."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit", help="upload images as one job and print the results",
        description="Upload files (folders: their image files) as one job.",
    )
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the service (default {DEFAULT_URL})")
    parser.add_argument("--wait", action="store_true",
                        help="wait for the job, showing progress, and print its results")
    parser.add_argument("--format", choices=("json", "csv"), default="json",
                        help="results as the job's JSON (default) or CSV")
    parser.add_argument("--read", choices=READ_MODES, default="digit",
                        help="what each image holds: one digit (default) or a number")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    files = collect_images(args.paths, "mnistq submit").files
    if not files:
        print("mnistq submit: no files to upload", file=sys.stderr)
        return 2
    session = requests.Session()
    if settings.api_key:
        session.headers["Authorization"] = f"Bearer {settings.api_key}"
    base = args.url.rstrip("/")
    try:
        job = upload(session, base, files, args.read)
        print(f"job {job['id']}: {job['total']} files uploaded", file=sys.stderr)
        if not args.wait:
            print(json.dumps(job, indent=2))
            return 0
        job = follow(session, base, job)
        if args.format == "csv":
            response = _check(session.get(f"{base}{job['url']}/results", params={"format": "csv"},
                                          timeout=60))
            sys.stdout.write(response.text)
        else:
            print(json.dumps(job, indent=2))
    except ServiceError as exc:
        print(f"mnistq submit: {exc}", file=sys.stderr)
        return 3
    except requests.RequestException as exc:
        print(f"mnistq submit: cannot reach the service at {base}: {unreachable_reason(exc)}",
              file=sys.stderr)
        return 3
    if job["status"] != "succeeded":
        print(f"mnistq submit: job {job['id']} {job['status']}", file=sys.stderr)
        return 1
    return 0


def upload(session: requests.Session, base: str, files: list[tuple[str, Path]],
           read: str = "digit") -> dict[str, Any]:
    parts = [("files", (name, path.read_bytes(), "application/octet-stream"))
             for name, path in files]
    params = {"read": read} if read != "digit" else {}
    return _check(session.post(f"{base}/api/v1/jobs", files=parts, params=params,
                               timeout=300)).json()


def follow(session: requests.Session, base: str, job: dict[str, Any]) -> dict[str, Any]:
    """Follow the job's event stream (long-polls when refused) until it ends, drawing a
    progress bar on stderr."""
    url = f"{base}{job['url']}"
    bar = JobProgress(job["total"])

    def poll() -> dict[str, Any]:
        return _check(session.get(url, params={"wait": POLL}, timeout=POLL + 30)).json()

    try:
        return events.follow(session, url, bar.show, poll)
    finally:
        bar.close()


REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (socket.gaierror, "host name not found"),
    (ConnectionResetError, "connection reset"),
    (TimeoutError, "timed out"),
    (requests.Timeout, "timed out"),
    (requests.exceptions.SSLError, "TLS error"),
    (requests.exceptions.InvalidURL, "not a valid URL"),
)


def unreachable_reason(exc: requests.RequestException) -> str:
    """The cause of a failed request in a few words, not urllib3's nested message: the
    innermost known cause along the chain (requests -> urllib3 -> socket)."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        nested = [a for a in (getattr(cause, "reason", None), *cause.args)
                  if isinstance(a, BaseException)]
        cause = cause.__cause__ or (nested[0] if nested else cause.__context__)
    for found in reversed(chain):
        for kind, reason in REASONS:
            if isinstance(found, kind):
                return reason
    return type(chain[-1]).__name__


def _check(response: requests.Response) -> requests.Response:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise ServiceError(f"{response.request.method} {response.url}: "
                           f"{response.status_code} {message}")
    return response
