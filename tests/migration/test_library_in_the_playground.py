"""Issue 21's walk-through, as a person would do it: Alice has 250 jobs, some brought over by `make
migrate` from the old database, the rest made since; in the playground (headless Chromium, its own
origin, real CORS preflights) she walks her library in pages of 20, deletes one job, and it is gone
everywhere: status, result, every page of her library, her notifications, the bucket. A screenshot is
kept under .local/artifacts/."""

import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.e2e import conftest as e2e_conftest
from tests.e2e.conftest import API_ANSWER_SECONDS, LocalService, free_port, run_service
from tests.e2e.test_playground import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, STEP_MS, browser_or_skip
from tests.migration.conftest import migrate
from tests.support import ISSUER, WEBHOOK_SECRET, TokenMinter, completion_payload, signed_headers

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
USER = "user_alice"  # the old database's Alice (tests/migration/fixture.sql)
JOBS = int(os.environ.get("LIBRARY_WALK_JOBS", "250"))
PAGE = 20
REMOVAL_SECONDS = 60  # the contract: a deleted job's files leave the bucket within a minute


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 48), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def playground_service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    """The service with the test's keys; the playground's origin is an allowed party (CORS, azp)."""
    browser_or_skip()
    playground_port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        # After 250 jobs the local service's live progress publisher can still be working through the
        # table's stream when SIGTERM comes, and a stop waits for its batch (about 8 s each; seen: two
        # batches read again after the stop, reported to the live progress work in notes/log.md): the
        # clean-stop check stays, with 60 s instead of 20.
        patch.setattr(e2e_conftest, "STOP_SECONDS", 60)
        yield from run_service(
            tmp_path_factory.mktemp("library-playground"),
            LOCAL_GENERATOR="off",
            PLAYGROUND_PORT=str(playground_port),
            AUTH_ISSUER=ISSUER,
            AUTH_JWKS_URL=jwks_file.as_uri(),
            AUTH_AUTHORIZED_PARTIES=f"http://127.0.0.1:{playground_port}",
            WEBHOOK_SECRETS=WEBHOOK_SECRET,
        )


def s3_of(service: LocalService) -> tuple[Any, str]:
    import boto3

    info = service.info()
    client = boto3.client(
        "s3",
        endpoint_url=info["aws_endpoint"],
        region_name=info["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return client, info["media_bucket"]


def make_job(service: LocalService, s3: Any, bucket: str, index: int) -> str:
    """A job the backend made and completed since the migration, with its file in the bucket."""
    job_id = f"new_{index:03d}_{uuid.uuid4().hex[:6]}"
    s3.put_object(Bucket=bucket, Key=f"images/{job_id}/0.png", Body=png((index % 256, 90, 160)))
    payload = completion_payload(job_id, user_id=USER, images=1, prompt=f"Un phare n°{index}")
    payload["data"]["images"][0].update(dimensions="48x48")
    body = json.dumps(payload, ensure_ascii=False)
    answer = requests.post(
        f"{service.base}/api/webhooks/image-completion",
        data=body.encode(),
        headers=signed_headers(body),
        timeout=API_ANSWER_SECONDS,
    )
    assert answer.status_code == 200, answer.text
    return job_id


def test_alice_walks_250_jobs_in_pages_of_20_then_deletes_one(
    playground_service: LocalService, legacy_db: str, signing_key: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    service = playground_service
    origin = f"http://127.0.0.1:{service.env['PLAYGROUND_PORT']}"
    token = TokenMinter(signing_key, "test-key-1").token(USER, azp=origin, expires_in=1800)
    headers = {"authorization": f"Bearer {token}"}

    # Given Alice's jobs brought over from the old database...
    run = migrate(legacy_db, tmp_path / "report.json", PORT=service.env["PORT"])
    assert run.code == 0, run.stderr
    migrated = [
        item["job_id"]
        for item in requests.get(
            f"{service.base}/api/images?limit=100", headers=headers, timeout=API_ANSWER_SECONDS
        ).json()["items"]
    ]
    assert migrated, "the fixture gives Alice migrated jobs"
    # ...and the jobs made since, 250 in all
    s3, bucket = s3_of(service)
    with ThreadPoolExecutor(2) as pool:  # two sandboxes: what a stop has to wind down stays small
        made = list(pool.map(lambda i: make_job(service, s3, bucket, i), range(JOBS - len(migrated))))
    everyone = set(migrated) | set(made)
    assert len(everyone) == JOBS

    shots: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            # Each wait below is for one answer of the service (a list page, the delete, 20 previews
            # from the bucket), with the pages' bound (STEP_MS: what the service allows an answer), not
            # Playwright's 30 s: with 250 jobs in moto an answer is slower than with 10, and this test
            # is about what is listed, not how fast (that is bench/library.py's).
            page.set_default_timeout(STEP_MS)
            api_answers: list[tuple[str, str, int]] = []
            page.on("response", lambda r: api_answers.append((r.request.method, r.url, r.status)))
            page.goto(f"{origin}/", wait_until="load")
            page.wait_for_selector("body[data-ready=true]")
            page.fill("#token", token)

            # When she opens her library and follows "More" to the end, 20 at a time
            pages = 0
            while pages == 0 or page.is_visible("#library-more"):
                shown = page.locator("#gallery li").count()
                with page.expect_response(
                    lambda r: "/api/images?" in r.url and r.request.method == "GET"
                ) as listed_page:
                    page.click("#library-more" if pages else "#library-refresh")
                answer = listed_page.value
                assert answer.status == 200, f"page {pages + 1}: {answer.status} {answer.text()[:300]}"
                page.wait_for_function(f"document.querySelectorAll('#gallery li').length > {shown}")
                pages += 1
            listed = page.eval_on_selector_all("#gallery li", "items => items.map(i => i.dataset.jobId)")

            # Then every job once, newest first, in pages of 20, the migrated ones (old dates) last
            assert pages == -(-JOBS // PAGE)
            assert len(listed) == JOBS and set(listed) == everyone
            assert set(listed[-len(migrated) :]) == set(migrated)
            list_calls = [(m, u, s) for m, u, s in api_answers if "/api/images?" in u and m == "GET"]
            assert len(list_calls) == pages and all(s == 200 for _, _, s in list_calls)
            assert all("limit=20" in u for _, u, _ in list_calls)
            page.wait_for_function(
                "[...document.querySelectorAll('#gallery img')].slice(0, 20)"
                ".every(i => i.complete && i.naturalWidth === 48)"
            )
            page.eval_on_selector("#library", "section => section.scrollIntoView()")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / f"playground-library-{time.strftime('%Y%m%d-%H%M%S')}.png"
            page.screenshot(path=str(shot), full_page=False)
            shots.append(shot)

            # When she deletes the newest one
            victim = listed[0]
            page.click(f"#gallery li[data-job-id={victim}] button.delete")
            page.wait_for_selector(f"#gallery li[data-job-id={victim}]", state="detached")
            deletes = [(m, s) for m, u, s in api_answers if m == "DELETE"]
            assert deletes == [("DELETE", 200)]
            page.screenshot(path=str(ARTIFACTS / "playground-library-latest.png"), full_page=False)
        finally:
            browser.close()

    # Then it is gone everywhere
    assert (
        requests.get(
            f"{service.base}/api/images/{victim}/status", headers=headers, timeout=API_ANSWER_SECONDS
        ).status_code
        == 404
    )
    assert (
        requests.get(
            f"{service.base}/api/images/{victim}/result", headers=headers, timeout=API_ANSWER_SECONDS
        ).status_code
        == 404
    )
    remaining: list[str] = []
    cursor = None
    while True:
        query: dict[str, Any] = {"limit": PAGE} | ({"cursor": cursor} if cursor else {})
        body = requests.get(
            f"{service.base}/api/images", params=query, headers=headers, timeout=API_ANSWER_SECONDS
        ).json()
        remaining += [item["job_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(remaining) == JOBS - 1 and set(remaining) == everyone - {victim}
    notifications = requests.get(
        f"{service.base}/api/notifications?limit=100", headers=headers, timeout=API_ANSWER_SECONDS
    ).json()
    assert victim not in {n["metadata"]["generation_id"] for n in notifications["items"]}
    deadline = time.monotonic() + REMOVAL_SECONDS
    while s3.list_objects_v2(Bucket=bucket, Prefix=f"images/{victim}/").get("KeyCount", 0):
        assert time.monotonic() < deadline, "the deleted job's file is still in the bucket after a minute"
        time.sleep(0.5)
    assert all(shot.stat().st_size > 10_000 for shot in shots)
