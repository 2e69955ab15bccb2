"""Test helpers beyond the harness (local/harness: events, event sources, tokens, signed webhooks):
request counting, seeds, and concurrent deliveries."""

import json
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from deploy.base.lambda_events import LambdaContext, http_api_event, sqs_event
from local.harness.parties import (
    FRONT_END,
    ISSUER,
    MEDIA_BUCKET,
    WEBHOOK_SECRET,
    FakeBackend,
    TokenMinter,
    completion_payload,
    signed_headers,
    webhook_event,
)

__all__ = [
    "FRONT_END",
    "ISSUER",
    "MEDIA_BUCKET",
    "RETIRED_SECRET",
    "WEBHOOK_SECRET",
    "FakeBackend",
    "LambdaContext",
    "RequestLog",
    "TokenMinter",
    "completion_payload",
    "deliver_all_at_once",
    "http_api_event",
    "response_json",
    "seed_job",
    "seed_notifications",
    "signed_headers",
    "sqs_event",
    "webhook_event",
]

RETIRED_SECRET = "whsec_dGhlIHJldGlyZWQgc2VjcmV0IG9mIGxhc3QgeWVhcg=="


class RequestLog:
    """Every HTTP request botocore sends (retries included), by (service, operation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls.append((service, operation))

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def count(self, service: str | None = None) -> int:
        return sum(1 for s, _ in self.calls if service is None or s == service)

    def by_operation(self) -> Counter[str]:
        return Counter(f"{s}.{o}" for s, o in self.calls)


def response_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


# --- Seeds and races ------------------------------------------------------------------------------


def seed_notifications(user_id: str, count: int, *, read_every: int = 0) -> list[str]:
    """`count` notifications of `user_id`, one a minute; every `read_every`-th one already read."""
    from datetime import timedelta

    from mediagen.data.models import Notification
    from mediagen.data.notifications import notification_id

    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    with Notification.batch_write() as batch:
        for index in range(count):
            created = start + timedelta(minutes=index)
            read = bool(read_every) and index % read_every == 0
            item_id = notification_id(created, f"job_{index:05d}")
            ids.append(item_id)
            batch.save(
                Notification(
                    user_id=user_id,
                    notification_id=item_id,
                    unread_user_id=None if read else user_id,
                    type="IMAGE_COMPLETED",
                    title="🎨 Images générées avec succès",
                    message="1 image(s) créée(s).",
                    read=read,
                    created_at=created,
                    generation_id=f"job_{index:05d}",
                    source="api",
                )
            )
    return ids


def seed_job(
    job_id: str, *, status: str = "queued", minutes_ago: int = 20, author: str | None = "user_a"
) -> None:
    """An image job created `minutes_ago`, in the in-flight index while queued or processing."""
    from datetime import timedelta

    from mediagen.data.models import Generation, in_flight_shard

    stamp = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    Generation(
        job_id=job_id,
        kind="image",
        author_id=author,
        prompt="Un phare",
        status=status,
        progress=0,
        source="api",
        created_at=stamp,
        updated_at=stamp,
        in_flight=in_flight_shard(job_id) if status in ("queued", "processing") else None,
    ).save()


# The race is the subject of the tests that run sandboxes, not the time: 50 sandboxes on a laptop's
# cores run slower than Lambda (seen: a webhook invocation past its 3 s with two suites on 2 cores),
# so their functions get Lambda's largest timeout. The timeouts themselves: test_sandbox_timeouts.py.
RACE_TIMEOUT_SECONDS = 900


def deliver_all_at_once(handler: str, events: list[dict[str, Any]], sandboxes: int = 10) -> list[Any]:
    """Every event to `handler` ("module.attribute") in its own sandbox process (up to `sandboxes`; the
    rest queue behind them), all released at the same instant, as Lambda runs concurrent invocations:
    a real race between processes, through the AWS endpoints of this test's environment (a moto or
    DynamoDB server over HTTP). The answers in the order of `events`; a function error is returned as
    its InvocationError."""
    import os

    from local.emulator.sandbox import Function, SandboxPool

    function = Function("function-under-test", handler, timeout=RACE_TIMEOUT_SECONDS)
    with SandboxPool([function], dict(os.environ), min(len(events), sandboxes)) as pool:
        return pool.invoke_all_at_once(function.name, events)
