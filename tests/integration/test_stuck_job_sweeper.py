"""The stuck-job sweeper: jobs queued or processing past the timeout become failed ("timed out"), once,
with their notification in the same transaction. DynamoDB on moto's server, then on DynamoDB Local."""

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from completion_webhook.app import lambda_handler as webhook_handler
from local.emulator.sandbox import Function, SandboxPool
from mediagen.data.models import IN_FLIGHT_SHARDS, Generation, Notification, in_flight_shard
from mediagen.rules import sweeper
from sweeper.app import lambda_handler as sweeper_handler
from tests.support import RACE_TIMEOUT_SECONDS, completion_payload, response_json, seed_job, webhook_event


@pytest.mark.usefixtures("aws_server")
def test_stuck_jobs_are_failed_and_notified_fresh_and_finished_ones_are_left(
    lambda_context: Any, aws_requests: Any
) -> None:
    # Given stuck jobs (queued and processing, created 20 minutes ago), a fresh one, and a finished one
    seed_job("job_stuck_q")
    seed_job("job_stuck_p", status="processing")
    seed_job("job_fresh", minutes_ago=2)
    seed_job("job_done", status="completed")

    # When the scheduled sweep runs
    aws_requests.clear()
    report = sweeper_handler({"source": "aws.events"}, lambda_context)

    # Then only the stuck ones are failed as timed out, each notified once; no Scan was needed
    assert report == {"examined": 2, "timed_out": 2}
    assert not any(op.endswith("Scan") for op in aws_requests.by_operation())
    for job_id in ("job_stuck_q", "job_stuck_p"):
        stuck = Generation.get(job_id)
        assert (stuck.status, stuck.error, stuck.in_flight) == ("failed", "timed out", None)
    assert Generation.get("job_fresh").status == "queued"
    assert Generation.get("job_done").status == "completed"
    assert sorted(n.generation_id for n in Notification.scan()) == ["job_stuck_p", "job_stuck_q"]

    # And a second sweep finds nothing more
    assert sweeper_handler({}, lambda_context) == {"examined": 0, "timed_out": 0}
    assert len(list(Notification.scan())) == 2


@pytest.mark.usefixtures("aws_server")
def test_a_completion_webhook_after_the_timeout_does_not_bring_the_job_back(lambda_context: Any) -> None:
    seed_job("job_late")
    sweeper_handler({}, lambda_context)
    response = webhook_handler(
        webhook_event(completion_payload("job_late", user_id="user_a")), lambda_context
    )
    assert response_json(response)["outcome"] == "stale"
    assert Generation.get("job_late").status == "failed"
    assert [n.type for n in Notification.scan()] == ["IMAGE_FAILED"]


@pytest.mark.usefixtures("aws_server")
def test_a_completion_that_lands_after_the_query_wins(
    lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stuck job whose completion webhook lands between the sweeper's query and its write
    seed_job("job_saved", status="processing")
    original = sweeper.fail_in_flight

    def completion_first(*args: Any, **kwargs: Any) -> Any:
        webhook_handler(webhook_event(completion_payload("job_saved", user_id="user_a")), lambda_context)
        return original(*args, **kwargs)

    monkeypatch.setattr(sweeper, "fail_in_flight", completion_first)

    report = sweeper.sweep()

    # Then the sweep's write is stale: the job stays completed, with its one notification
    assert (report.examined, report.timed_out) == (1, 0)
    assert Generation.get("job_saved").status == "completed"
    assert [n.type for n in Notification.scan()] == ["IMAGE_COMPLETED"]


@pytest.mark.usefixtures("aws_server")
def test_two_sweeps_and_a_completion_at_once_notify_once() -> None:
    # Given 10 stuck jobs, and for each a completion webhook racing two concurrent sweeps, each
    # invocation in its own sandbox process (the webhook's one after the other, in one sandbox)
    for index in range(10):
        seed_job(f"job_race_{index}")
    functions = [
        Function("Sweeper", "sweeper.app.lambda_handler", timeout=RACE_TIMEOUT_SECONDS),
        Function("Webhook", "completion_webhook.app.lambda_handler", timeout=RACE_TIMEOUT_SECONDS),
    ]
    deliveries = [webhook_event(completion_payload(f"job_race_{i}", user_id="user_a")) for i in range(10)]
    with SandboxPool(functions, dict(os.environ), sandboxes=2) as pool, ThreadPoolExecutor(2) as callers:
        pool.warm("Webhook", 1)
        completions = callers.submit(lambda: [pool.invoke("Webhook", event) for event in deliveries])
        sweeps = callers.submit(pool.invoke_all_at_once, "Sweeper", [{"source": "aws.events"}] * 2)
        reports = sweeps.result()
        statuses = [answer["statusCode"] for answer in completions.result()]

    # Then every job ended in exactly one final state, with exactly one notification that matches it
    assert statuses == [200] * 10
    finals = {g.job_id: g.status for g in Generation.scan()}
    assert set(finals.values()) <= {"completed", "failed"}
    assert sum(r["timed_out"] for r in reports) == list(finals.values()).count("failed")
    notifications = {n.generation_id: n.type for n in Notification.scan()}
    assert len(list(Notification.scan())) == 10
    for job_id, status in finals.items():
        assert notifications[job_id] == ("IMAGE_COMPLETED" if status == "completed" else "IMAGE_FAILED")


@pytest.mark.usefixtures("aws_server")
def test_a_fault_while_failing_a_job_loses_no_notification(
    lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two stuck jobs, and a fault on the first job's write (its notification goes with it)
    seed_job("job_fault")
    seed_job("job_other")
    from mediagen.data import jobs as job_data

    original = job_data.fail_if_in_flight
    calls: list[str] = []

    def fails_once(job: Any, *args: Any, **kwargs: Any) -> bool:
        calls.append(job.job_id)
        if len(calls) == 1:
            raise TimeoutError("the transaction timed out")
        return original(job, *args, **kwargs)

    monkeypatch.setattr(job_data, "fail_if_in_flight", fails_once)

    # When the sweeper runs, then runs again
    first = sweeper_handler({}, lambda_context)
    second = sweeper_handler({}, lambda_context)

    # Then the first run went on past the fault, the second took the job it left, and each job is
    # failed with exactly one notification
    assert (first["examined"], first["timed_out"]) == (2, 1)
    assert (second["examined"], second["timed_out"]) == (1, 1)
    assert {g.job_id: g.status for g in Generation.scan()} == {"job_fault": "failed", "job_other": "failed"}
    assert sorted(n.generation_id for n in Notification.scan()) == ["job_fault", "job_other"]


@pytest.mark.usefixtures("aws_server")
def test_the_sparse_index_holds_only_jobs_in_flight_and_every_shard_is_queried(aws_requests: Any) -> None:
    # Given stuck jobs on every shard (attributed: each is failed in one transaction with its
    # notification), fresh ones, finished ones (out of the sparse index) and one stuck without an author
    stuck = [f"job_stuck_{i}" for i in range(12)]
    for index, job_id in enumerate(stuck):
        seed_job(job_id, status="queued" if index % 2 else "processing", minutes_ago=16 + index)
    seed_job("job_stuck_nobody", author=None)
    for index in range(4):
        seed_job(f"job_fresh_{index}", minutes_ago=14 - index)
    seed_job("job_done", status="completed", minutes_ago=60)
    seed_job("job_failed", status="failed", minutes_ago=60)
    assert {in_flight_shard(job_id) for job_id in stuck} == {str(s) for s in range(IN_FLIGHT_SHARDS)}

    # The index holds only what is in flight, and its range condition selects by creation
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

    # Then exactly the stuck jobs are failed, one Query per shard and no Scan; the attributed ones are
    # notified (the transaction), the unattributed one is not (nobody to notify)
    assert (report.examined, report.timed_out) == (13, 13)
    operations = aws_requests.by_operation()
    assert operations["dynamodb.Query"] == IN_FLIGHT_SHARDS
    assert operations["dynamodb.TransactWriteItems"] == 12
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
    notified = sorted((n.generation_id, n.type) for n in Notification.scan(consistent_read=True))
    assert notified == sorted((job_id, "IMAGE_FAILED") for job_id in stuck)

    # And a second sweep finds nothing
    assert (sweeper.sweep().examined, len(list(Notification.scan()))) == (0, 12)
