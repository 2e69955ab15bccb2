"""A user's cap of jobs in flight (queued or processing; MaxJobsInFlightPerUser, default 10): the next
generate answers 429 `too_many_jobs_in_flight` with Retry-After and writes nothing; the cap holds under
concurrent generates (separate processes, as Lambda's sandboxes are); a place frees as a job
finishes, fails, times out or is canceled."""

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from cancel_generation.app import lambda_handler as cancel_handler
from completion_webhook.app import lambda_handler as webhook_handler
from generate.app import lambda_handler as generate_handler
from mediagen.contract.payloads import IN_FLIGHT_STATUSES
from mediagen.data.models import Generation, UserJobsInFlight
from sweeper.app import lambda_handler as sweeper_handler
from tests.support import (
    LambdaContext,
    TokenMinter,
    completion_payload,
    deliver_all_at_once,
    http_api_event,
    response_json,
    webhook_event,
)

CAP = 3


def generate_event(token: str, job_id: str, kind: str = "image") -> dict[str, Any]:
    body = json.dumps({"prompt": "Un phare breton", "job_id": job_id})
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    return http_api_event("POST", f"/api/{kind}s/generate", body=body, headers=headers)


def queued_messages() -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=os.environ["DISPATCH_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def in_flight(user_id: str) -> list[str]:
    return sorted(
        job.job_id
        for job in Generation.scan()
        if job.author_id == user_id and job.status in IN_FLIGHT_STATUSES
    )


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT_PER_USER", str(CAP))
    return CAP


@pytest.mark.usefixtures("aws")
def test_the_next_generate_at_the_cap_is_429_and_writes_nothing(
    capped: int, tokens: TokenMinter, lambda_context: Any
) -> None:
    token = tokens.token("user_a")
    for index in range(capped):
        assert generate_handler(generate_event(token, f"job_{index}"), lambda_context)["statusCode"] == 202
    before = ([job.serialize() for job in Generation.scan()], queued_messages())

    response = generate_handler(generate_event(token, "job_over", "video"), lambda_context)

    assert response["statusCode"] == 429
    assert response["headers"]["Retry-After"] == "30"
    assert response_json(response)["code"] == "too_many_jobs_in_flight"
    assert ([job.serialize() for job in Generation.scan()], queued_messages()) == before
    # The same job id again is the same job (200), not a new one; another user has its own cap
    assert generate_handler(generate_event(token, "job_0"), lambda_context)["statusCode"] == 200
    other = tokens.token("user_b")
    assert generate_handler(generate_event(other, "job_b"), lambda_context)["statusCode"] == 202


def finish_by_webhook(job_id: str, status: str) -> None:
    payload = completion_payload(job_id, status=status, user_id="user_a")
    assert webhook_handler(webhook_event(payload), LambdaContext())["statusCode"] == 200


def cancel(job_id: str, token: str) -> None:
    event = http_api_event(
        "POST", f"/api/images/{job_id}/cancel", headers={"authorization": f"Bearer {token}"}
    )
    assert cancel_handler(event, LambdaContext())["statusCode"] == 200


def time_out(job_id: str) -> None:
    job = Generation.get(job_id)
    job.created_at = datetime.now(UTC) - timedelta(hours=2)
    job.save()
    assert sweeper_handler({}, LambdaContext())["timed_out"] == 1


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("ending", ["completed", "failed", "canceled", "timed out"])
def test_a_place_frees_as_a_job_ends(
    capped: int, ending: str, tokens: TokenMinter, lambda_context: Any
) -> None:
    token = tokens.token("user_a")
    for index in range(capped):
        assert generate_handler(generate_event(token, f"job_{index}"), lambda_context)["statusCode"] == 202
    assert generate_handler(generate_event(token, "job_next"), lambda_context)["statusCode"] == 429

    if ending in ("completed", "failed"):
        finish_by_webhook("job_1", ending)
    elif ending == "canceled":
        cancel("job_1", token)
    else:
        time_out("job_1")

    assert generate_handler(generate_event(token, "job_next"), lambda_context)["statusCode"] == 202
    assert in_flight("user_a") == ["job_0", "job_2", "job_next"]
    assert UserJobsInFlight.get("user_a").job_ids == {"job_0", "job_2", "job_next"}
    assert generate_handler(generate_event(token, "job_more"), lambda_context)["statusCode"] == 429


@pytest.mark.usefixtures("aws")
def test_a_job_refused_by_the_backend_frees_its_place(
    capped: int, tokens: TokenMinter, lambda_context: Any, fake_backend: Any, run_dispatcher: Any
) -> None:
    token = tokens.token("user_a")
    fake_backend.answers = [(400, {"error": "bad prompt"})]
    for index in range(capped):
        assert generate_handler(generate_event(token, f"job_{index}"), lambda_context)["statusCode"] == 202
    run_dispatcher()  # the backend refuses the first job: it fails at once
    assert len(in_flight("user_a")) == capped - 1
    assert generate_handler(generate_event(token, "job_next"), lambda_context)["statusCode"] == 202


# --- Under real concurrency: separate processes, as Lambda's sandboxes ------------------------------


def test_fifty_concurrent_generates_leave_at_most_the_cap_in_flight(
    aws_server: str, tokens: TokenMinter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given one user and the template's default cap (10)
    monkeypatch.delenv("MAX_JOBS_IN_FLIGHT_PER_USER", raising=False)
    token = tokens.token("user_a")

    # When 50 sandboxes send one generate each, all at once
    events = [generate_event(token, f"job_{index:02d}") for index in range(50)]
    results = [
        (response["statusCode"], response.get("headers", {}).get("Retry-After"))
        for response in deliver_all_at_once("generate.app.lambda_handler", events, sandboxes=50)
    ]

    # Then at most the cap is accepted (exactly the cap here: nothing else holds a place), every
    # other one is told to come back, and exactly those jobs are in flight
    statuses = sorted(status for status, _ in results)
    assert statuses.count(202) == 10, statuses
    assert statuses.count(429) == 40, statuses
    assert all(retry == "30" for status, retry in results if status == 429)
    accepted = in_flight("user_a")
    assert len(accepted) == 10
    assert UserJobsInFlight.get("user_a").job_ids == set(accepted)
    assert len(list(Generation.scan())) == 10  # the refused ones wrote nothing


# --- Jobs the generation backend started (create on missing by a `processing` webhook) ------------


def start_by_webhook(job_id: str, user_id: str | None = "user_a", progress: int = 10) -> str:
    payload = completion_payload(job_id, status="processing", user_id=user_id, progress=progress)
    response = webhook_handler(webhook_event(payload), LambdaContext())
    assert response["statusCode"] == 200, response
    outcome: str = response_json(response)["outcome"]
    return outcome


@pytest.mark.usefixtures("aws")
def test_jobs_the_backend_started_count_against_the_cap(
    capped: int, tokens: TokenMinter, lambda_context: Any
) -> None:
    # Given a person with 2 generated jobs in flight (cap 3)
    token = tokens.token("user_a")
    for index in range(2):
        assert generate_handler(generate_event(token, f"job_{index}"), lambda_context)["statusCode"] == 202

    # When the backend starts 2 jobs of its own for them (signed `processing` webhooks naming them)
    assert start_by_webhook("backend_a") == "created"
    assert start_by_webhook("backend_b") == "created"  # never refused for the cap: it already runs

    # Then they are in the person's jobs in flight, and generate is refused while 3 or more are
    assert UserJobsInFlight.get("user_a").job_ids == {"job_0", "job_1", "backend_a", "backend_b"}
    assert generate_handler(generate_event(token, "job_next"), lambda_context)["statusCode"] == 429
    finish_by_webhook("job_0", "completed")  # 3 still in flight: still at the cap
    assert generate_handler(generate_event(token, "job_next"), lambda_context)["statusCode"] == 429
    finish_by_webhook("backend_a", "completed")  # 2 in flight: a place
    assert generate_handler(generate_event(token, "job_next"), lambda_context)["statusCode"] == 202
    assert UserJobsInFlight.get("user_a").job_ids == {"job_1", "backend_b", "job_next"}
    assert in_flight("user_a") == ["backend_b", "job_1", "job_next"]


@pytest.mark.usefixtures("aws")
def test_an_unattributed_job_claimed_while_processing_counts_against_the_cap(
    capped: int, tokens: TokenMinter, lambda_context: Any
) -> None:
    # Given a job the backend started without naming anyone (unattributed, counted for nobody)
    assert start_by_webhook("backend_anon", user_id=None, progress=10) == "created"
    assert UserJobsInFlight.count() == 0
    # When a later processing event names its person, and a repeated one arrives
    assert start_by_webhook("backend_anon", progress=20) == "updated"
    assert start_by_webhook("backend_anon", progress=20) == "duplicate"
    # Then it is in that person's jobs in flight, once
    assert UserJobsInFlight.get("user_a").job_ids == {"backend_anon"}
    assert Generation.get("backend_anon").author_id == "user_a"
    # And a stale or foreign event changes nothing
    assert start_by_webhook("backend_anon", progress=5) == "stale"
    other = completion_payload("backend_anon", status="processing", user_id="user_b", progress=90)
    assert webhook_handler(webhook_event(other), LambdaContext())["statusCode"] == 409
    assert UserJobsInFlight.count() == 1


def test_concurrent_generates_and_backend_started_jobs_keep_the_count_exact(
    aws_server: str, tokens: TokenMinter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given one person and the template's default cap (10)
    monkeypatch.delenv("MAX_JOBS_IN_FLIGHT_PER_USER", raising=False)
    token = tokens.token("user_a")
    # When 20 generates and 12 `processing` webhooks starting jobs for them (4 of them twice) run in
    # 32 sandboxes at once
    generates = [generate_event(token, f"job_{index:02d}") for index in range(20)]
    started = [f"backend_{index:02d}" for index in range(8)]
    webhooks = [
        webhook_event(completion_payload(job_id, status="processing", user_id="user_a", progress=10))
        for job_id in [*started, *started[:4]]
    ]
    answers = deliver_all_at_once(
        "tests.integration.sandbox_functions.generate_or_deliver", [*generates, *webhooks], sandboxes=32
    )

    # Then every webhook is acknowledged, generates were accepted only below the cap, and the person's
    # jobs in flight are exactly the jobs in flight, whoever created them
    statuses = [answer["statusCode"] for answer in answers]
    assert statuses[20:] == [200] * 12, answers[20:]
    accepted = statuses[:20].count(202)
    assert 2 <= accepted <= 10 and statuses[:20].count(429) == 20 - accepted, statuses
    jobs = in_flight("user_a")
    assert len(jobs) == accepted + 8
    assert UserJobsInFlight.get("user_a", consistent_read=True).job_ids == set(jobs)
    # And the next generate is refused: at least 10 are in flight
    refused = deliver_all_at_once("generate.app.lambda_handler", [generate_event(token, "job_more")])
    assert refused[0]["statusCode"] == 429
