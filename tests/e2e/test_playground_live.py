"""The playground shows a job's progress by push: it subscribes to the person's channel on the local
AppSync Events endpoint (and says which), and its progress bar moves with the pushed status bodies; the
status route is read only to catch up. In Debian's Chromium, which has accepted the local endpoint's
certificate (as a developer does once)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LocalService, run_service
from tests.e2e.test_playground import CHROMIUM, CHROMIUM_ARGS, JOB_MS, STEP_MS, browser_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def dev_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    browser_or_skip()
    yield from run_service(tmp_path_factory.mktemp("playground-live"))


@pytest.fixture
def page(dev_service: LocalService) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            opened = browser.new_context(ignore_https_errors=True).new_page()
            opened.set_default_timeout(STEP_MS)
            opened.goto(f"http://127.0.0.1:{dev_service.env['PLAYGROUND_PORT']}/", wait_until="load")
            opened.wait_for_selector("body[data-ready=true]", state="attached")
            yield opened
        finally:
            browser.close()


def test_the_playground_shows_progress_by_push_and_names_its_channel(
    page: Any, dev_service: LocalService, tmp_path: Path
) -> None:
    # The token is minted: the page subscribes to its person's channel and says which
    page.fill("#user", "user_live")
    page.click("#mint")
    page.wait_for_function("document.getElementById('token').value.startsWith('eyJ')")
    page.wait_for_selector("#live[data-state=live]", timeout=JOB_MS)
    realtime = dev_service.info()["events"]["realtime"]
    assert page.inner_text("#live") == f"Live progress: subscribed to /jobs/users/user-live on {realtime}."
    # A job: its steps move the progress bar by push
    page.click("#go")
    page.wait_for_selector("#status[data-status=completed]", timeout=JOB_MS)
    pushed = int(page.get_attribute("#status", "data-pushed") or 0)
    assert pushed >= 2, "the stand-in's progress steps and the completion came by push"
    assert page.get_attribute("#status", "data-source") == "push"
    page.wait_for_selector("#result img")


def test_a_job_deleted_elsewhere_leaves_the_view_by_its_deleted_event(
    page: Any, dev_service: LocalService
) -> None:
    """The job's last event (`deleted`, issue 31) drops it from the gallery, without a reload or a poll:
    deleted from another tab (here: the API, with the page's own token)."""
    import requests

    page.fill("#user", "user_gone_live")
    page.click("#mint")
    page.wait_for_function("document.getElementById('token').value.startsWith('eyJ')")
    page.wait_for_selector("#live[data-state=live]", timeout=JOB_MS)
    page.click("#go")
    page.wait_for_selector("#status[data-status=completed]", timeout=JOB_MS)
    job_id = page.inner_text("#status").split(":")[0]
    page.click("#library-refresh")
    entry = f"#library li[data-job-id='{job_id}']"
    page.wait_for_selector(entry, timeout=JOB_MS)

    token = page.input_value("#token")
    deleted = requests.delete(
        f"{dev_service.base}/api/images/{job_id}", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    assert deleted.status_code == 200, deleted.text

    page.wait_for_selector(entry, state="detached", timeout=JOB_MS)
