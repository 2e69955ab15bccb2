"""Clerk's `user.deleted`, end to end through the handlers (moto): every job the person authored in any
organization, its files, aliases and notifications, every notification addressed to them and their jobs
in flight are gone, and a scan of every table and of the bucket finds nothing of theirs; the bystander
beside them keeps everything; nothing brings the person back (late webhooks, old and new ids; their own
generate); a worker stopped halfway and run again finishes the work."""

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from clerk_webhook.app import lambda_handler as clerk_handler
from completion_webhook.app import lambda_handler as webhook_handler
from generate.app import lambda_handler as generate_handler
from generation_status.app import lambda_handler as status_handler
from local.harness.parties import clerk_event, clerk_payload, completion_payload, webhook_event
from local.harness.sources import SqsEventSource
from mediagen.contract.payloads import ErasureMessage
from mediagen.data.models import ErasedPerson, Generation, Notification, UserJobsInFlight
from mediagen.rules import erasure
from tests.integration.erasure_world import (
    BYSTANDER,
    MIGRATED_ALIAS,
    PERSON,
    build_world,
    bystander_intact,
    every_item,
    every_key,
    generate_event,
    put_files,
    whats_left_of,
)
from tests.support import http_api_event, response_json

pytestmark = pytest.mark.usefixtures("aws", "immediate_final_pass")


@pytest.fixture
def immediate_final_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last pass without its 20 s wait (the index of moto is never behind)."""
    monkeypatch.setenv("ERASURE_FINAL_PASS_DELAY_SECONDS", "0")


def drain(queue_variable: str, handler: Any, context: Any) -> list[Any]:
    source = SqsEventSource(
        boto3.client("sqs"), os.environ[queue_variable], lambda event: handler(event, context)
    )
    return source.drain(50)


def run_workers(context: Any) -> None:
    """The erasure queue, then the file removal queue, each until empty (as their event sources would)."""
    from erasure.app import lambda_handler as erasure_worker
    from remove_files.app import lambda_handler as file_remover

    for _ in range(5):
        answers = drain("ERASURE_QUEUE_URL", erasure_worker, context)
        answers += drain("FILE_REMOVAL_QUEUE_URL", file_remover, context)
        if not answers:
            return


def delete_person(context: Any, message_id: str = "msg_2userDeleted") -> dict[str, Any]:
    response = clerk_handler(
        clerk_event(clerk_payload("user.deleted", PERSON), message_id=message_id), context
    )
    assert response["statusCode"] == 200, response
    body: dict[str, Any] = response_json(response)
    return body


def test_after_user_deleted_nothing_of_the_person_is_left(tokens: Any, lambda_context: Any) -> None:
    # Given a person with jobs in two organizations, files, notifications, an alias from the migration
    # and a job in flight, beside a bystander in the same organization
    world = build_world(tokens, lambda_context)
    assert len(whats_left_of(world)) > 10  # the scan sees them before
    assert "job_person_queued" in UserJobsInFlight.get(PERSON).job_ids  # finished ones leave it lazily

    # When Clerk announces their deletion, and the workers run
    assert delete_person(lambda_context)["outcome"] == "erasing"
    run_workers(lambda_context)

    # Then a scan of every table and of the bucket finds nothing of theirs; the bystander keeps all
    assert whats_left_of(world) == []
    assert bystander_intact(world) == []
    # No item under any of their jobs' ids: one erased record per id (the alias's too), keyed by a keyed
    # hash of it, which keeps each id spent; the in-flight job's dispatch finds nothing to send
    generations = every_item()["GENERATIONS_TABLE"]
    erased = {item["job_id"]["S"] for item in generations if item.get("status", {}).get("S") == "erased"}
    assert erased == {erasure.erased_job_key(job_id) for job_id in [*world.person_jobs, MIGRATED_ALIAS]}
    assert not any(job_id in json.dumps(generations) for job_id in world.person_jobs)
    [record] = ErasedPerson.scan()
    assert record.completed_at is not None
    # 5 notifications: of their 3 finished jobs, of the migrated one, and one about the bystander's job
    assert (record.jobs_erased, record.notifications_removed) == (len(world.person_jobs), 5)
    assert record.files_removed >= len(world.person_files)


def test_status_of_an_erased_job_is_404_for_everyone(tokens: Any, lambda_context: Any) -> None:
    build_world(tokens, lambda_context)
    delete_person(lambda_context)
    run_workers(lambda_context)

    for job_id, user, org in (
        ("job_person_done", PERSON, None),
        ("job_person_done", BYSTANDER, "org_2alpha"),  # an organization member saw it before
        (MIGRATED_ALIAS, PERSON, None),
    ):
        event = http_api_event("GET", f"/api/images/{job_id}/status", headers=tokens.auth(user, org=org))
        assert status_handler(event, lambda_context)["statusCode"] == 404


def test_late_webhooks_bring_nothing_back(tokens: Any, lambda_context: Any) -> None:
    # Given the person erased
    world = build_world(tokens, lambda_context)
    delete_person(lambda_context)
    run_workers(lambda_context)
    before = {table: len(items) for table, items in every_item().items()}

    # When the backend reports late: for their old job ids, by alias, and for a new job naming them
    late = [
        ("job_person_done", completion_payload("job_person_done", user_id=PERSON)),
        ("job_person_queued", completion_payload("job_person_queued", user_id=PERSON)),
        ("job_person_queued", completion_payload("job_person_queued", status="processing", progress=50)),
        (MIGRATED_ALIAS, completion_payload(MIGRATED_ALIAS)),
        (
            "job_person_new",
            completion_payload("job_person_new", user_id=PERSON, organization_id="org_2alpha"),
        ),
    ]
    for job_id, payload in late:
        put_files([f"images/{job_id}/{index}.png" for index in range(4)])
        response = webhook_handler(webhook_event(payload), lambda_context)
        # Then each is acknowledged as erased
        assert (response["statusCode"], response_json(response)) == (
            200,
            {"job_id": job_id, "outcome": "erased"},
        )
    run_workers(lambda_context)

    # And nothing was stored: no job, no record of the new id either, no notification; the files are gone
    world.person_jobs.append("job_person_new")
    assert whats_left_of(world) == []
    after = every_item()
    assert len(after["NOTIFICATIONS_TABLE"]) == before["NOTIFICATIONS_TABLE"]
    assert len(after["GENERATIONS_TABLE"]) == before["GENERATIONS_TABLE"]
    assert not any(key.startswith(("images/job_person_", f"images/{MIGRATED_ALIAS}/")) for key in every_key())


def test_a_webhook_naming_an_erased_person_while_their_erasure_waits_stores_nothing(
    lambda_context: Any,
) -> None:
    # The erasure is recorded (the worker has not run yet): a new job naming them is refused at once.
    delete_person(lambda_context)
    put_files(["images/job_fresh/0.png"])
    response = webhook_handler(
        webhook_event(completion_payload("job_fresh", user_id=PERSON, images=1)), lambda_context
    )

    assert response_json(response) == {"job_id": "job_fresh", "outcome": "erased"}
    assert list(Generation.scan()) == [] and list(Notification.scan()) == []


def test_a_progress_event_naming_an_erased_person_for_a_new_job_writes_nothing(lambda_context: Any) -> None:
    delete_person(lambda_context)
    payload = completion_payload("job_fresh", status="processing", progress=30, user_id=PERSON)

    response = webhook_handler(webhook_event(payload), lambda_context)

    assert response_json(response) == {"job_id": "job_fresh", "outcome": "erased"}
    assert list(Generation.scan()) == [] and list(UserJobsInFlight.scan()) == []


def test_the_old_payload_without_user_is_not_refused(lambda_context: Any) -> None:
    # An erasure concerns its person only: a webhook naming nobody creates its job as before.
    delete_person(lambda_context)
    response = webhook_handler(webhook_event(completion_payload("job_nobody")), lambda_context)
    assert response_json(response)["outcome"] == "created"


def test_generate_by_an_erased_person_is_refused_and_writes_nothing(tokens: Any, lambda_context: Any) -> None:
    # Given the person's erasure recorded (their Clerk session token still valid for a minute)
    delete_person(lambda_context)

    # When they ask for a generation
    response = generate_handler(generate_event(PERSON, tokens, org=None, job_id="job_after"), lambda_context)

    # Then 401 account_erased, and nothing is written
    assert (response["statusCode"], response_json(response)["code"]) == (401, "account_erased")
    assert list(Generation.scan()) == [] and list(UserJobsInFlight.scan()) == []
    # Another person is not concerned
    assert (
        generate_handler(generate_event(BYSTANDER, tokens, org=None, job_id="job_b"), lambda_context)[
            "statusCode"
        ]
        == 202
    )


def test_an_erased_jobs_id_stays_spent_though_no_item_holds_it(tokens: Any, lambda_context: Any) -> None:
    """Nothing is stored under an erased job's id; its erased record (a keyed hash) still keeps the id
    from anyone else: a generate reusing it is 409, and writes nothing."""
    world = build_world(tokens, lambda_context)
    delete_person(lambda_context)
    run_workers(lambda_context)
    before = every_item()

    for job_id in ("job_person_done", MIGRATED_ALIAS):
        event = generate_event(BYSTANDER, tokens, org=None, job_id=job_id, prompt="Le phare du voisin")
        response = generate_handler(event, lambda_context)
        assert (response["statusCode"], response_json(response)["code"]) == (409, "job_id_taken"), job_id

    assert every_item() == before and whats_left_of(world) == []


def test_a_worker_stopped_halfway_and_run_again_finishes(
    tokens: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a person with many jobs (several pages), and a worker that dies after a few deletes
    world = build_world(tokens, lambda_context)
    for index in range(12):
        job_id = f"job_person_more_{index:02d}"
        put_files([f"images/{job_id}/0.png"])
        payload = completion_payload(job_id, user_id=PERSON, images=1)
        assert webhook_handler(webhook_event(payload), lambda_context)["statusCode"] == 200
        world.person_jobs.append(job_id)
        world.person_files.add(f"images/{job_id}/0.png")
    monkeypatch.setattr(erasure, "PAGE_SIZE", 5)
    erasure.request_erasure(PERSON)
    from mediagen.rules import library

    original, calls = library.delete_job, []

    def dies_on_the_seventh(job_id: str, **options: Any) -> Any:
        calls.append(job_id)
        if len(calls) == 7:
            raise RuntimeError("sandbox killed")
        return original(job_id, **options)

    monkeypatch.setattr(library, "delete_job", dies_on_the_seventh)
    with pytest.raises(RuntimeError):
        erasure.erasure_pass(ErasureMessage(user_id=PERSON))
    assert whats_left_of(world)  # stopped halfway: some of it is left
    assert bystander_intact(world) == []

    # When the message comes back (SQS), the next attempt finishes
    monkeypatch.setattr(library, "delete_job", original)
    erasure.erasure_pass(ErasureMessage(user_id=PERSON))
    run_workers(lambda_context)

    # Then nothing of the person is left, and nothing of anyone else was removed
    assert whats_left_of(world) == []
    assert bystander_intact(world) == []


def test_a_pass_short_of_time_queues_its_continuation(
    tokens: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(tokens, lambda_context)
    for index in range(6):
        job_id = f"job_person_more_{index:02d}"
        assert webhook_handler(
            webhook_event(completion_payload(job_id, user_id=PERSON, images=1)), lambda_context
        )
        world.person_jobs.append(job_id)
    monkeypatch.setattr(erasure, "PAGE_SIZE", 2)
    erasure.request_erasure(PERSON)
    left = iter([100.0, 100.0])  # two pages, then too little time for a third

    report = erasure.erasure_pass(ErasureMessage(user_id=PERSON), time_left=lambda: next(left, 1.0))

    # The job in flight, then two pages of two: the rest is for the next pass
    assert (report.complete, report.jobs) == (False, 5)
    assert len(world.person_jobs) > 5 and whats_left_of(world)
    run_workers(lambda_context)  # the continuation, then the final pass
    assert whats_left_of(world) == []


def test_a_dry_run_counts_and_changes_nothing(tokens: Any, lambda_context: Any) -> None:
    world = build_world(tokens, lambda_context)
    before = whats_left_of(world)

    report = erasure.erase_person(PERSON, dry_run=True)

    # 5 notifications: 3 of finished jobs, the migrated one's, and one about the bystander's job
    assert (report.jobs, report.jobs_in_flight, report.notifications) == (len(world.person_jobs), 1, 5)
    assert report.files == len(world.person_files)
    assert sorted(report.job_ids) == sorted(world.person_jobs)
    assert report.aliases == 1  # the migrated job's old id (it said 0 where the real run removed it)
    assert whats_left_of(world) == before
    assert list(ErasedPerson.scan()) == []

    # And the real run (as make erase runs it) removes exactly what the dry run counted
    from mediagen.data import erased_people

    erased_people.record_request(erasure.person_hash(PERSON), datetime.now(UTC))
    real = erasure.erase_person(PERSON)
    counted = ("jobs", "jobs_in_flight", "aliases", "files", "notifications")
    assert {name: getattr(real, name) for name in counted} == {
        name: getattr(report, name) for name in counted
    }


def test_the_erasure_logs_the_persons_hash_never_their_id(
    tokens: Any, lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    build_world(tokens, lambda_context)
    caplog.clear()
    delete_person(lambda_context)
    run_workers(lambda_context)

    logged = [json.dumps(record.__dict__, default=str) for record in caplog.records]
    assert any(erasure.person_hash(PERSON) in line for line in logged)
    assert not [line for line in logged if PERSON in line]


@pytest.fixture
def service_logger_restored() -> Iterator[None]:
    """`make erase` makes the service's logger plain for its terminal: put back for the next tests."""
    from mediagen.core.observability import logger

    handler = logger.registered_handler
    formatter, level = handler.formatter, logger.log_level
    yield
    handler.setFormatter(formatter)
    logger.setLevel(level)


@pytest.mark.usefixtures("service_logger_restored")
def test_make_erase_counts_in_a_dry_run_what_it_removes_prints_plain_lines_and_reports_under_local(
    tokens: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`make erase TARGET=aws STACK=...` (deploy/erase.py) against a stack whose outputs name these
    tables (moto): the dry run's counts are the real run's, aliases included (it said 0 where the real
    run removed them); the terminal gets the report's lines, never the service's JSON log lines; without
    REPORT the report goes under .local/ (git-ignored), never loose in the repository."""
    from deploy import erase

    world = build_world(tokens, lambda_context)
    outputs = {
        output: os.environ[variable]
        for variable, output in erase.STACK_OUTPUTS.items()
        if variable in os.environ
    }
    outputs["ErasureHashKeyArn"] = boto3.client("secretsmanager").create_secret(
        Name="hash-key", SecretString=os.environ["ERASURE_HASH_KEY"]
    )["ARN"]
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName="mediagen-test", TemplateBody=json.dumps(template))
    for variable in [*erase.STACK_OUTPUTS, "AWS_DEFAULT_REGION"]:  # run() sets them: restored after
        monkeypatch.setenv(variable, os.environ.get(variable, "us-east-1"))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()  # what the handlers printed while the world was built
    settings = erase.parse(["--user", PERSON, "--target", "aws", "--stack", "mediagen-test", "--dry-run"], {})

    assert erase.run(settings) == 0
    dry_out = capsys.readouterr().out
    assert erase.run(erase.parse(["--user", PERSON, "--target", "aws", "--stack", "mediagen-test"], {})) == 0
    real_out = capsys.readouterr().out

    reports = {
        path.name.endswith("-dry-run.json"): path for path in (tmp_path / ".local" / "erasures").iterdir()
    }
    assert len(reports) == 2
    assert sorted(tmp_path.iterdir()) == [tmp_path / ".local"]  # nothing in the repository's root
    real, dry = (json.loads(reports[dry_run].read_text()) for dry_run in (False, True))
    counted = ("jobs", "jobs_in_flight", "aliases", "files", "notifications")
    assert {name: dry[name] for name in counted} == {name: real[name] for name in counted}
    assert real["aliases"] == 1 and real["jobs"] == len(world.person_jobs)
    assert whats_left_of(world) == []
    for output in (dry_out, real_out):
        lines = output.splitlines()
        assert lines and not [line for line in lines if line.lstrip().startswith("{")], output
        assert "service_undefined" not in output and PERSON not in output
    assert "aliases:        1" in dry_out and "aliases:        1" in real_out
