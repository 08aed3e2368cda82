"""Review mode of the page, in Chromium, with the keyboard only: a person goes through the
doubtful readings of a job (errors first), corrects with 0-9, confirms with Enter, moves with
the arrows and leaves with Escape; the service keeps every answer."""
# ruff: noqa: F811  (the browser and page fixtures come from tests/test_page.py)

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import requests
from playwright.sync_api import Page, expect

from common.corrections import CorrectionStore
from tests.stack import Api, Stack, start_api
from tests.support import encode
from tests.test_page import (  # noqa: F401  (browser and page are fixtures)
    JOB_TIMEOUT_MS,
    browser,
    image_files,
    number_file,
    open_page,
    page,
)

pytestmark = pytest.mark.slow

SCREENSHOT = os.environ.get("MNISTQ_REVIEW_SCREENSHOT")  # save the review here when set

BLANK = {"name": "blank.png", "mimeType": "image/png",
         "buffer": encode(np.full((40, 40), 250, np.uint8))}


@pytest.fixture()
def doubting_api(shared_stack: Stack, tmp_path: Path) -> Iterator[Api]:
    """An API on the shared stack's Redis and worker that doubts every reading under 100%
    (MNISTQ_REVIEW_BELOW=1), so that a few test images make a review."""
    api = start_api(replace(shared_stack.settings, review_below=1.0), log_dir=tmp_path)
    yield api
    api.stop()


def upload_with_keyboard(page: Page, files: list, number: bool = False) -> None:
    """The files given to the file input (what the chooser behind "Choose files…" fills; a
    chooser opened from the keyboard proved flaky in headless Chromium), the mode chosen and
    the job sent with the keyboard."""
    expect(page.locator("#service-status")).to_have_attribute("data-state", "ready")
    if number:
        page.get_by_label("A number per image").focus()
        page.keyboard.press("Space")
    page.locator("#file-input").set_input_files(files)
    page.locator("#submit").focus()
    page.keyboard.press("Enter")


def job_of(page: Page, api: Api) -> dict:
    job_id = page.locator("#job-id").get_attribute("title")
    return requests.get(f"{api.url}/api/v1/jobs/{job_id}", timeout=30).json()


def test_a_person_reviews_the_doubtful_readings_with_the_keyboard(
    doubting_api: Api, shared_stack: Stack, page: Page
) -> None:
    files = [{"name": p.name, "mimeType": "image/png", "buffer": p.read_bytes()}
             for p in image_files()[:4]]
    open_page(page, doubting_api.url)
    upload_with_keyboard(page, [*files, BLANK])
    expect(page.locator("#progress-label")).to_have_text("Done: 5 of 5", timeout=JOB_TIMEOUT_MS)
    job = job_of(page, doubting_api)
    results = job["results"]
    low = [r for r in results if not r["error"] and r["confidence"] < 1.0]
    assert len(low) >= 2, [r["confidence"] for r in results]
    total = 1 + len(low)  # the blank (an error) first, then the low ones in upload order

    start = page.locator("#review-start")
    expect(start).to_have_text(f"Review {total} doubtful readings")
    start.focus()
    page.keyboard.press("Enter")
    review = page.locator("#review")
    expect(review).to_be_visible()
    expect(review).to_be_focused()
    expect(page.locator("#results")).to_be_hidden()
    progress = page.locator("#review-progress")
    expect(progress).to_have_attribute("aria-live", "polite")
    expect(progress).to_have_text(f"0 of {total} reviewed")
    expect(page.locator("#review-position")).to_have_text(f"Image 1 of {total}")
    expect(page.locator("#review-error")).to_have_text("Could not be read: no digit found")
    expect(page.locator("#review-figure img")).to_have_attribute("alt", "blank.png")

    page.keyboard.press("3")  # an unreadable file has no digit image to keep with a label
    expect(page.locator("#review-message")).to_contain_text("cannot be labelled")
    expect(progress).to_have_text(f"0 of {total} reviewed")

    page.keyboard.press("ArrowRight")
    first, second = low[0], low[1]
    expect(page.locator("#review-position")).to_have_text(f"Image 2 of {total}")
    expect(page.locator("#review-digit")).to_have_text(str(first["prediction"]))
    expect(page.locator("#review-runner")).to_have_text(f"runner-up {first['runner_up']}")
    expect(page.locator("#review-figure img")).to_have_attribute("alt", first["filename"])

    wrong = (first["prediction"] + 1) % 10
    page.keyboard.press(str(wrong))  # corrects, and moves on
    expect(progress).to_have_text(f"1 of {total} reviewed")
    expect(page.locator("#review-position")).to_have_text(f"Image 3 of {total}")
    expect(page.locator("#review-digit")).to_have_text(str(second["prediction"]))
    page.keyboard.press("Enter")  # confirms the machine's reading
    expect(progress).to_have_text(f"2 of {total} reviewed")

    page.keyboard.press("ArrowLeft")
    if total > 3:
        page.keyboard.press("ArrowLeft")
    expect(page.locator("#review-digit")).to_have_text(str(first["prediction"]))
    expect(page.locator("#review-corrected")).to_have_text(f"You said {wrong}.")
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True, animations="disabled")

    after = {r["index"]: r.get("corrected") for r in job_of(page, doubting_api)["results"]}
    assert after[first["index"]] == wrong and after[second["index"]] == second["prediction"]
    kept = [c for c in CorrectionStore(shared_stack.settings.corrections_dir).read()
            if c.job == job["id"]]
    assert sorted((c.index, c.label, c.kind) for c in kept) == sorted(
        [(first["index"], wrong, "correct"), (second["index"], second["prediction"], "confirm")])

    page.keyboard.press("Escape")
    expect(review).to_be_hidden()
    expect(page.locator("#results")).to_be_visible()
    expect(start).to_be_focused()
    corrected = page.locator(f'#grid .card[data-filename="{first["filename"]}"]')
    expect(corrected).to_have_attribute("data-corrected", str(wrong))
    expect(corrected.locator(".badge--corrected")).to_have_text(f"Corrected: {wrong}")


def test_a_doubtful_numbers_card_names_each_doubtful_digit_under_a_short_badge(
        doubting_api: Api, page: Page, data_dir: Path) -> None:
    # Every digit is doubtful here (MNISTQ_REVIEW_BELOW=1): the card's badge says so as for
    # one digit, and each digit gets a line of its own with its runner-up (it was one badge
    # of four digits in capitals, wrapped over several lines of a narrow card).
    open_page(page, doubting_api.url)
    upload_with_keyboard(page, [number_file(data_dir, "4096")], number=True)
    card = page.locator('.card[data-filename="zip.png"]')
    expect(card.locator(".badge--low")).to_have_text("Low confidence", timeout=JOB_TIMEOUT_MS)
    lines = card.locator(".card__runner")
    expect(lines).to_have_count(4)
    for n in range(4):
        line = re.compile(rf"^digit {n + 1}: \d (>99|\d+)%, runner-up \d$")
        expect(lines.nth(n)).to_have_text(line)


def test_a_number_is_typed_and_sent_with_enter(doubting_api: Api, page: Page,
                                               data_dir: Path) -> None:
    open_page(page, doubting_api.url)
    upload_with_keyboard(page, [number_file(data_dir, "4096")], number=True)
    expect(page.locator("#progress-label")).to_have_text("Done: 1 of 1", timeout=JOB_TIMEOUT_MS)
    read = job_of(page, doubting_api)["results"][0]["text"]

    page.locator("#review-start").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#review-digit")).to_have_text(read)
    expect(page.locator("#review-runner")).to_contain_text("digit 1:")
    for key in "4097":
        page.keyboard.press(key)
    page.keyboard.press("Backspace")
    page.keyboard.press("6")
    expect(page.locator("#review-typed")).to_have_text("Typed: 4096 (Enter sends it)")
    page.keyboard.press("Enter")
    expect(page.locator("#review-progress")).to_have_text("1 of 1 reviewed")
    assert job_of(page, doubting_api)["results"][0]["corrected"] == "4096"
