"""The rules DynamoDB enforces, as the data-access modules build them (mediagen.data: jobs, deliveries,
jobs_in_flight, dispatch_lease), evaluated against every item state without AWS (tests/conditions.py), and
the classification of a refused write (mediagen.rules.completion_webhook) checked to agree with them.

The oracle here is the contract's wording, not a second copy of the conditions: status only moves
forward (queued, processing, then one final state), progress never goes down, an existing job keeps
its author and its kind, a job id is created once.
"""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediagen.contract.payloads import FINAL_STATUSES, CompletionWebhook, JobStatus, Kind
from mediagen.data import deliveries, dispatch_lease, jobs, jobs_in_flight
from mediagen.data.models import Generation
from mediagen.rules.completion_webhook import refusal, refused_outcome
from tests.conditions import evaluate

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KINDS: tuple[Kind, ...] = ("image", "video")
AUTHORS = (None, "user_a", "user_b")  # absent, the delivery's user, another user
PROGRESS = (0, 50, 100)
RANK = {JobStatus.QUEUED: 0, JobStatus.PROCESSING: 1, **{status: 2 for status in FINAL_STATUSES}}


def job(status: JobStatus, kind: str, author: str | None, progress: int = 0, **more: Any) -> Generation:
    return Generation(
        job_id="job_1",
        kind=kind,
        author_id=author,
        status=status,
        progress=progress,
        source="api",
        created_at=NOW,
        updated_at=NOW,
        **more,
    )


def item(generation: Generation | None) -> dict[str, Any]:
    return generation.serialize() if generation is not None else {}


def delivery(status: str, progress: int | None = None, user_id: str | None = "user_a") -> CompletionWebhook:
    files = (
        {
            "images": [
                {"file_path": "images/job_1/0.png", "size_bytes": 1, "format": "png", "dimensions": "1x1"}
            ]
        }
        if status == "completed"
        else None
    )
    return CompletionWebhook.model_validate(
        {"job_id": "job_1", "status": status, "progress": progress, "user_id": user_id, "data": files}
    )


def moves_forward(webhook: CompletionWebhook, current: Generation) -> bool:
    """The contract's rule: a later state, or more progress while processing."""
    if RANK[JobStatus(current.status)] == 2:
        return False
    if webhook.status == JobStatus.PROCESSING and current.status == JobStatus.PROCESSING:
        return webhook.progress is not None and webhook.progress > current.progress
    return RANK[webhook.status] > RANK[JobStatus(current.status)]


DELIVERIES = [
    delivery(status, progress, user)
    for status, progress in [
        ("processing", None),
        ("processing", 0),
        ("processing", 50),
        ("processing", 80),
        ("completed", None),
        ("failed", None),
    ]
    for user in (None, "user_a")
]
STATES = [
    job(status, kind, author, progress)
    for status, kind, author, progress in itertools.product(JobStatus, KINDS, AUTHORS, PROGRESS)
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_delivery_for_a_missing_job_creates_it(kind: Kind) -> None:
    for webhook in DELIVERIES:
        assert evaluate(deliveries.delivery_condition(kind, webhook), {}) is True


def test_every_delivery_against_every_state_agrees_with_the_contract_and_the_classification() -> None:
    checked = 0
    for webhook, current, kind in itertools.product(DELIVERIES, STATES, KINDS):
        applies = evaluate(deliveries.delivery_condition(kind, webhook), item(current))
        reason = refusal(kind, webhook, current)
        expected = (
            current.kind == kind
            and (webhook.user_id is None or current.author_id in (None, webhook.user_id))
            and moves_forward(webhook, current)
        )
        assert applies is expected, (
            webhook.status,
            webhook.progress,
            webhook.user_id,
            current.serialize(),
            kind,
        )
        if applies:
            # A write DynamoDB applies is never one the classification would refuse.
            assert reason is None
        elif reason is None:
            # Refused for being behind: a duplicate exactly when it repeats the job's state.
            outcome = refused_outcome(webhook, current)
            repeats = webhook.status == current.status and (
                webhook.status != JobStatus.PROCESSING or webhook.progress in (None, current.progress)
            )
            assert outcome == ("duplicate" if repeats else "stale")
            assert not moves_forward(webhook, current)
        else:
            # Refused for good: another user's job, or another kind.
            assert (reason == "job_owned_by_another_user") is (
                webhook.user_id is not None and current.author_id not in (None, webhook.user_id)
            )
            assert reason == "job_owned_by_another_user" or current.kind != kind
        checked += 1
    assert checked == len(DELIVERIES) * len(STATES) * len(KINDS)


@settings(max_examples=300, deadline=None)
@given(
    stored=st.integers(min_value=0, max_value=100),
    sent=st.one_of(st.none(), st.integers(min_value=0, max_value=100)),
    status=st.sampled_from([JobStatus.QUEUED, JobStatus.PROCESSING]),
)
def test_progress_never_goes_down(stored: int, sent: int | None, status: JobStatus) -> None:
    current = job(status, "image", "user_a", stored)
    webhook = delivery("processing", sent)
    applies = evaluate(deliveries.delivery_condition("image", webhook), item(current))
    assert applies is (status == JobStatus.QUEUED or (sent is not None and sent > stored))
    if not applies:
        assert refusal("image", webhook, current) is None
        assert refused_outcome(webhook, current) == ("duplicate" if sent in (None, stored) else "stale")


@pytest.mark.parametrize("author", ["user_a", None])
def test_an_internal_failure_applies_only_to_the_job_in_flight_as_seen(author: str | None) -> None:
    seen = job(JobStatus.QUEUED, "image", author)
    condition = jobs.fail_condition(seen)
    assert evaluate(condition, {}) is False  # never creates a job
    for current in STATES:
        expected = (
            current.status in (JobStatus.QUEUED, JobStatus.PROCESSING)
            and current.kind == "image"
            and current.author_id == author
        )
        assert evaluate(condition, item(current)) is expected


def test_only_the_author_cancels_a_job_in_flight_of_the_route_kind() -> None:
    condition = jobs.cancel_condition("video", "user_a")
    assert evaluate(condition, {}) is False
    for current in STATES:
        expected = (
            current.author_id == "user_a"
            and current.kind == "video"
            and current.status in (JobStatus.QUEUED, JobStatus.PROCESSING)
        )
        assert evaluate(condition, item(current)) is expected


@pytest.mark.parametrize(
    ("status", "dispatched", "lease", "expected"),
    [
        (JobStatus.QUEUED, None, None, True),
        (JobStatus.QUEUED, None, NOW - timedelta(seconds=1), True),  # an expired lease
        (JobStatus.QUEUED, None, NOW + timedelta(seconds=30), False),  # another dispatcher holds it
        (JobStatus.QUEUED, NOW, None, False),  # sent already
        (JobStatus.PROCESSING, None, None, False),
        (JobStatus.CANCELED, None, None, False),
    ],
)
def test_one_dispatcher_at_a_time(
    status: JobStatus, dispatched: datetime | None, lease: datetime | None, expected: bool
) -> None:
    current = job(status, "image", "user_a", dispatched_at=dispatched, dispatch_lease_until=lease)
    assert evaluate(dispatch_lease.claim_condition(NOW), item(current)) is expected
    assert evaluate(dispatch_lease.claim_condition(NOW), {}) is False


def test_a_job_id_is_created_once() -> None:
    assert evaluate(jobs.create_condition(), {}) is True
    assert evaluate(jobs.create_condition(), item(job(JobStatus.QUEUED, "image", "user_a"))) is False


@pytest.mark.parametrize("held", [None, 0, 1, 2, 3, 4])
def test_a_user_adds_a_job_in_flight_only_below_the_cap(held: int | None) -> None:
    item: dict[str, Any] = {"user_id": {"S": "user_a"}}
    if held:  # DynamoDB has no empty set: a user without jobs in flight has no attribute
        item["job_ids"] = {"SS": [f"job_{index}" for index in range(held)]}
    assert evaluate(jobs_in_flight.below_cap_condition(3), item) is ((held or 0) < 3)
    assert evaluate(jobs_in_flight.below_cap_condition(3), {}) is True
