"""Live progress against moto: each change of a job, read from the generations table's stream, is
published to its author's channel (and its organization's) as the status body; publish failures are
retried, counted, and never reach the webhook; the onSubscribe handler allows a person their own
channel and their active organization's, nothing else."""

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.events_appsync.exceptions import UnauthorizedException

from completion_webhook.app import lambda_handler as webhook_handler
from deploy.base.lambda_events import appsync_subscribe_event as subscribe_event
from generate.app import lambda_handler as generate_handler
from generation_status.app import lambda_handler as status_handler
from live_subscribe.app import lambda_handler as subscribe_handler
from mediagen.contract.channels import organization_channel, user_channel
from tests.support import FRONT_END, completion_payload, http_api_event, response_json, webhook_event


def generate(token: str, job_id: str, context: Any) -> None:
    body = json.dumps({"prompt": "Un phare breton", "job_id": job_id})
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    answer = generate_handler(
        http_api_event("POST", "/api/images/generate", body=body, headers=headers), context
    )
    assert answer["statusCode"] == 202, answer


def deliver(context: Any, job_id: str, **fields: Any) -> dict[str, Any]:
    answer = webhook_handler(webhook_event(completion_payload(job_id, **fields)), context)
    assert answer["statusCode"] == 200, answer
    return dict(response_json(answer))


def status_body(token: str, job_id: str, context: Any) -> dict[str, Any]:
    event = http_api_event(
        "GET", f"/api/images/{job_id}/status", headers={"authorization": f"Bearer {token}"}
    )
    return dict(response_json(status_handler(event, context)))


def test_every_change_reaches_the_author_and_the_organization_in_order(
    tokens: Any, lambda_context: Any, events_api: Any, run_live_publisher: Any
) -> None:
    # Given a job made by user_a in org_1, which the backend moves through its steps
    token = tokens.token("user_a", org="org_1")
    generate(token, "job_live", lambda_context)
    for progress in (10, 40, 70):
        deliver(lambda_context, "job_live", status="processing", progress=progress, user_id="user_a")
    deliver(lambda_context, "job_live", user_id="user_a")

    # When the stream's records reach the publisher
    answers = run_live_publisher()

    # Then each change went, in order, to the author's channel and to the organization's, as the body
    # the status route answers
    assert all(answer == {"batchItemFailures": []} for answer in answers)
    mine = events_api.events_on(user_channel("user_a"))
    assert [(e["status"], e["progress"]) for e in mine] == [
        ("queued", 0),
        ("processing", 10),
        ("processing", 40),
        ("processing", 70),
        ("completed", 100),
    ]
    assert events_api.events_on(organization_channel("org_1")) == mine
    assert mine[-1] == status_body(token, "job_live", lambda_context)
    assert events_api.refused == []  # every publish was signed by the function's credentials


def test_what_changes_nothing_visible_is_not_published(
    tokens: Any, lambda_context: Any, events_api: Any, run_live_publisher: Any
) -> None:
    # Given a completed job of user_a
    generate(tokens.token("user_a"), "job_done", lambda_context)
    deliver(lambda_context, "job_done", user_id="user_a")
    run_live_publisher()
    published = len(events_api.published)

    # When a duplicate and a late delivery arrive, and a webhook creates a job for nobody
    assert deliver(lambda_context, "job_done", user_id="user_a")["outcome"] == "duplicate"
    stale = deliver(lambda_context, "job_done", status="processing", progress=50, user_id="user_a")
    assert stale["outcome"] == "stale"
    assert deliver(lambda_context, "c76c36ee-838d-4ecb-94ed-37018032c9fd")["outcome"] == "created"
    run_live_publisher()

    # Then nothing more is published: no change to show, and an unattributed job is shown to nobody
    assert len(events_api.published) == published


def test_a_failed_publish_is_retried_counted_and_never_a_webhook_error(
    tokens: Any,
    lambda_context: Any,
    events_api: Any,
    run_live_publisher: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an Events API that fails the next 4 requests (more than the publisher's 3 attempts)
    generate(tokens.token("user_a"), "job_flaky", lambda_context)
    events_api.answers = [500, 503, 429, 500]

    # When the backend reports progress meanwhile
    assert deliver(lambda_context, "job_flaky", status="processing", progress=30, user_id="user_a")["outcome"]

    # Then the webhook was answered 200 as always (above); the publisher reported the first record it
    # could not publish, was given it again, and published everything in order
    answers = run_live_publisher()
    assert answers[0]["batchItemFailures"] and answers[-1] == {"batchItemFailures": []}
    mine = events_api.events_on(user_channel("user_a"))
    assert [(e["status"], e["progress"]) for e in mine] == [("queued", 0), ("processing", 30)]
    metrics = [
        metric["Name"]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and "_aws" in line
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    ]
    assert {"LivePublishRetried", "LivePublishFailed", "LiveEventPublished"} <= set(metrics)


def test_a_batch_publishes_each_channels_changes_five_to_a_request_in_order(
    tokens: Any, lambda_context: Any, events_api: Any, run_live_publisher: Any
) -> None:
    # Given 12 visible changes of two jobs of user_a in org_1 in one batch of stream records
    token = tokens.token("user_a", org="org_1")
    for job_id in ("job_batch_1", "job_batch_2"):
        generate(token, job_id, lambda_context)
    for progress in range(10, 60, 10):
        for job_id in ("job_batch_1", "job_batch_2"):
            deliver(lambda_context, job_id, status="processing", progress=progress, user_id="user_a")

    # When the publisher is given them
    assert run_live_publisher() == [{"batchItemFailures": []}]

    # Then each channel got them all in order, in requests of at most 5 (3 a channel, not 12)
    for channel in (user_channel("user_a"), organization_channel("org_1")):
        requests = [events for name, events in events_api.published if name == channel]
        assert [len(events) for events in requests] == [5, 5, 2]
        seen = [(e["job_id"], e["progress"]) for e in events_api.events_on(channel)]
        for job_id in ("job_batch_1", "job_batch_2"):
            assert [progress for job, progress in seen if job == job_id] == [0, 10, 20, 30, 40, 50]


def test_a_request_that_fails_is_retried_from_its_first_change_and_nothing_is_lost(
    tokens: Any, lambda_context: Any, events_api: Any, run_live_publisher: Any
) -> None:
    # Given 7 changes of one job, and an Events API that fails the second request 3 times
    generate(tokens.token("user_a"), "job_batch_fail", lambda_context)
    for progress in range(10, 70, 10):
        deliver(lambda_context, "job_batch_fail", status="processing", progress=progress, user_id="user_a")
    events_api.answers = [200, 500, 500, 500]

    # When the publisher is given them: the first 5 go, the last 2 fail; Lambda retries from the 6th
    answers = run_live_publisher()

    # Then everything arrived in order, the first 5 once
    assert answers[0]["batchItemFailures"] and answers[-1] == {"batchItemFailures": []}
    steps = [e["progress"] for e in events_api.events_on(user_channel("user_a"))]
    assert steps == [0, 10, 20, 30, 40, 50, 60]


def claims(sub: str, **extra: Any) -> dict[str, Any]:
    return {"sub": sub, "iss": "https://clerk.test", "azp": FRONT_END, **extra}


@pytest.mark.parametrize(
    ("channel", "who"),
    [
        ("/jobs/users/user-a", claims("user_a")),
        ("/jobs/orgs/org-1", claims("user_a", o={"id": "org_1", "rol": "member"})),
        ("/jobs/orgs/org-1", claims("user_a", org_id="org_1")),  # session token v1
    ],
)
def test_a_person_may_subscribe_to_their_channel_and_their_organizations(
    channel: str, who: dict[str, Any], lambda_context: Any
) -> None:
    assert subscribe_handler(subscribe_event(channel, who), lambda_context) is None


@pytest.mark.parametrize(
    ("channel", "who"),
    [
        ("/jobs/users/user-b", claims("user_a")),  # another person's
        ("/jobs/orgs/org-2", claims("user_a", o={"id": "org_1"})),  # another organization's
        ("/jobs/orgs/org-1", claims("user_a")),  # an organization that is not active in the token
        ("/jobs/users/*", claims("user_a")),  # everybody's
        ("/jobs/*", claims("user_a")),
        ("/other/users/user-a", claims("user_a")),  # another namespace
        ("/jobs/users/user-a/x", claims("user_a")),
        ("/jobs/users/user-a", claims("user_a", azp="https://evil.example")),  # a token for another site
        ("/jobs/users/user-a", claims("user_a", sts="pending")),
        ("/jobs/users/user-a", None),  # no identity
        ("/jobs/users/user-a", {"iss": "https://clerk.test"}),  # no subject
    ],
)
def test_anything_else_is_refused(channel: str, who: dict[str, Any] | None, lambda_context: Any) -> None:
    with pytest.raises(UnauthorizedException):
        subscribe_handler(subscribe_event(channel, who), lambda_context)
