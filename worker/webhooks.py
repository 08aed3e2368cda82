"""The webhook delivery task: POST a job's end to its `callback_url`, retried with backoff.

Each attempt is counted in the job (`GET /api/v1/jobs/<id>` shows `callback: {"status",
"attempts", "last_error"}`). A failed attempt schedules the next one with Celery's own retry
(a new message with a countdown: it survives worker restarts, and a worker keeps serving
chunks meanwhile), `common.webhooks.backoff` seconds later, until MNISTQ_WEBHOOK_MAX_ATTEMPTS.
"""

from __future__ import annotations

import logging

from celery import Task

from common.webhooks import DELIVER_WEBHOOK, Delivery, backoff, post
from worker.app import app, settings
from worker.tasks import process

log = logging.getLogger(__name__)


@app.task(name=DELIVER_WEBHOOK, bind=True, max_retries=None)
def deliver_webhook(self: Task, job_id: str, delivery_id: str) -> str:
    """One attempt; returns the callback status after it (`delivered`, `retrying`, `failed`)."""
    process.load()
    store = process.store
    assert store is not None
    target = store.callback_target(job_id)
    if target is None:
        log.info("job %s: webhook dropped, job expired", job_id, extra={"job": job_id})
        return "gone"
    url, payload = target
    error = post(Delivery(url, delivery_id, payload), settings)
    attempt = int(self.request.retries) + 1
    last = attempt >= settings.webhook_max_attempts
    status = "delivered" if error is None else ("failed" if last else "retrying")
    store.record_callback_attempt(job_id, status, error)
    context = {"job": job_id, "delivery": delivery_id, "attempt": attempt}
    if error is None:
        log.info("job %s: webhook delivered (attempt %d)", job_id, attempt, extra=context)
        return status
    if last:
        log.warning("job %s: webhook given up after %d attempts: %s", job_id, attempt, error,
                    extra=context)
        return status
    delay = backoff(attempt, settings.webhook_backoff)
    log.info("job %s: webhook attempt %d failed (%s); next in %.1f s", job_id, attempt, error,
             delay, extra=context)
    raise self.retry(countdown=delay)
