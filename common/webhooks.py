"""Completion webhooks: which callback URLs are allowed, how a delivery is signed and sent,
how long to wait before the next attempt.

A job created with `callback_url` gets one POST when it ends: the body
`{"id","status","total","processed","failed","url"}`, signed like GitHub's and Stripe's
webhooks (`X-Mnistq-Signature: sha256=<hex HMAC-SHA256 of the body with
MNISTQ_WEBHOOK_SECRET>`), with `X-Mnistq-Delivery` (one id per job, the same on every
retry: receivers deduplicate by it) and `X-Mnistq-Timestamp` (seconds since the epoch).

Calling out is a server-side request forgery risk, so: only hosts listed in
MNISTQ_WEBHOOK_HOSTS (none by default: webhooks are off), http(s) only, no credentials in the
URL, redirects never followed, bounded timeouts and response size. The worker's task
(`worker.webhooks`) retries with exponential backoff and jitter.

Not lost on the way: the script that ends a job also puts it in an outbox
(`mnistq:webhooks:due`) in the same step; queuing the delivery takes it out. Should the
process that ended the job die in between, a worker's heartbeat finds the entry overdue
(MNISTQ_WEBHOOK_RESEND_AFTER) and queues it (`resend_overdue`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from common.queue import WEBHOOK
from common.settings import Settings

log = logging.getLogger(__name__)

DELIVER_WEBHOOK = "mnistq.deliver_webhook"
MAX_URL_LENGTH = 2048
MAX_RESPONSE_BYTES = 64 * 1024
"""Bytes of a receiver's answer read at most (the body is ignored: only the status counts)."""
SIGNATURE_HEADER = "X-Mnistq-Signature"
DELIVERY_HEADER = "X-Mnistq-Delivery"
TIMESTAMP_HEADER = "X-Mnistq-Timestamp"


class BadCallback(ValueError):
    """A callback URL the service will not call (the API answers 400 with the reason)."""


def allowed_hosts(settings: Settings) -> set[str]:
    """MNISTQ_WEBHOOK_HOSTS as a set of lower-case `host` or `host:port` entries."""
    raw = settings.webhook_hosts or ""
    return {entry.strip().lower() for entry in raw.split(",") if entry.strip()}


def check_callback_url(url: str, settings: Settings) -> str:
    """The URL when the service may call it; else BadCallback saying why."""
    hosts = allowed_hosts(settings)
    if not hosts or not settings.webhook_secret:
        raise BadCallback("webhooks are off: the service has no MNISTQ_WEBHOOK_HOSTS "
                          "(allowed hosts) and MNISTQ_WEBHOOK_SECRET configured")
    if len(url) > MAX_URL_LENGTH:
        raise BadCallback(f"callback_url longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadCallback(f"callback_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise BadCallback("callback_url must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise BadCallback("callback_url must not contain credentials (user:password@)")
    host = (parts.hostname or "").lower()
    if not host:
        raise BadCallback("callback_url has no host")
    if host not in hosts and f"{host}:{port or _default_port(parts.scheme)}" not in hosts:
        raise BadCallback(f"callback_url host {host!r} is not allowed (MNISTQ_WEBHOOK_HOSTS)")
    return url


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempt: int, base: float) -> float:
    """Seconds before attempt `attempt + 1`: base x 2^(attempt-1), times a jitter in
    [0.5, 1.5) so that receivers coming back are not hit by every sender at once. With the
    default base of 30 s, 8 attempts span about an hour (30 s ... 32 min)."""
    return base * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)


@dataclass(frozen=True)
class Delivery:
    """One webhook of one job: where, what, and its id (the same on every retry)."""

    url: str
    delivery_id: str
    payload: dict[str, Any]

    def body(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()


def post(delivery: Delivery, settings: Settings) -> str | None:
    """POST the delivery once; None when the receiver answered 2xx, else what went wrong."""
    try:
        check_callback_url(delivery.url, settings)  # the allow-list may have changed since
    except BadCallback as exc:
        return str(exc)
    body = delivery.body()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "mnist-queue-webhook",
        SIGNATURE_HEADER: sign(body, settings.webhook_secret or ""),
        DELIVERY_HEADER: delivery.delivery_id,
        TIMESTAMP_HEADER: str(int(time.time())),
    }
    timeout = settings.webhook_timeout
    try:
        with requests.post(delivery.url, data=body, headers=headers, allow_redirects=False,
                           timeout=(timeout, timeout), stream=True) as response:
            received = 0
            for piece in response.iter_content(8192):
                received += len(piece)
                if received >= MAX_RESPONSE_BYTES:
                    break
            if 200 <= response.status_code < 300:
                return None
            if 300 <= response.status_code < 400:
                return f"HTTP {response.status_code}: redirects are not followed"
            return f"HTTP {response.status_code}"
    except requests.Timeout:
        return f"timed out after {timeout} s"
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"


def announce_end(store: Any, celery: Any, job_id: str) -> None:
    """Once a job has ended: when it asked for a webhook (and nobody sent it yet), queue its
    delivery on the workers' queue, where it survives API restarts and is retried. Should
    this process die before, the job stays in the outbox and `resend_overdue` queues it."""
    delivery_id = store.begin_callback(job_id)
    if delivery_id is not None:
        _queue(store, celery, job_id, delivery_id)


def resend_overdue(store: Any, celery: Any, grace: float) -> int:
    """Queue the webhooks of jobs that ended `grace` seconds ago or more and whose delivery
    was never queued (the process that ended the job died first; workers call this with
    their heartbeat). A delivery queued twice keeps its id, so receivers see one event."""
    overdue = store.overdue_callbacks(grace)
    for job_id, delivery_id in overdue:
        log.warning("job %s: webhook was never queued; queuing it now", job_id,
                    extra={"job": job_id, "delivery": delivery_id})
        _queue(store, celery, job_id, delivery_id)
    return len(overdue)


def _queue(store: Any, celery: Any, job_id: str, delivery_id: str) -> None:
    celery.send_task(DELIVER_WEBHOOK, args=[job_id, delivery_id], priority=WEBHOOK)
    store.callback_queued(job_id)
