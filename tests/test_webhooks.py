"""A client is told when its job ends: a signed POST to its callback_url, retried until the
receiver takes it."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests

from api.app import create_app
from common.jobstore import JobStore
from common.redis_keys import UNFINISHED_KEY
from common.settings import Settings
from common.webhooks import backoff
from tests.conftest import IMAGES_TEST
from tests.faulty_worker import DIES_BEFORE_WEBHOOK
from tests.reliability import FAULTY_APP
from tests.stack import Stack, running_stack
from tests.support import encode, free_port, wait_for

SECRET = "test-secret-not-real"


class Receiver:
    """A webhook receiver on 127.0.0.1 that verifies signatures and deduplicates by
    delivery id, as a client's would. `hold` makes it keep its first answer back."""

    def __init__(self, port: int | None = None, hold: threading.Event | None = None) -> None:
        self.deliveries: list[dict] = []  # every request received, duplicates included
        self.seen: dict[str, dict] = {}  # delivery id -> body: what the client acts on
        self.hold = hold
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body,
                                                hashlib.sha256).hexdigest()
                delivery = {"id": self.headers["X-Mnistq-Delivery"], "body": json.loads(body),
                            "signed": hmac.compare_digest(
                                expected, self.headers["X-Mnistq-Signature"]),
                            "timestamp": self.headers["X-Mnistq-Timestamp"]}
                receiver.deliveries.append(delivery)
                receiver.seen.setdefault(delivery["id"], delivery["body"])
                if receiver.hold is not None and len(receiver.deliveries) == 1:
                    receiver.hold.wait(30)  # the sender times out meanwhile
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def webhook_settings(settings: Settings, **more: object) -> Settings:
    return replace(settings, webhook_hosts="127.0.0.1", webhook_secret=SECRET,
                   webhook_backoff=0.2, webhook_timeout=1.0, **more)


@pytest.fixture()
def hook_stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(webhook_settings(settings), tmp_path / "logs") as stack:
        yield stack


def submit(stack: Stack, callback_url: str, n: int = 3, sample: bytes | None = None) -> dict:
    sample = sample or next(IMAGES_TEST.glob("*.png")).read_bytes()
    files = [("files", (f"{i}.png", sample, "image/png")) for i in range(n)]
    response = requests.post(f"{stack.url}/api/v1/jobs", files=files,
                             params={"callback_url": callback_url, "wait": 30}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def callback_of(stack: Stack, job_id: str) -> dict:
    return requests.get(f"{stack.url}/api/v1/jobs/{job_id}", timeout=10).json()["callback"]


@pytest.mark.slow
def test_the_receiver_gets_one_signed_post_when_the_job_ends(hook_stack: Stack) -> None:
    receiver = Receiver()
    try:
        job = submit(hook_stack, receiver.url)
        assert job["status"] == "succeeded"
        wait_for(lambda: receiver.deliveries, timeout=30, what="the webhook")
        wait_for(lambda: callback_of(hook_stack, job["id"])["status"] == "delivered",
                 timeout=10, what="the delivery recorded")
    finally:
        receiver.stop()
    (delivery,) = receiver.deliveries
    assert delivery["signed"] and int(delivery["timestamp"]) > 0
    assert delivery["body"] == {"id": job["id"], "status": "succeeded", "total": 3,
                                "processed": 3, "failed": 0, "url": f"/api/v1/jobs/{job['id']}"}
    assert callback_of(hook_stack, job["id"]) == {"status": "delivered", "attempts": 1,
                                                  "last_error": None}


@pytest.mark.slow
def test_a_worker_that_dies_before_queuing_the_webhook_does_not_lose_it(
    settings: Settings, tmp_path: Path
) -> None:
    # The worker that records the job's last chunk is SIGKILLed right after: nobody queued
    # the delivery. The outbox entry written with the job's end brings it back.
    hooked = webhook_settings(settings, webhook_resend_after=1.0)
    sample = next(IMAGES_TEST.glob("*.png")).read_bytes() + DIES_BEFORE_WEBHOOK
    receiver = Receiver()
    try:
        with running_stack(hooked, tmp_path / "logs", app=FAULTY_APP) as stack:
            job = submit(stack, receiver.url, sample=sample)
            assert job["status"] == "succeeded"
            wait_for(lambda: callback_of(stack, job["id"])["status"] == "delivered",
                     timeout=60, what="the webhook delivered after the worker died")
    finally:
        receiver.stop()
    assert list(receiver.seen.values()) == [{
        "id": job["id"], "status": "succeeded", "total": 3, "processed": 3, "failed": 0,
        "url": f"/api/v1/jobs/{job['id']}"}]


@pytest.mark.slow
def test_a_receiver_that_is_down_gets_it_once_it_is_back(hook_stack: Stack) -> None:
    port = free_port()  # nothing listens there yet
    job = submit(hook_stack, f"http://127.0.0.1:{port}/hook")
    wait_for(lambda: callback_of(hook_stack, job["id"])["attempts"] >= 2, timeout=30,
             what="two failed attempts")
    down = callback_of(hook_stack, job["id"])
    assert down["status"] == "retrying" and "Connection" in down["last_error"]

    receiver = Receiver(port)
    try:
        wait_for(lambda: receiver.seen, timeout=60, what="the webhook after the receiver is up")
        wait_for(lambda: callback_of(hook_stack, job["id"])["status"] == "delivered",
                 timeout=10, what="the delivery recorded")
    finally:
        receiver.stop()
    assert list(receiver.seen.values()) == [receiver.deliveries[0]["body"]]
    assert all(d["signed"] for d in receiver.deliveries)


@pytest.mark.slow
def test_a_slow_receiver_sees_the_retry_with_the_same_delivery_id(hook_stack: Stack) -> None:
    receiver = Receiver(hold=threading.Event())
    try:
        job = submit(hook_stack, receiver.url)
        wait_for(lambda: len(receiver.deliveries) >= 2, timeout=30, what="a retry")
        receiver.hold.set()
        wait_for(lambda: callback_of(hook_stack, job["id"])["status"] == "delivered",
                 timeout=10, what="the delivery recorded")
    finally:
        receiver.stop()
    first = callback_of(hook_stack, job["id"])
    assert first["attempts"] == 2
    assert len({d["id"] for d in receiver.deliveries}) == 1  # the receiver deduplicates
    assert len(receiver.seen) == 1


def bad_callback(client, callback_url: str, as_form: bool = False):
    png = encode(np.zeros((28, 28), "uint8"))
    data = {"files": [(io.BytesIO(png), "a.png")]}
    params = {}
    if as_form:
        data["callback_url"] = callback_url
    else:
        params["callback_url"] = callback_url
    return client.post("/api/v1/jobs", data=data, query_string=params,
                       content_type="multipart/form-data")


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://127.0.0.1/hook", "must be an http or https URL"),
    ("http://user:pw@127.0.0.1/hook", "must not contain credentials"),
    ("http://169.254.169.254/latest/meta-data", "is not allowed"),
    ("http://127.0.0.1.evil.example/hook", "is not allowed"),
    ("http://[::1/hook", "not a valid URL"),
    ("file:///etc/passwd", "must be an http or https URL"),
])
def test_bad_callback_urls_get_400_and_no_job(settings: Settings, url: str, reason: str) -> None:
    client = create_app(webhook_settings(settings)).test_client()
    for as_form in (False, True):
        response = bad_callback(client, url, as_form)
        assert response.status_code == 400
        assert reason in response.get_json()["error"]
    assert not JobStore.from_settings(settings).redis.zcard(UNFINISHED_KEY)  # no job made


def test_webhooks_are_off_until_hosts_are_configured(settings: Settings) -> None:
    response = bad_callback(create_app(settings).test_client(), "http://127.0.0.1/hook")
    assert response.status_code == 400
    assert "webhooks are off" in response.get_json()["error"]


def test_a_job_without_callback_shows_none_and_with_one_shows_its_state(settings) -> None:
    client = create_app(webhook_settings(settings)).test_client()
    png = encode(np.zeros((28, 28), "uint8"))
    plain = client.post("/api/v1/jobs", data={"files": [(io.BytesIO(png), "a.png")]},
                        content_type="multipart/form-data").get_json()
    assert "callback" not in client.get(f"/api/v1/jobs/{plain['id']}").get_json()
    hooked = client.post("/api/v1/jobs", data={"files": [(io.BytesIO(png), "a.png")],
                                               "callback_url": "http://127.0.0.1:9/hook"},
                         content_type="multipart/form-data").get_json()
    job = client.get(f"/api/v1/jobs/{hooked['id']}").get_json()
    assert job["callback"] == {"status": "pending", "attempts": 0, "last_error": None}


def test_eight_attempts_span_about_an_hour_with_jitter() -> None:
    for attempt in range(1, 8):
        nominal = 30.0 * 2 ** (attempt - 1)
        assert 0.5 * nominal <= backoff(attempt, 30.0) < 1.5 * nominal
    nominal_total = sum(30.0 * 2 ** (a - 1) for a in range(1, 8))  # 7 waits between 8 tries
    assert 3000 <= nominal_total <= 4200
