"""Live progress in Chromium with AWS's own client: the official `aws-amplify` `events` client, given the
endpoint `make run` prints and a Clerk-shaped token, receives every step of a job in order, and a second
person's subscription to the first person's channel is refused. Then the kit's `watchJob`: pushed
steps while the socket is up, polling while the local endpoint is down mid-job, and back to pushed
steps once Amplify has connected and subscribed again.

The page is the kit bundled by esbuild (pinned in kits/frontend), served from its own origin (an
allowed origin of the service, as a front end is); Chromium is Debian's, driven by Playwright."""

import http.server
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import LocalService, free_port, own_keys, run_service
from tests.e2e.test_playground import CHROMIUM, CHROMIUM_ARGS, STEP_MS, browser_or_skip
from tests.kits.test_frontend_kit import BIN, node_kit  # noqa: F401 - a fixture
from tests.support import TokenMinter, completion_payload, signed_headers

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
KIT = Path(__file__).resolve().parents[2] / "kits" / "frontend"
ENTRY = """
import { events } from "aws-amplify/api";
import { configureLiveProgress, createMediagenClient, userChannel, watchJob } from "../src";
(window as any).kit = { configureLiveProgress, createMediagenClient, events, userChannel, watchJob };
document.body.dataset.ready = "true";
"""
# ms: each wait is for one step to reach the page: a push (the table's stream read, then one invocation
# of the publisher) or a status read (one invocation), each within the function's timeout in the
# local service, or Amplify's reconnection after the endpoint's restart; the pages' bound (STEP_MS,
# tests/e2e/test_playground.py) covers them. A wait ends as soon as its state comes.
WAIT_MS = STEP_MS


@pytest.fixture(scope="module")
def page_origin(node_kit: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    """The kit bundled for the browser, on a page of its own origin."""
    browser_or_skip()
    site = tmp_path_factory.mktemp("site")
    build = Path(KIT / f".build-live-{site.name}")
    build.mkdir()
    try:
        (build / "entry.ts").write_text(ENTRY)
        subprocess.run(  # noqa: S603 - the kit's pinned bundler
            [str(BIN / "esbuild"), str(build / "entry.ts"), "--bundle", "--format=iife", "--platform=browser",
             f"--outfile={site / 'kit.js'}", "--log-level=warning"],
            cwd=KIT, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    finally:
        shutil.rmtree(build, ignore_errors=True)
    (site / "index.html").write_text(
        '<!doctype html><html><body><script src="kit.js"></script></body></html>'
    )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def service(
    page_origin: str, tmp_path_factory: pytest.TempPathFactory, jwks_file: Path
) -> Iterator[LocalService]:
    """Jobs wait for the test's webhooks; the page's origin is a front end's (CORS, azp, Origin)."""
    keys = own_keys(jwks_file)
    keys["AUTH_AUTHORIZED_PARTIES"] += f",{page_origin}"
    yield from run_service(tmp_path_factory.mktemp("live-browser"), LOCAL_GENERATOR="off", **keys)


@pytest.fixture(scope="module")
def printed_endpoint(service: LocalService) -> str:
    """The endpoint as `make run` prints it at start (its banner's `live events:` line)."""
    found = re.search(r"live events:\s+(https://\S+/event)", service.output())
    assert found, service.output()
    return found.group(1)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Any, origin: str) -> Any:
    # The local endpoint's certificate is the one the service made (not a public authority's): this
    # browser accepts it, as a developer does once (docs/local-service.md).
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    page.goto(f"{origin}/", wait_until="load")
    page.wait_for_selector("body[data-ready=true]", state="attached")
    return page


def deliver(service: LocalService, job_id: str, user: str, **fields: Any) -> None:
    body = json.dumps(completion_payload(job_id, user_id=user, **fields))
    answer = requests.post(
        f"{service.base}/api/webhooks/image-completion", data=body, headers=signed_headers(body), timeout=10
    )
    assert answer.status_code == 200, answer.text


SUBSCRIBE = """async ([endpoint, token, userId, channelOf]) => {
  window.received = []; window.errors = [];
  window.kit.configureLiveProgress({ endpoint, region: "us-east-1", getToken: async () => token });
  const channel = await window.kit.events.connect(channelOf || await window.kit.userChannel(userId));
  const subscription = channel.subscribe({
    next: (message) => window.received.push(message.event),
    error: (error) => window.errors.push(JSON.stringify(error)),
  });
  try { await subscription.ready; return "subscribed"; } catch (error) { return "refused: " + error; }
}"""


def test_amplify_events_receives_every_step_in_order_and_a_stranger_is_refused(
    service: LocalService, printed_endpoint: str, page_origin: str, browser: Any, tokens: TokenMinter
) -> None:
    alice = tokens.token("user_alice", azp=page_origin, expires_in=900)
    bob = tokens.token("user_bob", azp=page_origin, expires_in=900)
    mine, theirs = open_page(browser, page_origin), open_page(browser, page_origin)

    assert mine.evaluate(SUBSCRIBE, [printed_endpoint, alice, "user_alice", None]) == "subscribed"
    # Bob, with his own token, asks for Alice's channel: refused by the onSubscribe handler
    alices_channel = mine.evaluate("() => window.kit.userChannel('user_alice')")
    refused = theirs.evaluate(SUBSCRIBE, [printed_endpoint, bob, "user_bob", alices_channel])
    assert refused.startswith("refused") and "Unauthorized" in refused, refused

    job_id = f"job_amplify_{int(time.time() * 1000)}"
    for progress in (10, 30, 55, 80):
        deliver(service, job_id, "user_alice", status="processing", progress=progress)
    deliver(service, job_id, "user_alice")

    mine.wait_for_function("() => window.received.some((e) => e.status === 'completed')", timeout=WAIT_MS)
    steps = mine.evaluate("() => window.received")
    assert [(e["job_id"], e["status"], e["progress"]) for e in steps] == [
        (job_id, "processing", 10),
        (job_id, "processing", 30),
        (job_id, "processing", 55),
        (job_id, "processing", 80),
        (job_id, "completed", 100),
    ]
    assert mine.evaluate("() => window.errors") == []
    assert theirs.evaluate("() => window.received") == []  # nothing of Alice's reached Bob


WATCH = """async ([endpoint, base, token, kind, jobId]) => {
  window.statuses = []; window.pushed = []; window.modes = []; window.final = null;
  window.kit.configureLiveProgress({ endpoint, region: "us-east-1", getToken: async () => token });
  const client = window.kit.createMediagenClient({ baseUrl: base, getToken: async () => token });
  const channel = await window.kit.userChannel("user_carol");
  const watch = window.kit.watchJob({
    client, kind, jobId, channel, pollIntervalMs: 500,
    onStatus: (status, source) => window.statuses.push([status.status, status.progress, source]),
    onPush: (status) => window.pushed.push(status.progress),
    onMode: (mode) => window.modes.push(mode),
  });
  watch.done.then((status) => { window.final = status; }, (error) => { window.final = String(error); });
  return channel;
}"""


def test_the_kit_falls_back_to_polling_when_the_socket_drops_and_resubscribes(
    service: LocalService, printed_endpoint: str, page_origin: str, browser: Any, tokens: TokenMinter
) -> None:
    carol = tokens.token("user_carol", azp=page_origin, expires_in=900)
    job_id = f"job_watch_{int(time.time() * 1000)}"
    deliver(service, job_id, "user_carol", status="processing", progress=5)
    page = open_page(browser, page_origin)
    page.evaluate(WATCH, [printed_endpoint, service.base, carol, "image", job_id])
    page.wait_for_function("() => window.modes.at(-1) === 'live'", timeout=WAIT_MS)

    # While the socket is up, a step is pushed (and shown: by the push, or by the catch-up read that
    # follows each subscription when that one answers first)
    deliver(service, job_id, "user_carol", status="processing", progress=20)
    page.wait_for_function("() => window.pushed.includes(20)", timeout=WAIT_MS)
    page.wait_for_function("() => window.statuses.some(([s, p]) => p === 20)", timeout=WAIT_MS)

    # The local endpoint restarts mid-job (down 6 s): the kit polls, and sees the next step by polling
    answer = requests.post(f"{service.base}/_local/events/restart?down_seconds=6", timeout=10)
    assert answer.status_code == 200
    page.wait_for_function("() => window.modes.at(-1) === 'polling'", timeout=WAIT_MS)
    deliver(service, job_id, "user_carol", status="processing", progress=45)
    page.wait_for_function(
        "() => window.statuses.some(([s, p, src]) => p === 45 && src === 'poll')", timeout=WAIT_MS
    )

    # The endpoint is back: Amplify connects and subscribes again, and the next steps are pushed
    page.wait_for_function("() => window.modes.at(-1) === 'live'", timeout=WAIT_MS)
    deliver(service, job_id, "user_carol", status="processing", progress=70)
    page.wait_for_function("() => window.pushed.includes(70)", timeout=WAIT_MS)
    deliver(service, job_id, "user_carol")
    page.wait_for_function("() => window.final !== null", timeout=WAIT_MS)

    final = page.evaluate("() => window.final")
    assert isinstance(final, dict) and final["status"] == "completed", final
    statuses = page.evaluate("() => window.statuses")
    progress = [p for _, p, _ in statuses]
    assert progress == sorted(progress) and progress[-1] == 100  # never backwards, nothing twice
    assert len(progress) == len(set(progress))
    modes = page.evaluate("() => window.modes")
    assert modes[:2] == ["polling", "live"] and "polling" in modes[2:] and modes[-1] == "live"


WATCH_UNTIL_DELETED = """async ([endpoint, base, token, kind, jobId]) => {
  window.statuses = []; window.modes = []; window.deleted = null; window.ended = null;
  window.kit.configureLiveProgress({ endpoint, region: "us-east-1", getToken: async () => token });
  const client = window.kit.createMediagenClient({ baseUrl: base, getToken: async () => token });
  const watch = window.kit.watchJob({
    client, kind, jobId, channel: await window.kit.userChannel("user_dora"), pollIntervalMs: 500,
    onStatus: (status, source) => window.statuses.push([status.status, status.progress, source]),
    onMode: (mode) => window.modes.push(mode),
    onDeleted: (event) => { window.deleted = event; },
  });
  watch.done.then(
    (status) => { window.ended = ["resolved", status.status]; },
    (error) => { window.ended = ["rejected", error.status, error.code]; },
  );
}"""


def test_the_kit_ends_a_watch_on_the_jobs_deleted_event(
    service: LocalService, printed_endpoint: str, page_origin: str, browser: Any, tokens: TokenMinter
) -> None:
    """A job in progress deleted elsewhere: its last event (`deleted`, issue 31) ends the watch at once,
    `onDeleted` gets it and `done` rejects with a 404 of code `deleted`, as a poll would answer."""
    dora = tokens.token("user_dora", azp=page_origin, expires_in=900)
    job_id = f"job_gone_{int(time.time() * 1000)}"
    deliver(service, job_id, "user_dora", status="processing", progress=30)
    page = open_page(browser, page_origin)
    page.evaluate(WATCH_UNTIL_DELETED, [printed_endpoint, service.base, dora, "image", job_id])
    page.wait_for_function("() => window.modes.at(-1) === 'live'", timeout=WAIT_MS)
    page.wait_for_function("() => window.statuses.some(([s, p]) => p === 30)", timeout=WAIT_MS)

    deleted = requests.delete(
        f"{service.base}/api/images/{job_id}", headers={"authorization": f"Bearer {dora}"}, timeout=10
    )
    assert deleted.status_code == 200, deleted.text

    page.wait_for_function("() => window.ended !== null", timeout=WAIT_MS)
    assert page.evaluate("() => window.ended") == ["rejected", 404, "deleted"]
    event = page.evaluate("() => window.deleted")
    assert (event["job_id"], event["kind"], event["status"]) == (job_id, "image", "deleted")
    assert page.evaluate("() => window.modes.at(-1)") == "live"  # by push, not by a poll's 404
