"""The playground in a real browser: headless Chromium (Debian's, driven by Playwright from PyPI) opens
the page `make run` serves on its own origin, mints a development token, generates an image and a
video, watches them complete and shows them, reads the notifications. Every API call crosses origins,
so Chromium sends real CORS preflights; their answers are checked against the contract. A screenshot
is kept under .local/artifacts/."""

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import API_ANSWER_SECONDS, JOB_SECONDS, ROOT, LocalService, run_service

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
CHROMIUM = Path(os.environ.get("MEDIAGEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
JOB_MS = JOB_SECONDS * 1000  # a job's end, waited for in a page
# ms: the default bound of every other wait of a page (Playwright's own, 30 s, is below what the
# service itself allows). One step of a page waits for at most one API answer (API_ANSWER_SECONDS:
# the function's timeout in the local service, 10 s in template.yaml times 10, twice). A wait ends as
# soon as its state comes.
STEP_MS = API_ANSWER_SECONDS * 1000
ARTIFACTS = ROOT / ".local" / "artifacts"
OVERFLOWING_BOXES = """[...document.querySelectorAll('body *')]
    .filter(e => !['INPUT', 'TEXTAREA', 'SELECT'].includes(e.tagName))
    .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
    .map(e => `${e.tagName}#${e.id}: ${e.scrollWidth} px in ${e.clientWidth}`)"""


def browser_or_skip() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("MEDIAGEN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def dev_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """`make run` as a developer starts it: no AUTH_*, so the development key and the playground's
    token button."""
    browser_or_skip()
    yield from run_service(tmp_path_factory.mktemp("playground"))


@pytest.fixture(scope="module")
def page_and_traffic(dev_service: LocalService) -> Iterator[tuple[Any, list[dict[str, Any]], str]]:
    from playwright.sync_api import sync_playwright

    origin = f"http://127.0.0.1:{dev_service.env['PLAYGROUND_PORT']}"
    traffic: list[dict[str, Any]] = []  # every network response Chromium reports, preflights included
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.set_default_timeout(STEP_MS)
            cdp = page.context.new_cdp_session(page)
            requests_seen: dict[str, dict[str, Any]] = {}

            def sent(event: dict[str, Any]) -> None:
                requests_seen[event["requestId"]] = {
                    "method": event["request"]["method"],
                    "url": event["request"]["url"],
                    "type": event.get("type"),
                    "request_headers": {k.lower(): v for k, v in event["request"]["headers"].items()},
                }

            def received(event: dict[str, Any]) -> None:
                entry = dict(requests_seen.get(event["requestId"], {}))
                entry.update(
                    status=event["response"]["status"],
                    url=event["response"]["url"],
                    type=event.get("type"),
                    headers={k.lower(): v for k, v in event["response"]["headers"].items()},
                )
                traffic.append(entry)

            cdp.on("Network.requestWillBeSent", sent)
            cdp.on("Network.responseReceived", received)
            cdp.send("Network.enable")
            page.goto(f"{origin}/", wait_until="load")
            page.wait_for_selector("body[data-ready=true]")
            yield page, traffic, origin
        finally:
            browser.close()


def wait_for_job(page: Any) -> str:
    page.wait_for_selector("#status[data-status=completed]", timeout=JOB_MS)
    text: str = page.inner_text("#status")
    return text.split(":")[0]


def test_the_page_mints_a_token_generates_an_image_and_shows_it(
    page_and_traffic: tuple[Any, list[dict[str, Any]], str],
) -> None:
    page, traffic, origin = page_and_traffic
    page.click("#mint")
    page.wait_for_function("document.getElementById('token').value.startsWith('eyJ')")
    page.fill("#size", "320x200")
    page.click("#go")
    job_id = wait_for_job(page)

    image = page.wait_for_selector("#result img")
    page.wait_for_function("document.querySelector('#result img').complete")
    size = page.evaluate("[document.querySelector('#result img').naturalWidth, "
                         "document.querySelector('#result img').naturalHeight]")  # fmt: skip
    assert size == [320, 200], "the picture was downloaded from its signed URL and decoded"
    assert image.get_attribute("src").startswith("http://127.0.0.1:")
    page.wait_for_selector(f"#notification-list li[data-generation-id={job_id}]")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"playground-image-{time.strftime('%Y%m%d-%H%M%S')}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nplayground screenshot: {shot}")
    assert shot.stat().st_size > 10_000

    api_calls = [entry for entry in traffic if "/api/" in entry.get("url", "")]
    preflights = [entry for entry in api_calls if entry.get("method") == "OPTIONS"]
    assert preflights, f"Chromium sent no preflight: {[e.get('url') for e in api_calls]}"
    for preflight in preflights:
        assert preflight["status"] == 204
        assert preflight["headers"]["access-control-allow-origin"] == origin
        allowed = preflight["headers"]["access-control-allow-headers"].lower()
        assert "authorization" in allowed
    answers = [entry for entry in api_calls if entry.get("method") in ("GET", "POST")]
    assert {entry["status"] for entry in answers} <= {200, 202}, answers
    for answer in answers:
        assert answer["headers"].get("access-control-allow-origin") == origin
        assert answer["request_headers"]["authorization"].startswith("Bearer ")


def signed_in(page: Any) -> None:
    if not page.input_value("#token"):
        page.click("#mint")
        page.wait_for_function("document.getElementById('token').value.startsWith('eyJ')")


def test_the_page_plays_a_video(page_and_traffic: tuple[Any, list[dict[str, Any]], str]) -> None:
    page, _, _ = page_and_traffic
    signed_in(page)
    page.select_option("#kind", "video")
    # Only the fields a video uses: its seconds and its size (the stand-in honours it), no image count
    assert page.is_visible("#duration") and page.is_visible("#size")
    assert not page.is_visible("#num-images")
    page.fill("#duration", "1")
    page.fill("#size", "320x180")
    page.click("#go")
    wait_for_job(page)
    page.wait_for_selector("#result video")
    # Metadata loaded: Chromium fetched the clip from its signed URL and read its duration.
    page.wait_for_function("document.querySelector('#result video').readyState >= 1")
    duration = page.evaluate("document.querySelector('#result video').duration")
    assert 0.5 < duration < 3
    assert page.evaluate("document.querySelector('#result video').videoWidth") == 320
    page.screenshot(path=str(ARTIFACTS / "playground-video-latest.png"), full_page=True)


def test_a_refused_request_shows_each_fields_message(
    page_and_traffic: tuple[Any, list[dict[str, Any]], str],
) -> None:
    """A 422 names every field it refuses (`errors`): the page lists them and marks their inputs."""
    page, _, _ = page_and_traffic
    signed_in(page)
    page.select_option("#kind", "image")
    assert page.is_visible("#num-images") and not page.is_visible("#duration")
    assert page.get_attribute("#num-images", "max") == "8", "the service's bound, from config.json"
    page.fill("#prompt", "   ")
    page.fill("#size", "9000x9000")
    page.click("#go")
    page.wait_for_selector("#field-errors li[data-field=size]")
    errors = page.inner_text("#field-errors")
    assert "prompt: Value error, prompt must not be blank" in errors
    assert "size: Value error, size must be WIDTHxHEIGHT, each from 1 to 8192" in errors
    assert page.get_attribute("#size", "aria-invalid") == "true"
    assert page.get_attribute("#prompt", "aria-invalid") == "true"
    assert "422 validation_error" in page.inner_text("#status")
    # Corrected, the next request clears them
    page.fill("#prompt", "Un phare")
    page.fill("#size", "400x300")  # wider than a phone's column: the 400 px test below
    page.click("#go")
    wait_for_job(page)
    assert page.inner_text("#field-errors") == ""
    assert page.get_attribute("#size", "aria-invalid") is None


def test_the_page_has_its_icon_and_fits_a_400_px_screen(
    page_and_traffic: tuple[Any, list[dict[str, Any]], str],
) -> None:
    page, traffic, origin = page_and_traffic
    icons = [entry for entry in traffic if entry.get("url", "").startswith(f"{origin}/favicon")]
    assert icons and all(entry["status"] == 200 for entry in icons), icons
    assert not [entry for entry in traffic if entry.get("status") == 404]
    # A phone's width, after the jobs above: ids, URLs, the request log, the result and notifications
    page.set_viewport_size({"width": 400, "height": 900})
    # The page laid out again at that width: the next frame is drawn after the resize (not a fixed pause)
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    width = page.evaluate("document.documentElement.scrollWidth")
    # Nor any box whose content overflows it (the request log and the result's figure did, clipped
    # behind a scroll bar); text fields scroll by nature.
    overflowing = page.evaluate(OVERFLOWING_BOXES)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-400px-latest.png"), full_page=True)
    assert width <= 400, f"the page is {width} px wide at 400 px"
    assert overflowing == [], overflowing


def test_cors_answers_only_the_allowed_origins(dev_service: LocalService) -> None:
    playground = f"http://127.0.0.1:{dev_service.env['PLAYGROUND_PORT']}"
    asked = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
    }
    for origin, allowed in ((playground, True), ("https://evil.example", False), ("null", False)):
        answer = requests.options(
            f"{dev_service.base}/api/images/generate", headers={"origin": origin, **asked}, timeout=10
        )
        assert answer.status_code == 204
        if allowed:
            assert answer.headers["access-control-allow-origin"] == origin
            assert "authorization" in answer.headers["access-control-allow-headers"].lower()
        else:
            assert not any(name.lower().startswith("access-control-allow") for name in answer.headers)
    # The page's token carries its origin as azp, as Clerk's do: accepted here, refused for another.
    token = requests.post(
        f"{playground}/token", json={"user": "user_cors"}, timeout=API_ANSWER_SECONDS
    ).json()["token"]
    status = requests.get(
        f"{dev_service.base}/api/notifications", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    assert status.status_code == 200
