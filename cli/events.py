"""Following a job from the command line: its event stream first, long-polling when refused.

The stream (`GET /api/v1/jobs/<id>/events`) pushes each change as it happens; a service
that refuses it (`503` when too many streams are open, an older service's `404`) or a
connection that drops is followed by long-polling instead, so `--wait` always finishes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import requests
import sseclient

ENDED = ("succeeded", "failed", "cancelled")


def progress_events(session: requests.Session, url: str) -> Iterator[dict[str, Any]]:
    """The job's `progress` data, then its `end` data; stops early (yielding nothing more)
    when the stream is refused or breaks."""
    try:
        with session.get(f"{url}/events", stream=True, timeout=(10, 60),
                         headers={"Accept": "text/event-stream"}) as response:
            if response.status_code != 200:
                return
            for event in sseclient.SSEClient(response.iter_content(chunk_size=None)).events():
                if event.event in ("progress", "end"):
                    yield {**json.loads(event.data),
                           "ended": event.event == "end"}
                    if event.event == "end":
                        return
    except requests.RequestException:
        return


def follow(session: requests.Session, url: str, show: Callable[[int, int, str], None],
           poll: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Follow the job at `url` until it ends, calling `show(processed, failed, status)` on
    each change; returns the ended job as `poll()` (one long-poll of `GET url`) answers it,
    with its results: at once after the stream's `end`, after several polls without one."""
    for state in progress_events(session, url):
        show(state["processed"], state["failed"], state["status"])
        if state["ended"]:
            break
    while True:
        job = poll()
        show(job["processed"], job["failed"], job["status"])
        if job["status"] in ENDED:
            return job
