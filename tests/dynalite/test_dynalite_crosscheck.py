"""The concurrency and conditional-write tests again, against dynalite: an independent DynamoDB
implementation, so what they prove does not rest on moto (nor on the lock that tests/conftest.py adds to
moto). dynalite locks each item for a write, as DynamoDB applies each single-item write atomically.

What dynalite cannot do (see docs/architecture.md, "Cross-check on dynalite"): it returns no item with a
failed condition (ReturnValuesOnConditionCheckFailure=ALL_OLD), so a delivery that loses its
conditional write cannot be classified (duplicate, stale, another user's job) without a read, and
answers 503 for the sender to retry. Those tests therefore check the invariants (one job, its files,
one notification, status forward only) whatever the answers, accept 2xx or 503 only, and redeliver
every 503, sequentially, for a bounded number of rounds.
"""

import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from completion_webhook.app import lambda_handler
from infra.cfn_template import create_tables
from infra.local.sandbox import Function, SandboxPool
from mediagen import sweeper
from mediagen.errors import TemporaryFault
from mediagen.models import IN_FLIGHT_SHARDS, Generation, Notification, in_flight_shard
from mediagen.notifications import (
    job_notification,
    list_notifications,
    mark_read,
    notification_id,
    notify_once,
)
from tests.conftest import TABLE_NAMES, reset_process_state
from tests.support import (
    FakeLambdaContext,
    completion_payload,
    deliver_all_at_once,
    response_json,
    seed_job,
    seed_notifications,
    webhook_event,
)

WEBHOOK = "completion_webhook.app.lambda_handler"  # run in sandbox processes by deliver_all_at_once

DELIVERIES = 50
REDELIVERY_ROUNDS = 3
pytestmark = pytest.mark.usefixtures("dynalite_tables")

Observe = Callable[[str], None]


# --- helpers --------------------------------------------------------------------------------------


def warm_clients() -> None:
    """A warm sandbox has its DynamoDB clients already; 50 threads racing to build 50 botocore clients
    would cost seconds and test nothing."""
    for model in (Generation, Notification):
        assert model._get_connection().connection.client is not None


def assert_ok_or_retry(responses: list[dict[str, Any]]) -> None:
    """2xx, or our own 503 (a failed condition that the store did not explain): nothing else."""
    for response in responses:
        status = response["statusCode"]
        assert 200 <= status < 300 or (
            status == 503 and response_json(response)["code"] == "service_unavailable"
        ), response


def statuses(responses: list[dict[str, Any]]) -> Counter[int]:
    return Counter(response["statusCode"] for response in responses)


def redeliver(
    events: list[dict[str, Any]], responses: list[dict[str, Any]], check: Callable[[], None]
) -> list[Counter[int]]:
    """The sender's retries: every delivery answered 503 is sent again, one at a time, until all are
    2xx, for at most REDELIVERY_ROUNDS rounds; `check` (the invariants) runs after each round. A round
    that answers no 2xx at all ends it: the store did not change (`check`), so the same deliveries
    would get the same answers again. Returns each round's answer counts."""
    pending = [
        event for event, response in zip(events, responses, strict=True) if response["statusCode"] == 503
    ]
    rounds: list[Counter[int]] = []
    while pending and len(rounds) < REDELIVERY_ROUNDS:
        answers = [lambda_handler(event, FakeLambdaContext()) for event in pending]
        assert_ok_or_retry(answers)
        rounds.append(statuses(answers))
        check()
        still = [event for event, answer in zip(pending, answers, strict=True) if answer["statusCode"] == 503]
        if len(still) == len(pending):
            break
        pending = still
    return rounds


def describe(first: Counter[int], rounds: list[Counter[int]]) -> str:
    text = ", ".join(f"{count} x {status}" for status, count in sorted(first.items()))
    for index, round_ in enumerate(rounds, start=1):
        text += f"; redelivery {index}: " + ", ".join(f"{n} x {s}" for s, n in sorted(round_.items()))
    return text


def assert_one_job_with_four_files_and_one_notification(job_id: str, user_id: str) -> None:
    [job] = list(Generation.scan(consistent_read=True))
    assert (job.job_id, job.author_id, job.status, job.progress, job.source, job.in_flight) == (
        job_id,
        user_id,
        "completed",
        100,
        "backend-direct",
        None,
    )
    assert sorted(f.s3_key for f in job.files) == [f"images/{job_id}/{i}.png" for i in range(4)]
    [notification] = list(Notification.scan(consistent_read=True))
    assert (notification.user_id, notification.generation_id, notification.type) == (
        user_id,
        job_id,
        "IMAGE_COMPLETED",
    )
    assert notification.notification_id == notification_id(job.completed_at, job_id)
    assert Notification.unread.count(user_id) == 1


# --- what dynalite lacks (the reason for every 503 below) -----------------------------------------


def test_dynalite_returns_no_item_with_a_failed_condition_and_has_no_transactions_nor_ttl(
    dynalite_tables: str,
) -> None:
    # If a dynalite version adds these, the docs' "Cross-check on dynalite" section must change.
    client = boto3.client("dynamodb", endpoint_url=dynalite_tables)
    table = TABLE_NAMES["GenerationsTable"]
    item = {"job_id": {"S": "job_x"}, "status": {"S": "completed"}}
    client.put_item(TableName=table, Item=item)
    with pytest.raises(ClientError) as failed:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(job_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert "Item" not in failed.value.response  # DynamoDB returns the item here
    for call in (
        lambda: client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item}}]),
        lambda: client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        ),
    ):
        with pytest.raises(ClientError) as unknown:
            call()
        assert unknown.value.response["Error"]["Code"] == "UnknownOperationException"


# --- (a) concurrent copies of one delivery --------------------------------------------------------


def test_fifty_copies_of_one_delivery_create_the_job_once(observe: Observe) -> None:
    # Given one signed completed webhook (4 images) for a job we have no record of
    event = webhook_event(completion_payload("job_race", user_id="user_a"), webhook_id="msg_race")
    events = [dict(event) for _ in range(DELIVERIES)]

    # When 50 copies arrive at the same moment
    responses = deliver_all_at_once(WEBHOOK, events)

    # Then one created the job; the others are 2xx or 503 (not classifiable without ALL_OLD)
    assert_ok_or_retry(responses)
    outcomes = Counter(response_json(r)["outcome"] for r in responses if r["statusCode"] == 200)
    assert outcomes["created"] == 1
    check = lambda: assert_one_job_with_four_files_and_one_notification("job_race", "user_a")  # noqa: E731
    check()

    # And the sender's retries of every 503 change nothing
    rounds = redeliver(events, responses, check)
    observe(f"(a) {DELIVERIES} concurrent copies of one delivery: {describe(statuses(responses), rounds)}")


def test_fifty_deliveries_split_between_two_webhook_ids(observe: Observe) -> None:
    payload = completion_payload("job_race2", user_id="user_a")
    events = [webhook_event(payload, webhook_id=f"msg_{i % 2}") for i in range(DELIVERIES)]

    responses = deliver_all_at_once(WEBHOOK, events)

    assert_ok_or_retry(responses)
    assert Counter(response_json(r).get("outcome") for r in responses)["created"] == 1
    check = lambda: assert_one_job_with_four_files_and_one_notification("job_race2", "user_a")  # noqa: E731
    check()
    rounds = redeliver(events, responses, check)
    observe(f"(a) {DELIVERIES} deliveries under two webhook ids: {describe(statuses(responses), rounds)}")


def test_processing_and_completed_race_ends_completed(observe: Observe) -> None:
    job_id = "job_mixed"
    events = [
        webhook_event(completion_payload(job_id, user_id="user_a"), webhook_id="msg_done") for _ in range(10)
    ]
    events += [
        webhook_event(completion_payload(job_id, status="processing", progress=p, user_id="user_a"))
        for p in range(10, 100, 2)
    ]

    responses = deliver_all_at_once(WEBHOOK, events)

    assert_ok_or_retry(responses)
    assert Counter(response_json(r).get("outcome") for r in responses)["created"] == 1
    check = lambda: assert_one_job_with_four_files_and_one_notification(job_id, "user_a")  # noqa: E731
    check()
    rounds = redeliver(events, responses, check)
    observe(f"(a) 10 completed + 45 processing at once: {describe(statuses(responses), rounds)}")


def test_two_users_racing_for_one_job_id_one_wins(observe: Observe) -> None:
    users = [f"user_{i % 2}" for i in range(20)]
    events = [webhook_event(completion_payload("job_contested", user_id=user)) for user in users]

    responses = deliver_all_at_once(WEBHOOK, events)

    # The other user's deliveries are refused (409), as on DynamoDB: the item that failed the condition
    # is read back once, since dynalite does not return it.
    assert set(statuses(responses)) <= {200, 409}
    [job] = list(Generation.scan(consistent_read=True))
    winners = {user for user, r in zip(users, responses, strict=True) if r["statusCode"] == 200}
    losers = {user for user, r in zip(users, responses, strict=True) if r["statusCode"] == 409}
    assert winners == {job.author_id} and job.author_id not in losers
    assert statuses(responses) == {200: 10, 409: 10}

    def check() -> None:
        assert [n.user_id for n in Notification.scan(consistent_read=True)] == [job.author_id]
        assert Generation.get(job.job_id, consistent_read=True).author_id == job.author_id

    check()
    rounds = redeliver(events, responses, check)
    observe(f"(a) 2 users x 10 deliveries for one job id: {describe(statuses(responses), rounds)}")


# --- (b) forward-only status ----------------------------------------------------------------------


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    return lambda_handler(webhook_event(payload), FakeLambdaContext())


def test_completed_then_processing_stays_completed(observe: Observe) -> None:
    first = deliver(completion_payload("job_fwd", user_id="user_a"))
    assert (first["statusCode"], response_json(first)["outcome"]) == (200, "created")

    late = [
        webhook_event(completion_payload("job_fwd", status="processing", progress=50, user_id="user_a")),
        webhook_event(completion_payload("job_fwd", status="failed", error="late", user_id="user_a")),
        webhook_event(completion_payload("job_fwd", user_id="user_a")),
    ]
    answers = [lambda_handler(event, FakeLambdaContext()) for event in late]

    assert_ok_or_retry(answers)
    check = lambda: assert_one_job_with_four_files_and_one_notification("job_fwd", "user_a")  # noqa: E731
    check()
    rounds = redeliver(late, answers, check)
    observe(f"(b) processing / failed / completed after completed: {describe(statuses(answers), rounds)}")


def test_progress_never_goes_back(observe: Observe) -> None:
    def progress(value: int) -> dict[str, Any]:
        return completion_payload("job_prog", status="processing", progress=value, user_id="user_a")

    assert response_json(deliver(progress(60)))["outcome"] == "created"
    late = [webhook_event(progress(40)), webhook_event(progress(60))]
    answers = [lambda_handler(event, FakeLambdaContext()) for event in late]
    assert_ok_or_retry(answers)

    def check() -> None:
        job = Generation.get("job_prog", consistent_read=True)
        assert (job.status, job.progress, job.in_flight) == ("processing", 60, in_flight_shard("job_prog"))

    check()
    rounds = redeliver(late, answers, check)

    # And news that moves forward still applies
    assert response_json(deliver(progress(80)))["outcome"] == "updated"
    assert Generation.get("job_prog", consistent_read=True).progress == 80
    observe(f"(b) progress 40 and 60 after 60: {describe(statuses(answers), rounds)}")


# --- (c) the conditional notification put ---------------------------------------------------------


def test_concurrent_notification_puts_create_one(observe: Observe) -> None:
    warm_clients()
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

    assert created == {True: 1, False: 19}
    [notification] = list(Notification.scan(consistent_read=True))
    assert notification.notification_id == notification_id(finished_at, "job_n")
    assert notification.message == "4 image(s) créée(s)."
    assert Notification.unread.count("user_a") == 1
    observe(f"(c) 20 concurrent notification puts: {created[True]} created, {created[False]} refused")


# --- (d) the sweeper's Query on the sparse in-flight index ----------------------------------------


def test_the_sweeper_finds_only_stuck_jobs(aws_requests: Any, observe: Observe) -> None:
    # Given stuck jobs on every shard, fresh ones, finished ones (out of the sparse index) and one
    # stuck without an author. The stuck ones have no author here: an attributed job is failed in one
    # transaction with its notification, and dynalite has no TransactWriteItems (that path runs on moto).
    stuck = [f"job_stuck_{i}" for i in range(12)]
    for index, job_id in enumerate(stuck):
        seed_job(job_id, status="queued" if index % 2 else "processing", minutes_ago=16 + index, author=None)
    seed_job("job_stuck_nobody", author=None)
    for index in range(4):
        seed_job(f"job_fresh_{index}", minutes_ago=14 - index)
    seed_job("job_done", status="completed", minutes_ago=60)
    seed_job("job_failed", status="failed", minutes_ago=60)
    assert {in_flight_shard(job_id) for job_id in stuck} == {str(s) for s in range(IN_FLIGHT_SHARDS)}

    # The index holds only what is in flight, and its range condition selects by the last news
    cutoff = datetime.now(UTC) - timedelta(minutes=15)
    indexed = [job.job_id for s in range(IN_FLIGHT_SHARDS) for job in Generation.in_flight_jobs.query(str(s))]
    assert sorted(indexed) == sorted([*stuck, "job_stuck_nobody", *(f"job_fresh_{i}" for i in range(4))])
    found = [
        job.job_id
        for s in range(IN_FLIGHT_SHARDS)
        for job in Generation.in_flight_jobs.query(str(s), Generation.created_at < cutoff)
    ]
    assert sorted(found) == sorted([*stuck, "job_stuck_nobody"])

    # When the sweep runs
    aws_requests.clear()
    report = sweeper.sweep()

    # Then exactly the stuck jobs are failed, without a Scan (unattributed: nobody to notify)
    assert (report.examined, report.timed_out) == (13, 13)
    operations = aws_requests.by_operation()
    assert operations["dynamodb.Query"] == IN_FLIGHT_SHARDS
    assert not any(op.endswith("Scan") for op in operations)
    jobs = {job.job_id: job for job in Generation.scan(consistent_read=True)}
    for job_id in [*stuck, "job_stuck_nobody"]:
        assert (jobs[job_id].status, jobs[job_id].error, jobs[job_id].in_flight) == (
            "failed",
            "timed out",
            None,
        )
    for index in range(4):
        assert jobs[f"job_fresh_{index}"].status == "queued"
    assert (jobs["job_done"].status, jobs["job_failed"].status) == ("completed", "failed")
    assert list(Notification.scan(consistent_read=True)) == []

    # And a second sweep finds nothing
    again = sweeper.sweep()
    assert (again.examined, again.timed_out) == (0, 0)
    observe(f"(d) sweep: {report.examined} examined, {report.timed_out} timed out, {dict(operations)}")


def test_two_sweeps_and_completions_at_once_notify_once(observe: Observe) -> None:
    # Given 10 stuck unattributed jobs (see above), and for each a completion webhook that names its
    # user racing two concurrent sweeps
    for index in range(10):
        seed_job(f"job_race_{index}", author=None)
    warm_clients()
    barrier = threading.Barrier(3)

    def sweep() -> str:
        barrier.wait()
        try:
            return f"timed out {sweeper.sweep().timed_out}"
        except TemporaryFault:
            # Its write lost to a completion, and dynalite did not say to what: this run stops; the next
            # run (5 minutes later) goes on. On DynamoDB the job is "stale" and the run continues.
            return "stopped (503)"

    # The webhook's invocations run in a sandbox process, as in Lambda (the sweeps are domain calls)
    deliveries = [webhook_event(completion_payload(f"job_race_{i}", user_id="user_a")) for i in range(10)]
    sandboxes = SandboxPool([Function("Webhook", WEBHOOK)], dict(os.environ), sandboxes=1)

    def complete_all() -> list[dict[str, Any]]:
        barrier.wait()
        return [sandboxes.invoke("Webhook", event) for event in deliveries]

    with sandboxes, ThreadPoolExecutor(max_workers=3) as pool:
        sandboxes.warm("Webhook")
        sweeps = [pool.submit(sweep), pool.submit(sweep)]
        completions = pool.submit(complete_all)
        reports = [s.result() for s in sweeps]
        responses = completions.result()

    # Then every job ended in exactly one final state, with exactly one notification that matches it
    assert_ok_or_retry(responses)
    finals = {g.job_id: g.status for g in Generation.scan(consistent_read=True)}
    assert len(finals) == 10 and set(finals.values()) <= {"completed", "failed"}
    notices = [(n.generation_id, n.type) for n in Notification.scan(consistent_read=True)]
    # A completion claims and notifies; a job the sweep failed first stays unattributed, unnotified.
    assert sorted(notices) == sorted(
        (job_id, "IMAGE_COMPLETED") for job_id, status in finals.items() if status == "completed"
    )
    for response, index in zip(responses, range(10), strict=True):
        # A completion that applied finished its job; a stale one lost to a sweep, which failed the job.
        applied = response["statusCode"] == 200 and response_json(response)["outcome"] in (
            "created",
            "updated",
        )
        expected = "completed" if applied else "failed"
        assert finals[f"job_race_{index}"] == expected
    observe(
        f"(d) 2 sweeps racing 10 completions: sweeps {reports}; completions {dict(statuses(responses))}; "
        f"final {dict(Counter(finals.values()))}"
    )


# --- (e) notifications pagination: the same pages as on moto ----------------------------------------


Page = tuple[list[str], str | None, int]


def all_pages(user_id: str, *, limit: int, unread_only: bool) -> list[Page]:
    pages: list[Page] = []
    cursor = None
    while True:
        page = list_notifications(user_id, limit=limit, cursor=cursor, unread_only=unread_only)
        pages.append(([item.id for item in page.items], page.next_cursor, page.unread_count))
        cursor = page.next_cursor
        if cursor is None or len(pages) > 50:
            return pages


def paginate_everything() -> dict[str, list[Page]]:
    """Seed the same notifications, then read every page every way, mark one read, and read again."""
    ids = seed_notifications("user_a", 45, read_every=3)
    seed_notifications("user_b", 5)
    pages = {
        f"{user} limit={limit} unread_only={unread}": all_pages(user, limit=limit, unread_only=unread)
        for user in ("user_a", "user_b", "user_c")
        for limit in (1, 7, 20, 100)
        for unread in (False, True)
    }
    mark_read("user_a", ids[44])
    mark_read("user_a", ids[44])  # idempotent
    pages["after mark_read"] = all_pages("user_a", limit=7, unread_only=True)
    return pages


def point_at(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    reset_process_state()


def test_notification_pages_are_the_same_as_on_moto(
    dynalite_tables: str, moto_server: str, monkeypatch: pytest.MonkeyPatch, observe: Observe
) -> None:
    on_dynalite = paginate_everything()

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    create_tables(boto3.client("dynamodb", endpoint_url=moto_server), TABLE_NAMES)
    point_at(moto_server, monkeypatch)
    on_moto = paginate_everything()
    point_at(dynalite_tables, monkeypatch)

    assert on_dynalite == on_moto
    # And both are right: newest first, the cursor continues where the page ended, unread counted
    [whole] = on_dynalite["user_a limit=100 unread_only=False"]
    assert whole[0] == sorted(whole[0], reverse=True) and len(whole[0]) == 45 and whole[2] == 30
    by_sevens = on_dynalite["user_a limit=7 unread_only=True"]
    assert [len(ids) for ids, _, _ in by_sevens] == [7, 7, 7, 7, 2]
    assert [item for ids, _, _ in by_sevens for item in ids] == on_dynalite[
        "user_a limit=100 unread_only=True"
    ][0][0]
    assert on_dynalite["user_c limit=7 unread_only=False"] == [([], None, 0)]
    assert on_dynalite["after mark_read"][-1][2] == 29
    observe(f"(e) notification pages: {len(on_dynalite)} paginations identical on dynalite and moto")
