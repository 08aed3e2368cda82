"""An operator scrapes the service with a real Prometheus and reads the figures back from it."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

from api.app import create_app
from common.settings import Settings
from tests.stack import ROOT, Stack, spawn, start_api, start_worker
from tests.support import encode, free_port, wait_for

ALERTS = ROOT / "monitoring" / "alerts.yml"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="Debian package prometheus missing (scripts/install-system-deps.sh installs it)",
)


def sample_files(n: int, bad: int = 0) -> list[tuple[str, tuple[str, bytes, str]]]:
    digit = (ROOT / "images_test").glob("*.png").__next__().read_bytes()
    files = [("files", (f"{i}.png", digit, "image/png")) for i in range(n)]
    files += [("files", (f"bad{i}.png", b"not an image", "image/png")) for i in range(bad)]
    return files


def submit(url: str, n: int, bad: int = 0) -> dict:
    response = requests.post(f"{url}/api/v1/jobs", files=sample_files(n, bad),
                             params={"wait": 30}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


class Prometheus:
    """A real `prometheus` scraping one target every second, with a temp data folder."""

    def __init__(self, target: str, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [{"job_name": "mnistq", "static_configs": [{"targets": [target]}]}],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = spawn("prometheus", [
            str(PROMETHEUS), f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ], {"PATH": "/usr/bin:/bin"}, folder / "prometheus.log")
        wait_for(lambda: requests.get(f"{self.url}/-/ready", timeout=2).ok, timeout=30,
                 what="prometheus ready", alive=self.process.alive)

    def value(self, query: str) -> float | None:
        """The query's single value now, or None when it has no sample (yet)."""
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": query},
                              timeout=5).json()
        assert answer["status"] == "success", answer
        result = answer["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, query: str, expected: float, timeout: float = 30) -> None:
        seen: list[float | None] = []

        def reached() -> bool:
            seen.append(self.value(query))
            return seen[-1] == expected

        try:
            wait_for(reached, timeout=timeout, interval=0.2, alive=self.process.alive)
        except TimeoutError:
            pytest.fail(f"{query}: {seen[-1:]} after {timeout} s, expected {expected}")


@pytest.fixture()
def prometheus_stack(settings: Settings, tmp_path: Path) -> Iterator[tuple[Stack, Prometheus]]:
    """One worker, the API with two gunicorn processes (multiprocess metrics), Prometheus."""
    with ExitStack() as stop:
        env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
        (tmp_path / "metrics").mkdir()
        worker = start_worker(settings, "w0", log_dir=tmp_path)
        stop.callback(lambda: worker.stop())
        api = start_api(settings, extra_env=env, log_dir=tmp_path, workers=2)
        stop.callback(api.stop)
        prometheus = Prometheus(api.url.removeprefix("http://"), tmp_path / "prometheus")
        stop.callback(prometheus.process.stop)
        stack = Stack(api.url, settings, api, [worker])
        yield stack, prometheus


@pytest.mark.slow
@needs_prometheus
def test_prometheus_scrapes_the_whole_system(prometheus_stack, settings, tmp_path) -> None:
    stack, prom = prometheus_stack
    prom.wait_value('up{job="mnistq"}', 1)
    prom.wait_value("mnistq_workers_live", 1)

    for n, bad in ((5, 0), (3, 1), (1, 0)):
        assert submit(stack.url, n, bad)["status"] == "succeeded"

    prom.wait_value("mnistq_jobs_created_total", 3)
    prom.wait_value('mnistq_jobs_ended_total{status="succeeded"}', 3)
    prom.wait_value('mnistq_images_total{outcome="read"}', 9)
    prom.wait_value('mnistq_images_total{outcome="error"}', 1)
    prom.wait_value("mnistq_job_seconds_count", 3)
    prom.wait_value("mnistq_jobs_unfinished", 0)
    prom.wait_value("mnistq_queue_chunks", 0)
    assert prom.value("mnistq_chunk_seconds_count") >= 3
    assert prom.value("count(mnistq_model_info)") == 1
    # the API's two gunicorn processes answered between them; the scrape sums both
    prom.wait_value('sum(mnistq_http_request_seconds_count{route="/api/v1/jobs",'
                    'method="POST",status="200"})', 3)
    # small jobs are not in the reading cost; a big job's chunks are
    assert prom.value('mnistq_read_images_total{read="digit"}') == 0
    assert submit(stack.url, 100)["status"] == "succeeded"
    prom.wait_value('mnistq_read_images_total{read="digit"}', 100)
    assert prom.value('mnistq_read_cpu_seconds_total{read="digit"}') > 0
    assert prom.value('mnistq_read_images_total{read="number"}') == 0

    # a replaced worker (another process, as on another host) continues the same counters
    stack.workers[0].stop()
    prom.wait_value("mnistq_workers_live", 0, timeout=30)
    replacement = start_worker(settings, "w1", log_dir=tmp_path)
    try:
        assert submit(stack.url, 2)["status"] == "succeeded"
        prom.wait_value('mnistq_images_total{outcome="read"}', 111)
        prom.wait_value('mnistq_jobs_ended_total{status="succeeded"}', 5)
    finally:
        replacement.stop()


def test_metrics_page_names_every_metric_in_the_text_format(settings) -> None:
    client = create_app(settings).test_client()
    client.post("/api/v1/jobs", data={"files": []})  # a 400: still timed
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for name in ("mnistq_jobs_created_total", "mnistq_jobs_ended_total",
                 "mnistq_images_total", "mnistq_queue_chunks", "mnistq_jobs_unfinished",
                 "mnistq_workers_live", "mnistq_chunk_seconds_bucket",
                 "mnistq_job_seconds_bucket", "mnistq_http_request_seconds_bucket",
                 'mnistq_read_cpu_seconds_total{read="number"}',
                 'mnistq_read_images_total{read="digit"}'):
        assert f"\n{name}" in text, name
    assert 'route="/api/v1/jobs",status="400"' in text


def test_a_cancelled_job_counts_as_ended_cancelled(settings) -> None:
    client = create_app(settings).test_client()
    png = encode(np.zeros((28, 28), "uint8"))
    job = client.post("/api/v1/jobs", data={"files": [(io.BytesIO(png), "a.png")]},
                      content_type="multipart/form-data").get_json()
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert 'mnistq_jobs_ended_total{status="cancelled"} 1.0' in text
    assert "mnistq_job_seconds_count 1.0" in text
    assert "mnistq_queue_chunks 1.0" in text  # nobody read it: still in the broker


@needs_prometheus
def test_the_alert_rules_pass_promtool_and_match_the_docs() -> None:
    check = subprocess.run([str(PROMTOOL), "check", "rules", str(ALERTS)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 3 rules found" in check.stdout
    docs = (ROOT / "docs" / "operations.md").read_text()
    assert ALERTS.read_text().strip() in docs
    config = subprocess.run([str(PROMTOOL), "check", "config",
                             str(ROOT / "monitoring" / "prometheus.yml")],
                            capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr
