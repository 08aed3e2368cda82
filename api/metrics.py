"""`GET /metrics`: the whole system's figures in the Prometheus text format.

Two sources, one scrape:
- the system-wide counters and gauges (jobs, images, chunk and job durations, queue, workers,
  model) live in Redis, bumped by the job store's atomic scripts wherever the work happens
  (`common.metrics` says why); `SystemCollector` reads them in one round trip per scrape.
- the API's own request latencies are `prometheus_client` metrics of each API process. Under
  gunicorn those are several processes, so `prometheus_client`'s multiprocess mode is on: each
  process writes its figures to a memory-mapped file in one folder, and any process sums the
  folder when scraped. The folder is `PROMETHEUS_MULTIPROC_DIR` (the library's own variable)
  when set, else one per gunicorn master under the temp folder (its workers share it; a
  restarted master starts from zero, which Prometheus reads as a counter reset). Files of
  replaced workers stay, so request counters never go backwards while the master lives.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _multiprocess_dir() -> str | None:
    """The folder for multiprocess mode, made and announced before prometheus_client is
    imported (it reads the variable then); None outside gunicorn (one process: no folder)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        return given
    if "gunicorn" not in Path(sys.argv[0]).name:
        return None
    path = Path(tempfile.gettempdir()) / f"mnistq-metrics-{os.getuid()}-{os.getppid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return str(path)


MULTIPROCESS_DIR = _multiprocess_dir()

# ruff: noqa: E402  (prometheus_client must be imported after the folder is chosen)
import redis
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from common.jobs import ENDED
from common.jobstore import JobStore
from common.metrics import HISTOGRAMS, cost_fields, count, histogram
from common.queue import queue_keys
from common.redis_keys import HEARTBEAT_MAX_AGE
from core.results import READ_MODES

from .errors import error_response

bp = Blueprint("metrics", __name__)

HTTP_REQUEST_SECONDS = Histogram(
    "mnistq_http_request_seconds", "Time to answer an HTTP request, by route pattern.",
    ["route", "method", "status"], registry=None,
)

_HELP = {
    "chunk_seconds": "Time a worker took for one chunk, from fetching its images to "
                     "recording its results.",
    "job_seconds": "Time from a job's creation to its end (succeeded, cancelled or failed).",
}


class SystemCollector(Collector):
    """The Redis-held figures of the whole system (every worker, every API process)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        snap = self.store.metrics_snapshot(queue_keys(), HEARTBEAT_MAX_AGE)
        c = snap.counters
        yield CounterMetricFamily("mnistq_jobs_created", "Jobs accepted.",
                                  value=count(c, "jobs_created"))
        ended = CounterMetricFamily("mnistq_jobs_ended", "Jobs ended, by final status.",
                                    labels=["status"])
        for status in sorted(ENDED):
            ended.add_metric([status], count(c, f"jobs_ended:{status}"))
        yield ended
        images = CounterMetricFamily("mnistq_images", "Images processed: read (a digit) or "
                                     "error (a per-file error).", labels=["outcome"])
        images.add_metric(["read"], count(c, "images:read"))
        images.add_metric(["error"], count(c, "images:error"))
        yield images
        yield from _reading_cost(c)
        yield GaugeMetricFamily("mnistq_queue_chunks", "Chunks waiting in the broker.",
                                value=snap.queue_chunks)
        yield GaugeMetricFamily("mnistq_jobs_unfinished", "Jobs queued or running.",
                                value=snap.unfinished)
        yield GaugeMetricFamily("mnistq_workers_live", "Worker processes with a recent "
                                "heartbeat (model loaded).", value=snap.workers_live)
        for name in HISTOGRAMS:
            h = histogram(c, name)
            yield HistogramMetricFamily(
                f"mnistq_{name}", _HELP[name], sum_value=h.total,
                buckets=[(floatToGoString(bound), n) for bound, n in h.buckets],
            )
        if snap.model_version is not None:
            yield InfoMetricFamily("mnistq_model", "The model version the workers serve.",
                                   value={"version": snap.model_version})


def _reading_cost(counters: dict[str, str]) -> Iterator[Metric]:
    """What reading an image costs the workers, by read mode: the figure big jobs' chunks are
    cut by, and an operator's capacity (a worker process reads 1 / (CPU s per image) a second).
    """
    cpu = CounterMetricFamily("mnistq_read_cpu_seconds", "CPU time of the worker threads "
                              "reading big jobs' chunks, by read mode.", labels=["read"])
    images = CounterMetricFamily("mnistq_read_images", "Images in the chunks that "
                                 "mnistq_read_cpu_seconds counts, by read mode.",
                                 labels=["read"])
    for mode in READ_MODES:
        seconds_field, images_field = cost_fields(mode)
        cpu.add_metric([mode], float(counters.get(seconds_field, 0)))
        images.add_metric([mode], count(counters, images_field))
    yield cpu
    yield images


def init_app(app: Flask, store: JobStore) -> None:
    """Time every request and serve `/metrics` from a registry of both sources."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS_DIR:
        MultiProcessCollector(registry, MULTIPROCESS_DIR)
    else:
        registry.register(HTTP_REQUEST_SECONDS)
    registry.register(SystemCollector(store))
    app.extensions["mnistq.metrics"] = registry
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)


def _start_timer() -> None:
    g.mnistq_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("mnistq_started")
    if started is not None:
        rule = request.url_rule
        HTTP_REQUEST_SECONDS.labels(
            rule.rule if rule is not None else "unmatched", request.method,
            str(response.status_code),
        ).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus text format; 503 when Redis (which holds the system's figures) is down."""
    try:
        body = generate_latest(current_app.extensions["mnistq.metrics"])
    except redis.RedisError as exc:
        return error_response(503, f"metrics unavailable: Redis unreachable ({exc})",
                              {"Retry-After": "5"})
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
