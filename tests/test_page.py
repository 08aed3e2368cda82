"""The page at `/`, driven in Debian's Chromium against the real stack.

The shared stack (its own Redis, one Celery worker with the small test model, the API under
gunicorn) serves most tests; each opens a fresh browser context and does what a person would do:
choose files, watch the job, read the results, draw a digit, download, give a key.
Waiting is Playwright's auto-waiting and `expect`, never a fixed sleep.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from common.settings import Settings
from tests.conftest import IMAGES_TEST
from tests.stack import Api, Stack, start_api
from tests.support import RedisServer

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("MNISTQ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
JOB_TIMEOUT_MS = 60_000
API_KEY = "page-test-key-3f9c"
SCREENSHOT = os.environ.get("MNISTQ_PAGE_SCREENSHOT")  # save the results page here when set


def image_files() -> list[Path]:
    return sorted(p for p in IMAGES_TEST.iterdir() if p.suffix.lower() == ".png")


def labels() -> dict[str, int]:
    with open(IMAGES_TEST / "labels.csv", newline="") as f:
        return {row["filename"]: int(row["label"]) for row in csv.DictReader(f)}


# --- the stack and the browser ---------------------------------------------------


@pytest.fixture()
def live(shared_stack: Stack) -> Stack:
    """Redis + one worker + the API, shared with the other tests that only submit jobs."""
    return shared_stack


@pytest.fixture()
def api_predictions(live: Stack) -> dict[str, int | None]:
    """What the API itself predicts for each images_test file: the page must show the same."""
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in image_files()]
    response = requests.post(f"{live.url}/api/v1/jobs?wait=60", files=files, timeout=90)
    assert response.status_code == 200, response.text
    return {r["filename"]: r["prediction"] for r in response.json()["results"]}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context (no stored key) and page; errors the test on a script error or a
    Content-Security-Policy violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda msg: problems.append(f"console: {msg.text}")
        if msg.type == "error" and "Content Security Policy" in msg.text
        else None,
    )
    yield tab
    context.close()
    assert not problems, problems


def open_page(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()


def choose(page: Page, files: list) -> None:
    """Choose files as a person would (the file chooser behind the button)."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose files…").click()
    chooser.value.set_files(files)


def upload(page: Page, files: list) -> None:
    """Choose files and submit them."""
    choose(page, files)
    page.locator("#submit").click()


def cards(page: Page) -> Locator:
    return page.locator("#grid .card")


# --- the stories ------------------------------------------------------------------


def test_page_is_served_with_a_strict_csp_and_cached_assets(live: Stack) -> None:
    response = requests.get(live.url + "/", timeout=10)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["Cache-Control"] == "no-cache"
    assert "<script>" not in response.text and "<style" not in response.text
    assert not re.search(r"\s(style|on[a-z]+)=", response.text)  # no inline styles or handlers

    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', response.text)
    assert {Path(a).name for a in assets} >= {"app.js", "app.css"}
    for asset in assets:
        got = requests.get(live.url + asset, timeout=10)
        assert got.status_code == 200, asset
        assert "immutable" in got.headers["Cache-Control"]
    stale = requests.get(live.url + "/assets/0000/app.js", timeout=10)
    assert stale.status_code == 200 and stale.headers["Cache-Control"] == "no-cache"
    assert requests.get(live.url + "/assets/0000/nope.js", timeout=10).status_code == 404
    # a name longer than the filesystem allows (found by the fuzz test: it was a 500)
    too_long = requests.get(live.url + "/assets/0000/" + "é" * 200, timeout=10)
    assert too_long.status_code == 404 and "error" in too_long.json()


def test_uploading_images_test_shows_every_digit(
    live: Stack, api_predictions: dict[str, int | None], page: Page
) -> None:
    files = image_files()
    assert len(files) == 10
    truth = labels()
    # The small test model gets ~95% right: the page must show what the API predicts,
    # and the API must get (nearly) all of these right.
    assert sum(api_predictions[name] == truth[name] for name in truth) >= 9

    open_page(page, live.url)
    expect(page.locator("#service-status")).to_have_attribute("data-state", "ready")
    upload(page, files)

    expect(page.locator("#progress-label")).to_have_text("Done: 10 of 10", timeout=JOB_TIMEOUT_MS)
    expect(cards(page)).to_have_count(10)
    expect(page.locator("#results-summary")).to_contain_text("10 images")
    for path in files:
        card = page.locator(f'#grid .card[data-filename="{path.name}"]')
        expected = str(api_predictions[path.name])
        expect(card).to_have_attribute("data-prediction", expected)
        expect(card.locator(".card__digit")).to_have_text(expected)
        expect(card.locator(".card__confidence")).to_have_text(re.compile(r"^>?\d+%$"))
        expect(card.locator(".card__runner")).to_have_text(re.compile(r"^runner-up \d$"))
        expect(card.locator("img")).to_have_js_property("complete", True)
        expect(card.locator(".card__box")).to_have_count(1)  # the digit's box, drawn
    expect(page.locator("#cancel-job")).to_be_hidden()
    expect(page.locator("#job-link")).to_have_attribute("href", re.compile(r"^/api/v1/jobs/\w+$"))

    if SCREENSHOT:
        page.locator("#results").scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOT, full_page=True, animations="disabled")


def test_the_box_of_the_digit_read_is_drawn_on_its_photo(live: Stack, page: Page) -> None:
    """An off-centre digit on a wide photo: the box drawn sits over the digit, where the
    API's `box` says, scaled with the thumbnail."""
    from PIL import Image

    digit = Image.open(image_files()[7]).resize((112, 112))  # light ink on black
    photo = Image.new("L", (600, 300), 0)
    photo.paste(digit, (400, 40))  # the digit's ink: about x 420-500, y 60-140
    out = io.BytesIO()
    photo.convert("RGB").save(out, "JPEG", quality=92)
    open_page(page, live.url)
    upload(page, [{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}])

    card = page.locator('.card[data-filename="photo.jpg"]')
    expect(card).to_have_attribute("data-kind", re.compile("ok|low"), timeout=JOB_TIMEOUT_MS)
    rect = card.locator(".card__box")
    expect(rect).to_have_count(1)
    x, y, width, height = (float(rect.get_attribute(name) or "nan")
                           for name in ("x", "y", "width", "height"))
    assert 380 <= x <= 440 and 20 <= y <= 80 and x + width <= 540 and y + height <= 180
    shown, image = rect.bounding_box(), card.locator("img").bounding_box()
    assert shown is not None and image is not None
    # The thumbnail shows the 600x300 photo scaled to the image's width (object-fit: contain).
    scale = image["width"] / 600
    top = image["y"] + (image["height"] - 300 * scale) / 2
    assert abs(shown["x"] - (image["x"] + x * scale)) <= 3
    assert abs(shown["y"] - (top + y * scale)) <= 3
    assert abs(shown["width"] - width * scale) <= 4


def test_photos_the_browser_cannot_show_are_named_by_format_and_read(
    live: Stack, page: Page
) -> None:
    """Chromium shows no HEIC (phones' photos) and no TIFF (scanners'): the selection names
    the format, not the unreadable "?", and the service reads the digits."""
    from PIL import Image

    from tests.support import encode

    digit = Image.open(image_files()[7]).resize((112, 112))  # light ink on black
    photo = Image.eval(digit, lambda v: 255 - v).convert("RGB")  # dark ink on paper
    files = {"IMG_0001.HEIC": ("image/heic", encode(photo, "HEIF", quality=90)),
             "scan.tif": ("image/tiff", encode(photo, "TIFF"))}
    open_page(page, live.url)
    choose(page, [{"name": name, "mimeType": kind, "buffer": data}
                  for name, (kind, data) in files.items()])
    thumbs = page.locator("#thumbs .thumb")
    expect(thumbs).to_have_text(["HEIC", "TIF"])
    for i in range(2):
        expect(thumbs.nth(i)).to_have_class(re.compile("thumb--nopreview"))
    page.locator("#submit").click()

    expected = str(labels()[image_files()[7].name])
    for name in files:
        card = page.locator(f'.card[data-filename="{name}"]')
        expect(card).to_have_attribute("data-prediction", expected, timeout=JOB_TIMEOUT_MS)


def number_file(data_dir: Path, text: str, name: str = "zip.png") -> dict:
    """`text` written in a row of MNIST test digits, as the PNG `name` the file input takes."""
    from core.data import load_split
    from tests.support import encode
    from tests.test_numbers import digits_of, write_row

    images, labels = load_split(data_dir, "test", limit=400)
    return {"name": name, "mimeType": "image/png",
            "buffer": encode(write_row(digits_of(images, labels, text)), "PNG")}


def upload_number(page: Page, url: str, data_dir: Path, text: str, name: str) -> Locator:
    """Open the page, choose "A number per image" and upload `text` written in a row of
    MNIST test digits as the PNG `name`; its card."""
    open_page(page, url)
    page.get_by_label("A number per image").check()
    upload(page, [number_file(data_dir, text, name)])
    return page.locator(f'.card[data-filename="{name}"]')


def test_a_number_per_image_shows_the_text_and_a_box_per_digit(
    live: Stack, page: Page, data_dir: Path
) -> None:
    card = upload_number(page, live.url, data_dir, "02139", "zip.png")
    expect(card).to_have_attribute("data-prediction", "02139", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".card__number")).to_have_text("02139")
    expect(card.locator(".card__box")).to_have_count(5)  # one per digit
    expect(card.locator(".card__label")).to_have_count(5)


@pytest.mark.parametrize("written", ["8675309", "2139"])
def test_a_number_stays_on_one_line_of_its_card_beside_any_confidence(
    live: Stack, page: Page, data_dir: Path, written: str
) -> None:
    card = upload_number(page, live.url, data_dir, written, "phone.png")
    text = card.locator(".card__number")
    expect(text).to_have_text(re.compile(rf"^\d{{{len(written)}}}$"), timeout=JOB_TIMEOUT_MS)
    # a range over text has one client rectangle per line the text is laid out on
    lines = "element => { const r = document.createRange(); r.selectNodeContents(element);" \
        " return r.getClientRects().length; }"
    for widest in ("100%", ">99%"):  # the widest confidences a card shows, whatever this read
        card.locator(".card__confidence").evaluate(f"e => {{ e.textContent = '{widest}'; }}")
        assert text.evaluate(lines) == 1, widest


def test_the_legend_says_the_one_threshold_the_cards_use(live: Stack, page: Page) -> None:
    open_page(page, live.url)
    percent = round(live.settings.review_below * 100)
    legend = page.locator(".legend__item dd")
    expect(legend.nth(0)).to_have_text(f"confidence {percent}% or more")
    expect(legend.nth(1)).to_have_text(f"below {percent}%, worth a second look")


def test_a_mixed_upload_shows_per_file_errors(live: Stack, page: Page) -> None:
    good = image_files()[0]
    png = good.read_bytes()
    files = [
        {"name": good.name, "mimeType": "image/png", "buffer": png},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a digit at all\n"},
        {"name": "truncated.png", "mimeType": "image/png", "buffer": png[: len(png) // 3]},
    ]
    open_page(page, live.url)
    upload(page, files)

    expect(page.locator("#job-status")).to_have_text(
        "Done: 1 image read, 2 could not be read.", timeout=JOB_TIMEOUT_MS
    )
    expect(cards(page)).to_have_count(3)
    expect(page.locator(f'.card[data-filename="{good.name}"]')).to_have_attribute(
        "data-kind", re.compile("ok|low")
    )
    for name in ("notes.txt", "truncated.png"):
        card = page.locator(f'.card[data-filename="{name}"]')
        expect(card).to_have_attribute("data-kind", "error")
        expect(card.locator(".badge--error")).to_have_text("Could not read")
        expect(card.locator(".card__error")).not_to_be_empty()

    confident = page.locator(".card--ok").count()
    page.get_by_label("Only low confidence and errors").check()
    expect(cards(page)).to_have_count(3 - confident)


DROP_FILES = """async ([names, payloads]) => {
    const transfer = new DataTransfer();
    names.forEach((name, i) => {
        const bytes = Uint8Array.from(atob(payloads[i]), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, { type: "image/png" }));
    });
    const zone = document.getElementById("dropzone");
    zone.dispatchEvent(new DragEvent("dragenter", { dataTransfer: transfer, bubbles: true }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
}"""


def test_dropped_files_show_thumbnails_then_results(live: Stack, page: Page) -> None:
    files = image_files()[:4]
    open_page(page, live.url)
    payloads = [base64.b64encode(p.read_bytes()).decode() for p in files]
    page.evaluate(DROP_FILES, [[p.name for p in files], payloads])

    expect(page.locator("#thumbs img")).to_have_count(4)
    expect(page.locator("#selection-summary")).to_contain_text("4 files selected")
    page.get_by_role("button", name="Read 4 images").click()
    expect(cards(page)).to_have_count(4, timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#thumbs img")).to_have_count(0)  # the selection went into the job


def test_choosing_a_folder_sends_only_its_images(live: Stack, page: Page) -> None:
    open_page(page, live.url)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose a folder…").click()
    chooser.value.set_files(IMAGES_TEST)  # a webkitdirectory input takes the folder itself

    summary = page.locator("#selection-summary")
    expect(summary).to_contain_text("10 files selected")
    expect(summary).to_contain_text("Skipped 1 file that is not an image: images_test/labels.csv")
    page.get_by_role("button", name="Read 10 images").click()
    expect(cards(page)).to_have_count(10, timeout=JOB_TIMEOUT_MS)
    expect(page.locator('.card[data-filename="images_test/digit7_test0.png"]')).to_be_visible()
    expect(page.locator(".card--error")).to_have_count(0)


def test_drawing_a_one_gives_a_prediction(live: Stack, page: Page) -> None:
    open_page(page, live.url)
    canvas = page.locator("#canvas")
    box = canvas.bounding_box()
    assert box is not None
    x = box["x"] + box["width"] * 0.5
    top, bottom = box["y"] + box["height"] * 0.15, box["y"] + box["height"] * 0.85
    page.mouse.move(x, top)
    page.mouse.down()
    page.mouse.move(x, bottom, steps=25)
    page.mouse.up()

    expect(page.locator("#draw-digit")).to_have_text(re.compile(r"^\d$"), timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#draw-detail")).to_contain_text("sure")

    page.get_by_role("button", name="Clear drawing").click()
    expect(page.locator("#draw-digit")).to_have_text("?")


def test_downloads_contain_the_results(live: Stack, page: Page, tmp_path: Path) -> None:
    files = image_files()[:3]
    open_page(page, live.url)
    upload(page, files)
    expect(cards(page)).to_have_count(3, timeout=JOB_TIMEOUT_MS)
    job_url = page.locator("#job-link").get_attribute("href")
    expected = requests.get(live.url + job_url, timeout=10).json()["results"]

    with page.expect_download() as download:
        page.get_by_role("link", name="Download JSON").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".json"
    body = json.loads(saved.read_text())
    rows = body["results"] if isinstance(body, dict) else body
    assert [(r["filename"], r["prediction"]) for r in rows] == [
        (r["filename"], r["prediction"]) for r in expected
    ]

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".csv"
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [(r["filename"], int(r["prediction"])) for r in rows] == [
        (r["filename"], r["prediction"]) for r in expected
    ]


@pytest.fixture()
def keyed_api(live: Stack, tmp_path: Path) -> Iterator[Api]:
    """A second API on the same Redis and worker, requiring an API key."""
    api = start_api(replace(live.settings, api_key=API_KEY), log_dir=tmp_path)
    yield api
    api.stop()


def test_the_page_asks_for_the_api_key_when_one_is_required(keyed_api: Api, page: Page) -> None:
    open_page(page, keyed_api.url)
    upload(page, image_files()[:2])

    dialog = page.get_by_role("dialog", name="API key needed")
    expect(dialog).to_be_visible()
    page.get_by_label("API key", exact=True).fill("wrong key")
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator("#key-error")).to_be_visible()
    page.get_by_label("API key", exact=True).fill(API_KEY)
    page.get_by_role("button", name="Use this key").click()

    expect(cards(page)).to_have_count(2, timeout=JOB_TIMEOUT_MS)
    stored = page.evaluate("() => sessionStorage.getItem('mnistq.apiKey')")
    assert stored == API_KEY
    with page.expect_download() as download:  # the key travels with downloads too
        page.get_by_role("link", name="Download CSV").click()
    assert "filename" in Path(download.value.path()).read_text().splitlines()[0]


@pytest.fixture()
def idle_api(data_dir: Path, small_model_path: Path, tmp_path: Path) -> Iterator[Api]:
    """An API with Redis but no worker (not ready), a tiny upload limit and a one-job queue."""
    server = RedisServer(tmp_path / "redis").start()
    settings = Settings(
        data_dir=data_dir, model_path=small_model_path, redis_url=server.url,
        max_upload_bytes=2048, max_queued_jobs=1,
    )
    api = start_api(settings, log_dir=tmp_path)
    yield api
    api.stop()
    server.stop()


def test_the_page_says_when_the_service_is_not_ready_or_an_upload_too_large(
    idle_api: Api, page: Page
) -> None:
    open_page(page, idle_api.url)
    expect(page.locator("#service-status")).to_have_attribute("data-state", "down")
    expect(page.locator("#readiness")).to_contain_text("not ready: no worker")

    big = [{"name": "big.png", "mimeType": "image/png", "buffer": b"\x89PNG" * 2000}]
    upload(page, big)  # the page knows the limit and says so before uploading
    expect(page.get_by_role("alert")).to_contain_text("That upload is too large: 8 KB")
    expect(page.locator("#job")).to_be_hidden()

    expect(page.locator("#selection-summary")).to_contain_text("1 file selected")

    page.evaluate("() => { delete document.body.dataset.maxUploadBytes; }")
    page.locator("#submit").click()  # without the hint, the API's 413 says it
    expect(page.locator("#progress-label")).to_have_text("Not sent", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_role("alert")).to_contain_text("too large for the service")


def test_a_job_waiting_for_a_worker_can_be_cancelled(idle_api: Api, page: Page) -> None:
    open_page(page, idle_api.url)
    with page.expect_response(lambda r: r.url.endswith("/events")) as stream:
        upload(page, image_files()[:1])  # the page follows the job's event stream
    assert stream.value.status == 200
    expect(page.locator("#job-status")).to_have_text("Waiting for a worker…")
    page.get_by_role("button", name="Cancel job").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The job was cancelled", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#progress-label")).to_have_text("Cancelled: 0 of 1")
    expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()


def test_a_full_queue_is_explained(idle_api: Api, page: Page) -> None:
    first = image_files()[0]
    files = {"files": (first.name, first.read_bytes(), "image/png")}
    assert requests.post(idle_api.url + "/api/v1/jobs", files=files, timeout=10).status_code == 202

    open_page(page, idle_api.url)
    upload(page, [first])
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The queue is full right now", timeout=JOB_TIMEOUT_MS)
    expect(alert).to_contain_text(re.compile(r"Try again in \d+ s\."))  # from Retry-After
