"""Operations: one scenario through the real handlers emits every metric the code declares; every
alarm on our namespace watches a metric really emitted; the runbook explains every metric and alarm;
and no token, secret or signature ever reaches a log line."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cancel_generation.app import lambda_handler as cancel_handler
from completion_webhook.app import lambda_handler as webhook_handler
from deploy.base.cfn_template import resources_of_type
from generate.app import lambda_handler as generate_handler
from generation_status.app import lambda_handler as status_handler
from library.app import lambda_handler as library_handler
from local.harness.parties import CLERK_WEBHOOK_SECRET, clerk_event, clerk_payload
from mediagen.core.observability import MetricName
from mediagen.data.models import Generation, in_flight_shard
from sweeper.app import lambda_handler as sweeper_handler
from tests.integration.test_library import run_file_removal_worker
from tests.support import WEBHOOK_SECRET, completion_payload, http_api_event, webhook_event

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
DECLARED = {value for name, value in vars(MetricName).items() if name.isupper()}


def run_scenario(tokens: Any, context: Any, fake_backend: Any, run_dispatcher: Any) -> list[str]:
    """Every path that emits something, through the handlers; returns the secrets it used."""
    user = tokens.token("user_a")
    auth = {"authorization": f"Bearer {user}"}

    def generate(job_id: str) -> None:
        body = json.dumps({"prompt": "Un phare", "job_id": job_id})
        event = http_api_event(
            "POST", "/api/images/generate", body=body, headers={"content-type": "application/json", **auth}
        )
        assert generate_handler(event, context)["statusCode"] == 202

    signed = []

    def deliver(payload: dict[str, Any], **options: Any) -> int:
        event = webhook_event(payload, **options)
        signed.append(event["headers"]["webhook-signature"])
        return int(webhook_handler(event, context)["statusCode"])

    generate("job_ok")  # JobCreated
    run_dispatcher()  # DispatchSent
    assert deliver(completion_payload("job_ok", status="processing", progress=30, user_id="user_a")) == 200
    assert deliver(completion_payload("job_ok", user_id="user_a")) == 200  # updated, completed, notified
    assert deliver(completion_payload("job_ok", user_id="user_a")) == 200  # duplicate
    assert (
        deliver(completion_payload("job_ok", status="processing", progress=50, user_id="user_a")) == 200
    )  # stale
    assert deliver(completion_payload("job_ok", user_id="user_b")) == 409  # refused
    assert deliver(completion_payload("job_orphan")) == 200  # created on missing, unattributed
    assert deliver(completion_payload("job_x"), secret="whsec_" + "QUJD" * 8) == 401  # signature rejected
    expired = tokens.token("user_a", expires_in=-60)
    status = http_api_event(
        "GET", "/api/images/job_ok/status", headers={"authorization": f"Bearer {expired}"}
    )
    assert status_handler(status, context)["statusCode"] == 401  # token rejected

    generate("job_cancel")
    assert (
        cancel_handler(http_api_event("POST", "/api/images/job_cancel/cancel", headers=auth), context)[
            "statusCode"
        ]
        == 200
    )

    fake_backend.answers = [(200, {"job_id": "c76c36ee-838d-4ecb-94ed-37018032c9fd"})]
    generate("job_alias")
    run_dispatcher()  # BackendAliasRecorded

    fake_backend.answers = [(503, None)] * 3
    generate("job_down")
    run_dispatcher(max_rounds=4)  # DispatchRetried, then DispatchFailed and JobFailed

    stamp = datetime.now(UTC) - timedelta(hours=1)
    Generation(
        job_id="job_stuck",
        kind="image",
        author_id="user_a",
        status="queued",
        source="api",
        created_at=stamp,
        updated_at=stamp,
        in_flight=in_flight_shard("job_stuck"),
    ).save()
    sweeper_handler({}, context)  # JobTimedOut

    assert deliver(completion_payload("job_lib", user_id="user_a")) == 200
    deleted = library_handler(http_api_event("DELETE", "/api/images/job_lib", headers=auth), context)
    assert deleted["statusCode"] == 200  # JobDeleted
    assert deliver(completion_payload("job_lib", user_id="user_a")) == 200  # WebhookDeliveryDeleted
    assert run_file_removal_worker(context) == {"batchItemFailures": []}  # FilesRemoved

    user_c = {"authorization": f"Bearer {tokens.token('user_c')}", "content-type": "application/json"}
    for index in range(11):  # the template's default cap is 10 jobs in flight
        body = json.dumps({"prompt": "Un phare", "job_id": f"job_cap_{index}"})
        answer = generate_handler(
            http_api_event("POST", "/api/images/generate", body=body, headers=user_c), context
        )
        assert answer["statusCode"] == (202 if index < 10 else 429)  # JobsInFlightLimited
    run_erasure(context)
    return [
        user,
        expired,
        CLERK_WEBHOOK_SECRET,
        CLERK_WEBHOOK_SECRET.removeprefix("whsec_"),
        WEBHOOK_SECRET,
        WEBHOOK_SECRET.removeprefix("whsec_"),
        "test-generator-key",
        *signed,
    ]


def run_erasure(context: Any) -> None:
    """Clerk's events: one ignored; user.deleted for a person with a finished job, their erasure (the
    worker's passes), then a webhook naming them for a new job."""
    import os

    import boto3

    from clerk_webhook.app import lambda_handler as clerk_handler
    from erasure.app import lambda_handler as erasure_worker
    from local.harness.sources import SqsEventSource

    def clerk(event_type: str) -> str:
        answer = clerk_handler(clerk_event(clerk_payload(event_type, "user_erased")), context)
        return str(json.loads(answer["body"])["outcome"])

    assert deliver_completion(completion_payload("job_erased", user_id="user_erased"), context) == 200
    assert clerk("user.created") == "ignored"  # ClerkEventIgnored
    assert clerk("user.deleted") == "erasing"  # ErasureRequested
    os.environ["ERASURE_FINAL_PASS_DELAY_SECONDS"] = "0"
    try:
        source = SqsEventSource(
            boto3.client("sqs"), os.environ["ERASURE_QUEUE_URL"], lambda e: erasure_worker(e, context)
        )
        assert source.drain(5)  # JobsErased, FilesErased
    finally:
        del os.environ["ERASURE_FINAL_PASS_DELAY_SECONDS"]
    late = completion_payload("job_erased_late", user_id="user_erased")
    assert deliver_completion(late, context) == 200  # WebhookDeliveryErased


def deliver_completion(payload: dict[str, Any], context: Any) -> int:
    status: int = webhook_handler(webhook_event(payload), context)["statusCode"]
    return status


def run_live_progress(tokens: Any, context: Any, events_api: Any) -> None:
    """Live progress: a publish that fails every attempt, then succeeds; a subscription refused. (The
    stream record is made from the stored item: moto's in-process mock has no DynamoDB Streams; the
    stream itself is read in test_live_progress.py.)"""
    from aws_lambda_powertools.event_handler.events_appsync.exceptions import UnauthorizedException

    from deploy.base.lambda_events import appsync_subscribe_event
    from live_publisher.app import lambda_handler as publisher
    from live_subscribe.app import lambda_handler as subscriber

    image = Generation.get("job_ok").serialize()
    record = {"eventName": "INSERT", "dynamodb": {"NewImage": image, "SequenceNumber": "100"}}
    events_api.answers = [500, 500, 500]
    assert publisher({"Records": [record]}, context) == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    assert publisher({"Records": [record]}, context) == {"batchItemFailures": []}
    claims = {"sub": "user_a", "iss": "https://clerk.test"}
    with pytest.raises(UnauthorizedException):
        subscriber(appsync_subscribe_event("/jobs/users/user-b", claims), context)


@pytest.fixture
def scenario_output(
    tokens: Any,
    lambda_context: Any,
    fake_backend: Any,
    run_dispatcher: Any,
    events_api: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[dict[str, Any]], list[str]]:
    import io

    from mediagen.core.observability import logger

    monkeypatch.setenv("DISPATCH_BACKOFF_SECONDS", "0")
    log_stream = io.StringIO()  # the Logger's handler wrote to the stdout of import time
    monkeypatch.setattr(logger.registered_handler, "stream", log_stream)
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setattr(
        cold_start, "is_cold_start", True
    )  # this process's first invocation, as in a new sandbox
    capsys.readouterr()
    secrets = run_scenario(tokens, lambda_context, fake_backend, run_dispatcher)
    run_live_progress(tokens, lambda_context, events_api)
    output = capsys.readouterr().out + log_stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any("level" in line for line in lines) and any("_aws" in line for line in lines)
    return lines, secrets


def emitted_metrics(lines: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            names |= {metric["Name"] for metric in directive["Metrics"]}
    return names


@pytest.mark.usefixtures("aws")
def test_every_declared_metric_is_emitted_and_alarms_watch_real_metrics(scenario_output: Any) -> None:
    lines, _ = scenario_output
    emitted = emitted_metrics(lines)
    assert emitted == DECLARED, (
        f"declared but never emitted: {DECLARED - emitted}; undeclared: {emitted - DECLARED}"
    )
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            names = {metric["Name"] for metric in directive["Metrics"]}
            # Powertools' cold-start metric goes alone, per function; ours carry the service only.
            expected = [["function_name", "service"]] if names == {MetricName.COLD_START} else [["service"]]
            assert directive["Dimensions"] == expected, "dimensions must stay few and low in cardinality"

    ours = {
        name: alarm["Properties"]["MetricName"]
        for name, alarm in resources_of_type("AWS::CloudWatch::Alarm", nested=True).items()
        if alarm["Properties"].get("Namespace") == {"Ref": "MetricsNamespace"}
    }
    assert ours, "the template has alarms on the service's own metrics"
    for alarm, metric in ours.items():
        assert metric in emitted, f"{alarm} watches {metric}, which the code never emits"


@pytest.mark.usefixtures("aws")
def test_no_token_secret_or_signature_in_any_log_line(scenario_output: Any) -> None:
    lines, secrets = scenario_output
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    assert any("correlation_id" in line for line in lines), "logs carry the job id as correlation id"
    for secret in secrets:
        assert secret not in text
        for part in secret.split(" "):  # a signature header may hold several
            if len(part) > 12:
                assert part.split(",")[-1] not in text


def runbook_sections() -> set[str]:
    return {
        match.group(1).strip() for match in re.finditer(r"^#{2,4} (.+)$", RUNBOOK.read_text(), re.MULTILINE)
    }


def anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def test_runbook_explains_every_metric_and_every_alarm() -> None:
    sections = runbook_sections()
    anchors = {anchor(section) for section in sections}
    for metric in DECLARED:
        assert metric in sections, f"docs/runbook.md has no section for the metric {metric}"
    text = RUNBOOK.read_text()
    for name, alarm in resources_of_type("AWS::CloudWatch::Alarm", nested=True).items():
        description = alarm["Properties"]["AlarmDescription"]
        link = re.search(r"docs/runbook\.md#([a-z0-9-]+)", description)
        assert link, f"{name}'s description names no runbook entry"
        assert link.group(1) in anchors, f"{name} points at #{link.group(1)}, which the runbook lacks"
        assert name in text, f"the runbook does not name the alarm {name}"
