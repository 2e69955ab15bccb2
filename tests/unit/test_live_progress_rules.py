"""Which stream record is a visible change of a job, and what is published for it
(mediagen.rules.live_progress), on hand-made stream records: no AWS."""

import json
from typing import Any

import pytest

from mediagen.outbound import events_api
from mediagen.rules.live_progress import change_of, publish_records

STAMP = "2026-12-04T10:00:00.000000+0000"


def image(status: str = "processing", progress: int = 50, **extra: Any) -> dict[str, Any]:
    item = {
        "job_id": {"S": "job_1"},
        "kind": {"S": "image"},
        "author_id": {"S": "user_a"},
        "organization_id": {"S": "org_1"},
        "status": {"S": status},
        "progress": {"N": str(progress)},
        "source": {"S": "api"},
        "created_at": {"S": STAMP},
        "updated_at": {"S": STAMP},
    }
    item.update(extra)
    return item


def record(
    new: dict[str, Any] | None, old: dict[str, Any] | None = None, name: str = "MODIFY"
) -> dict[str, Any]:
    stream: dict[str, Any] = {"SequenceNumber": "7"}
    if new is not None:
        stream["NewImage"] = new
    if old is not None:
        stream["OldImage"] = old
    return {"eventName": name, "dynamodb": stream}


def test_a_progress_step_is_published_to_the_author_and_the_organization_as_the_status_body() -> None:
    change = change_of(record(image(progress=60), image(progress=50)))
    assert change is not None
    assert change.channels == ("/jobs/users/user-a", "/jobs/orgs/org-1")
    assert json.loads(change.body) == {
        "job_id": "job_1",
        "kind": "image",
        "status": "processing",
        "progress": 60,
        "created_at": "2026-12-04T10:00:00Z",
        "updated_at": "2026-12-04T10:00:00Z",
        # The status body's timings (issue 21): null until the job is dispatched and finished.
        "dispatched_at": None,
        "finished_at": None,
    }


def test_a_failed_job_carries_its_error() -> None:
    change = change_of(record(image("failed", 50, error={"S": "out of memory"}), image()))
    assert change is not None and json.loads(change.body)["error"] == "out of memory"


@pytest.mark.parametrize(
    "unpublished",
    [
        record(image(), image(), "MODIFY"),  # nothing visible changed (a lease, a duplicate)
        record(image(updated_at={"S": "2026-12-04T10:00:05.000000+0000"}), image()),  # only the time
        record(image(author_id={"NULL": True})),  # unattributed: visible to nobody
        record({**image(), "alias_of": {"S": "job_0"}, "status": {"S": "alias"}}),  # an alias item
        record({"job_id": {"S": "x"}, "status": {"S": "something else"}}),  # not a job
        # bookkeeping: the dispatch's lease and time change no status, progress or error
        record(
            image("queued", 0, dispatched_at={"S": STAMP}, dispatch_lease_until={"S": STAMP}),
            image("queued", 0),
        ),
        record(None, image("deleted", deleted_at={"S": STAMP}), "REMOVE"),  # a tombstone removed: left before
        record(
            {"job_id": {"S": "erased-00ff"}, "status": {"S": "erased"}}, None, "INSERT"
        ),  # an erased record
    ],
)
def test_what_shows_no_change_to_anyone_is_not_published(unpublished: dict[str, Any]) -> None:
    assert change_of(unpublished) is None


@pytest.mark.parametrize(
    ("left", "updated_at"),
    [
        # a delete: the job's item becomes a tombstone (its time is the tombstone's)
        (record(image("deleted", deleted_at={"S": "2026-12-04T10:01:00.000000+0000"},
                      updated_at={"S": "2026-12-04T10:01:00.000000+0000"}, author_id={"NULL": True}),
                image()), "2026-12-04T10:01:00Z"),
        # an erasure or DynamoDB's expiry: the item is removed (the stream record's time)
        ({**record(None, image("completed", 100), "REMOVE"),
          "dynamodb": {"SequenceNumber": "7", "OldImage": image("completed", 100),
                       "ApproximateCreationDateTime": 1_796_000_000}}, "2026-11-30T00:53:20Z"),
    ],
    ids=["deleted", "removed"],
)  # fmt: skip
def test_a_job_that_leaves_gets_one_last_deleted_event_where_it_was_published(
    left: dict[str, Any], updated_at: str
) -> None:
    change = change_of(left)
    assert change is not None
    assert change.channels == ("/jobs/users/user-a", "/jobs/orgs/org-1")
    assert json.loads(change.body) == {
        "job_id": "job_1", "kind": "image", "status": "deleted", "updated_at": updated_at
    }  # fmt: skip


def test_a_backfill_of_old_jobs_is_not_live_progress() -> None:
    # Given a job the migration writes with the old system's times, recorded by the stream now
    old = record(image(status="completed", progress=100), None, "INSERT")
    old["dynamodb"]["ApproximateCreationDateTime"] = 1_790_000_000  # 2026-09-21: months after the job
    old["dynamodb"]["NewImage"]["updated_at"] = {"S": "2026-01-01T00:00:00.000000+0000"}
    assert change_of(old) is None
    # A write of now is published
    now = record(image(progress=60), image())
    now["dynamodb"]["ApproximateCreationDateTime"] = 1_795_000_000
    now["dynamodb"]["NewImage"]["updated_at"] = {"S": "2026-11-18T11:06:39.000000+0000"}
    assert change_of(now) is not None


def test_a_job_without_organization_goes_to_its_author_only() -> None:
    change = change_of(record(image(organization_id={"S": "-"}), None, "INSERT"))
    assert change is not None and change.channels == ("/jobs/users/user-a",)


def test_a_record_is_not_started_without_time_for_its_publishes(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[str] = []

    def publish(channel: str, events: list[str]) -> int:
        published.append(channel)
        return 1

    monkeypatch.setattr(events_api, "publish", publish)
    assert publish_records([record(image(progress=60), image())], lambda: 5_000) == "7"
    assert published == []
    assert publish_records([record(image(progress=60), image())], lambda: 60_000) is None
    assert published == ["/jobs/users/user-a", "/jobs/orgs/org-1"]
