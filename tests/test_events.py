"""A client follows a job's progress as Server-Sent Events instead of polling."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import requests

from api.app import create_app
from common.jobstore import JobStore
from common.settings import Settings
from tests.conftest import IMAGES_TEST
from tests.stack import Stack, running_stack, settings_env
from tests.support import encode, wait_for


def parse_events(lines: Iterator[str]) -> Iterator[dict]:
    """SSE text lines -> {"id", "event", "data"} dicts (comments and retry skipped)."""
    current: dict = {}
    for line in lines:
        if line == "":
            if "event" in current:
                yield current
            current = {}
        elif line.startswith(":"):
            current.setdefault("comment", line)
        else:
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value


def post_job(client, n: int = 1) -> str:
    png = encode(np.zeros((28, 28), "uint8"))
    files = [(io.BytesIO(png), f"{i}.png") for i in range(n)]
    response = client.post("/api/v1/jobs", data={"files": files},
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def chunks(response) -> Iterator[str]:
    for piece in response.response:
        yield piece.decode() if isinstance(piece, bytes) else piece


@pytest.mark.slow
def test_a_job_streams_progress_then_its_end(shared_stack: Stack) -> None:
    sample = next(IMAGES_TEST.glob("*.png")).read_bytes()
    files = [("files", (f"{i}.png", sample, "image/png")) for i in range(300)]
    job = requests.post(f"{shared_stack.url}/api/v1/jobs", files=files, timeout=60).json()
    with requests.get(f"{shared_stack.url}/api/v1/jobs/{job['id']}/events", stream=True,
                      timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = list(parse_events(response.iter_lines(decode_unicode=True)))
    *progress, end = events
    assert end["event"] == "end"
    assert end["data"] == {"status": "succeeded", "total": 300, "processed": 300, "failed": 0}
    counts = [e["data"]["processed"] for e in progress]
    assert all(e["event"] == "progress" for e in progress)
    assert counts == sorted(counts) and all(c < 300 for c in counts)
    assert [e["id"] for e in progress] == [str(c) for c in counts]
    final = requests.get(f"{shared_stack.url}/api/v1/jobs/{job['id']}", timeout=10).json()
    assert (final["processed"], final["status"]) == (300, "succeeded")


def test_the_stream_sends_the_current_progress_and_the_end_when_cancelled(settings) -> None:
    client = create_app(settings).test_client()
    job_id = post_job(client)  # no worker: it stays queued
    response = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False)
    assert response.status_code == 200
    stream = chunks(response)
    assert next(stream).startswith("retry:")
    first = next(parse_events(next(stream).splitlines()))
    assert first == {"id": "0", "event": "progress",
                     "data": {"processed": 0, "failed": 0, "status": "queued", "total": 1}}
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 200
    end = next(parse_events(next(stream).splitlines()))
    assert (end["event"], end["data"]["status"]) == ("end", "cancelled")
    assert list(stream) == []  # closed after the end
    response.close()


def test_last_event_id_resumes_without_repeating_what_was_seen(settings) -> None:
    client = create_app(settings).test_client()
    job_id = post_job(client)
    response = client.get(f"/api/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "0"},
                          buffered=False)
    stream = chunks(response)
    assert next(stream).startswith("retry:")
    client.delete(f"/api/v1/jobs/{job_id}")
    resumed = next(parse_events(next(stream).splitlines()))
    assert resumed["event"] == "end"  # progress 0 was seen already: not sent again
    response.close()


def test_an_unknown_job_has_no_stream(settings) -> None:
    client = create_app(settings).test_client()
    for job_id in ("0" * 32, "not-an-id"):
        response = client.get(f"/api/v1/jobs/{job_id}/events")
        assert response.status_code == 404
        assert "not found" in response.get_json()["error"]


def test_streams_over_the_limit_get_503_with_retry_after(settings) -> None:
    limited = Settings(**{**settings.__dict__, "max_streams": 1})
    client = create_app(limited).test_client()
    job_id = post_job(client)
    first = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False)
    assert first.status_code == 200
    refused = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"]
    assert "too many event streams" in refused.get_json()["error"]
    first.close()  # the client goes away: its slot is free again
    again = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False)
    assert again.status_code == 200
    again.close()


def test_a_stream_closes_when_its_life_is_up_without_an_end(settings) -> None:
    short = Settings(**{**settings.__dict__, "stream_max_seconds": 0.5})
    client = create_app(short).test_client()
    job_id = post_job(client)  # no worker: it stays queued, the stream has nothing to end on
    response = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False)
    events = list(parse_events("".join(chunks(response)).splitlines()))  # returns: it closed
    assert [e["event"] for e in events] == ["progress"]
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["status"] == "queued"
    response.close()


def test_the_streams_socket_gets_the_write_timeout(settings) -> None:
    timed = Settings(**{**settings.__dict__, "stream_write_timeout": 7.0})
    client = create_app(timed).test_client()
    job_id = post_job(client)
    server_side, client_side = socket.socketpair()  # stands for gunicorn's client socket
    with server_side, client_side:
        response = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False,
                              environ_base={"gunicorn.socket": server_side})
        assert response.status_code == 200
        assert server_side.gettimeout() == 7.0
        response.close()


@pytest.mark.slow
def test_a_client_that_never_reads_frees_its_stream_slot_when_the_stream_ends(
    settings: Settings, tmp_path
) -> None:
    limited = Settings(**{**settings.__dict__, "max_streams": 1, "stream_max_seconds": 1.0})
    with running_stack(limited, tmp_path / "logs") as stack:
        held_id, _ = JobStore.from_settings(limited).create_job([("x.png", b"")], 1)
        url = f"{stack.url}/api/v1/jobs/{held_id}/events"
        with socket.create_connection(("127.0.0.1", int(stack.url.rsplit(":", 1)[1]))) as idle:
            idle.sendall(f"GET /api/v1/jobs/{held_id}/events HTTP/1.1\r\n"
                         "Host: localhost\r\n\r\n".encode())
            idle.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head:  # its stream has begun: it holds the only slot
                head += idle.recv(1)
            assert head.startswith(b"HTTP/1.1 200"), head
            # ...and it reads nothing more: another client gets a stream only once the idle
            # one's has ended by itself (while it lasts, the others are refused).

            def answer() -> int:
                with requests.get(url, stream=True, timeout=10) as other:
                    return other.status_code

            wait_for(lambda: answer() == 200, timeout=60, interval=0.2,
                     what="the idle client's slot to be free again")


@pytest.mark.slow
def test_submit_wait_falls_back_to_long_polling_when_streams_are_refused(
    settings: Settings, tmp_path
) -> None:
    limited = Settings(**{**settings.__dict__, "max_streams": 1})
    with running_stack(limited, tmp_path / "logs") as stack:
        # a job no worker will read (its chunks were never sent) holds the only stream slot
        held_id, _ = JobStore.from_settings(limited).create_job([("x.png", b"")], 1)
        with requests.get(f"{stack.url}/api/v1/jobs/{held_id}/events", stream=True,
                          timeout=30) as held:
            assert held.status_code == 200
            refused = requests.get(f"{stack.url}/api/v1/jobs/{held_id}/events", timeout=10)
            assert refused.status_code == 503
            done = subprocess.run(
                [sys.executable, "-m", "cli.main", "submit", str(IMAGES_TEST), "--url",
                 stack.url, "--wait"], capture_output=True, text=True,
                env=settings_env(limited), timeout=120)
        assert done.returncode == 0, done.stderr
        job = json.loads(done.stdout)
        assert (job["status"], job["processed"]) == ("succeeded", 10)
        assert "10/10" in done.stderr
