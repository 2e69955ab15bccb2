"""Concurrent duplicate deliveries, each in its own sandbox process as Lambda runs them, over real HTTP
(DynamoDB on moto's server, then on DynamoDB Local): the job is created exactly once, its files stored
once, its user notified once, and every delivery answered 2xx."""

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from mediagen.data.models import Generation, Notification
from mediagen.data.notifications import notification_id
from mediagen.rules.notifications import job_notification, notify_once
from tests.support import (
    completion_payload,
    deliver_all_at_once,
    http_api_event,
    response_json,
    seed_job,
    webhook_event,
)

DELIVERIES = 50
WEBHOOK = "completion_webhook.app.lambda_handler"
GENERATE = "generate.app.lambda_handler"
pytestmark = pytest.mark.usefixtures("aws_server")


def assert_one_job_with_four_files_and_one_notification(job_id: str, user_id: str) -> None:
    [job] = list(Generation.scan())
    assert (job.job_id, job.author_id, job.status, job.source) == (
        job_id,
        user_id,
        "completed",
        "backend-direct",
    )
    assert sorted(f.s3_key for f in job.files) == [f"images/{job_id}/{i}.png" for i in range(4)]
    [notification] = list(Notification.scan())
    assert (notification.user_id, notification.generation_id) == (user_id, job_id)


def test_fifty_copies_of_one_delivery_create_the_job_once() -> None:
    # Given one signed completed webhook (4 images) for a job we have no record of
    payload = completion_payload("job_race", user_id="user_a")
    event = webhook_event(payload, webhook_id="msg_race")

    # When 50 copies arrive at the same moment
    responses = deliver_all_at_once(WEBHOOK, [dict(event) for _ in range(DELIVERIES)])

    # Then all are acknowledged, one created it, and the rest are duplicates
    assert [r["statusCode"] for r in responses] == [200] * DELIVERIES
    outcomes = Counter(response_json(r)["outcome"] for r in responses)
    assert outcomes == {"created": 1, "duplicate": DELIVERIES - 1}
    assert_one_job_with_four_files_and_one_notification("job_race", "user_a")


def test_fifty_deliveries_split_between_two_webhook_ids() -> None:
    payload = completion_payload("job_race2", user_id="user_a")
    events = [webhook_event(payload, webhook_id=f"msg_{i % 2}") for i in range(DELIVERIES)]

    responses = deliver_all_at_once(WEBHOOK, events)

    assert all(200 <= r["statusCode"] < 300 for r in responses)
    assert Counter(response_json(r)["outcome"] for r in responses)["created"] == 1
    assert_one_job_with_four_files_and_one_notification("job_race2", "user_a")


def test_processing_and_completed_race_ends_completed() -> None:
    # Progress events and the completion arrive together, in any order: the final state wins.
    job_id = "job_mixed"
    events = [
        webhook_event(completion_payload(job_id, user_id="user_a"), webhook_id="msg_done") for _ in range(10)
    ]
    events += [
        webhook_event(completion_payload(job_id, status="processing", progress=p, user_id="user_a"))
        for p in range(10, 100, 2)
    ]

    responses = deliver_all_at_once(WEBHOOK, events)

    assert all(r["statusCode"] == 200 for r in responses)
    assert Counter(response_json(r)["outcome"] for r in responses)["created"] == 1
    assert_one_job_with_four_files_and_one_notification(job_id, "user_a")
    assert Generation.get(job_id).progress == 100


def test_two_users_racing_for_one_job_id_one_wins_the_other_is_refused() -> None:
    events = [webhook_event(completion_payload("job_contested", user_id=f"user_{i % 2}")) for i in range(20)]

    responses = deliver_all_at_once(WEBHOOK, events)

    statuses = Counter(r["statusCode"] for r in responses)
    assert set(statuses) <= {200, 409}
    [job] = list(Generation.scan())
    winners = {
        event_payload_user
        for event_payload_user, response in zip([f"user_{i % 2}" for i in range(20)], responses, strict=True)
        if response["statusCode"] == 200
    }
    assert winners == {job.author_id}
    assert statuses[200] == 10 and statuses[409] == 10
    assert [n.user_id for n in Notification.scan()] == [job.author_id]


def test_two_users_racing_to_generate_with_one_job_id(tokens: Any) -> None:
    # Given two users who post generate with the same job id, 10 times each, at the same moment
    def event(user: str) -> dict[str, Any]:
        body = json.dumps({"prompt": f"prompt of {user}", "job_id": "job_raced"})
        headers = {"content-type": "application/json", **tokens.auth(user)}
        return http_api_event("POST", "/api/images/generate", body=body, headers=headers)

    users = [f"user_{i % 2}" for i in range(20)]
    responses = deliver_all_at_once(GENERATE, [event(user) for user in users])

    # Then one job exists, the winner's: one 202, its other 9 requests 200, the loser's 10 are 409
    [job] = list(Generation.scan())
    by_user: dict[str, list[int]] = {}
    for user, response in zip(users, responses, strict=True):
        by_user.setdefault(user, []).append(response["statusCode"])
    winner = job.author_id
    loser = next(user for user in by_user if user != winner)
    assert sorted(by_user[winner]) == [200] * 9 + [202]
    assert by_user[loser] == [409] * 10
    assert job.prompt == f"prompt of {winner}"


def test_concurrent_notification_puts_create_one() -> None:
    # Given 20 concurrent attempts to notify the same finished job (its key from the completion time;
    # the job must be finished and its author's: the put goes with a check of the job)
    seed_job("job_n", status="completed")
    for model in (Generation, Notification):
        assert model._get_connection().connection.client is not None
    finished_at = datetime(2026, 11, 24, 4, 0, 0, 123456, tzinfo=UTC)
    barrier = threading.Barrier(20)

    def notify(_: int) -> bool:
        barrier.wait()
        return notify_once(
            job_notification(
                user_id="user_a",
                job_id="job_n",
                kind="image",
                status="completed",
                finished_at=finished_at,
                source="api",
                file_count=4,
                error=None,
            )
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        created = Counter(pool.map(notify, range(20)))

    # Then exactly one conditional put created it
    assert created == {True: 1, False: 19}
    [notification] = list(Notification.scan(consistent_read=True))
    assert notification.notification_id == notification_id(finished_at, "job_n")
    assert notification.message == "4 image(s) créée(s)."
    assert Notification.unread.count("user_a") == 1
