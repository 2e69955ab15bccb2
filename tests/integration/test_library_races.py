"""The library's races, with real concurrency: each invocation in its own sandbox process (as Lambda
runs them), through DynamoDB over HTTP (moto's server, then AWS's DynamoDB Local). None may resurrect
a deleted job, leave a notification of a deleted job, double-count the cap, or skip or repeat an item
that existed for the whole walk of a list."""

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.emulator.sandbox import Function, SandboxPool
from mediagen.contract.payloads import IN_FLIGHT_STATUSES
from mediagen.data.models import Generation, UserJobsInFlight
from tests.integration.test_library import list_page, live_notifications, seed_jobs
from tests.support import (
    RACE_TIMEOUT_SECONDS,
    TokenMinter,
    completion_payload,
    http_api_event,
    response_json,
    webhook_event,
)

pytestmark = pytest.mark.usefixtures("aws_server")
JOBS = 6


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxPool]:
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT_PER_USER", str(JOBS))  # the sandboxes' cap
    functions = [
        Function("Webhook", "completion_webhook.app.lambda_handler", timeout=RACE_TIMEOUT_SECONDS),
        Function("Library", "library.app.lambda_handler", timeout=RACE_TIMEOUT_SECONDS),
        Function("Generate", "generate.app.lambda_handler", timeout=RACE_TIMEOUT_SECONDS),
    ]
    with SandboxPool(functions, dict(os.environ), sandboxes=JOBS) as sandboxes:
        yield sandboxes


def delete_event(token: str, job_id: str) -> dict[str, Any]:
    return http_api_event("DELETE", f"/api/images/{job_id}", headers={"authorization": f"Bearer {token}"})


def generate_event(token: str, job_id: str) -> dict[str, Any]:
    body = json.dumps({"prompt": "Un phare breton", "job_id": job_id})
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    return http_api_event("POST", "/api/images/generate", body=body, headers=headers)


def at_once(pool: SandboxPool, batches: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    """Each function's batch released at once in its own sandboxes, the batches side by side."""
    for name, events in batches.items():
        pool.warm(name, len(events))
    with ThreadPoolExecutor(len(batches)) as callers:
        futures = {
            name: callers.submit(pool.invoke_all_at_once, name, events) for name, events in batches.items()
        }
        return {name: future.result() for name, future in futures.items()}


def live_jobs() -> dict[str, Generation]:
    return {job.job_id: job for job in Generation.scan(consistent_read=True) if job.deleted_at is None}


def in_flight_set(user_id: str) -> set[str]:
    try:
        return set(UserJobsInFlight.get(user_id, consistent_read=True).job_ids or ())
    except UserJobsInFlight.DoesNotExist:
        return set()


def test_delete_racing_a_completion_webhook(pool: SandboxPool, tokens: TokenMinter) -> None:
    # Given JOBS jobs of A in flight (from generate, processing)
    token = tokens.token("user_a")
    ids = [f"job_race_{index}" for index in range(JOBS)]
    for job_id in ids:
        assert pool.invoke("Generate", generate_event(token, job_id))["statusCode"] == 202
        processing = completion_payload(job_id, user_id="user_a", status="processing", progress=10)
        assert pool.invoke("Webhook", webhook_event(processing))["statusCode"] == 200

    # When each job's completion webhook and its delete run at the same instant
    answers = at_once(
        pool,
        {
            "Webhook": [webhook_event(completion_payload(job_id, user_id="user_a")) for job_id in ids],
            "Library": [delete_event(token, job_id) for job_id in ids],
        },
    )

    # Then every delete succeeded and every delivery was acknowledged (applied before, or `deleted`)
    assert [answer["statusCode"] for answer in answers["Library"]] == [200] * JOBS
    outcomes = Counter(response_json(answer)["outcome"] for answer in answers["Webhook"])
    assert set(outcomes) <= {"updated", "deleted"}, outcomes
    # and nothing of the jobs is left: no live item, no notification, no place in the cap (A, at the
    # cap before, generates JOBS new jobs)
    assert live_jobs() == {}
    assert live_notifications() == []
    fresh = [pool.invoke("Generate", generate_event(token, f"job_new_{i}")) for i in range(JOBS)]
    assert [answer["statusCode"] for answer in fresh] == [202] * JOBS
    # and a later delivery for any of them changes nothing
    for job_id in ids:
        late = pool.invoke("Webhook", webhook_event(completion_payload(job_id, user_id="user_a")))
        assert response_json(late)["outcome"] == "deleted"
    assert set(live_jobs()) == {f"job_new_{i}" for i in range(JOBS)}
    assert live_notifications() == []


def test_delete_racing_itself(pool: SandboxPool, tokens: TokenMinter) -> None:
    # Given one completed job of A, with its notification
    token = tokens.token("user_a")
    assert (
        pool.invoke("Webhook", webhook_event(completion_payload("job_twice", user_id="user_a")))["statusCode"]
        == 200
    )

    # When JOBS deletes of it run at once
    answers = at_once(pool, {"Library": [delete_event(token, "job_twice")] * JOBS})["Library"]

    # Then exactly one is 200, every other 404; nothing is left
    assert sorted(answer["statusCode"] for answer in answers) == [200] + [404] * (JOBS - 1)
    assert live_jobs() == {}
    assert live_notifications() == []


def test_delete_racing_generate_with_the_same_id(pool: SandboxPool, tokens: TokenMinter) -> None:
    # Given ids that do not exist yet: for each, a generate and a delete at the same instant
    token = tokens.token("user_a")
    ids = [f"job_gen_{index}" for index in range(JOBS)]
    answers = at_once(
        pool,
        {
            "Generate": [generate_event(token, job_id) for job_id in ids],
            "Library": [delete_event(token, job_id) for job_id in ids],
        },
    )

    # Then each id is either a live queued job (the delete came first: 404) or spent (200)
    live = live_jobs()
    for job_id, created, deleted in zip(ids, answers["Generate"], answers["Library"], strict=True):
        assert created["statusCode"] == 202, created
        assert deleted["statusCode"] in (200, 404), deleted
        assert (job_id in live) == (deleted["statusCode"] == 404), job_id
    # and the cap counts exactly the live jobs in flight: never a deleted one, never twice
    assert in_flight_set("user_a") == {
        job_id for job_id, job in live.items() if job.status in IN_FLIGHT_STATUSES
    }

    # When each id is generated again while deleted again, at once
    again = at_once(
        pool,
        {
            "Generate": [generate_event(token, job_id) for job_id in ids],
            "Library": [delete_event(token, job_id) for job_id in ids],
        },
    )

    # Then no deleted job came back: a generate reusing a spent id is 409, never a new job (202)
    assert all(answer["statusCode"] in (200, 409) for answer in again["Generate"]), again["Generate"]
    assert live_jobs() == {}
    assert in_flight_set("user_a") == set()


def test_a_list_walk_while_jobs_are_created_and_deleted(
    pool: SandboxPool, tokens: TokenMinter, lambda_context: Any
) -> None:
    # Given 40 jobs of A that stay for the whole walk, and 12 that will be deleted during it
    stable = seed_jobs("user_a", 40, prefix="stable")
    doomed = seed_jobs("user_a", 12, prefix="doomed")
    token = tokens.token("user_a")
    headers = {"authorization": f"Bearer {token}"}

    # When A walks the list in pages of 7 while new jobs are generated and the doomed ones deleted
    stop = threading.Event()

    def churn() -> tuple[list[Any], list[Any]]:
        created = pool.invoke_all_at_once(
            "Generate", [generate_event(token, f"new_{i}") for i in range(JOBS)]
        )
        deleted = pool.invoke_all_at_once(
            "Library", [delete_event(token, job_id) for job_id in doomed[:JOBS]]
        )
        deleted += pool.invoke_all_at_once(
            "Library", [delete_event(token, job_id) for job_id in doomed[JOBS:]]
        )
        stop.set()
        return created, deleted

    seen: list[str] = []
    pool.warm("Generate")
    pool.warm("Library")
    with ThreadPoolExecutor(1) as background:
        churning = background.submit(churn)
        walks = 0
        while not stop.is_set() or walks == 0:
            seen = []
            cursor = None
            while True:
                query: dict[str, Any] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
                body = response_json(list_page(headers, lambda_context, **query))
                seen += [item["job_id"] for item in body["items"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
                # Then within one walk, no item repeats, and every stable job appears exactly once
            assert len(seen) == len(set(seen)), Counter(seen).most_common(3)
            assert set(stable) <= set(seen)
            walks += 1
        created, deleted = churning.result()

    assert [answer["statusCode"] for answer in created] == [202] * JOBS
    assert [answer["statusCode"] for answer in deleted] == [200] * len(doomed)
    # And after the churn, a walk lists the stable and the new jobs, no deleted one
    final = [item["job_id"] for item in response_json(list_page(headers, lambda_context, limit=100))["items"]]
    assert set(final) == set(stable) | {f"new_{i}" for i in range(JOBS)}
