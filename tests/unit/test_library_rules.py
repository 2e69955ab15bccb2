"""A person's library, its pure rules (rules: library, retention, views; data: library_index, tombstones),
without AWS: the cursor's binding, retention, the preview, the library keys a job gets, the tombstone, and the
conditions DynamoDB evaluates for a delete and for a notification (tests/conditions.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pynamodb.expressions.update import RemoveAction, SetAction

from mediagen.contract.payloads import JobStatus
from mediagen.core.errors import MalformedRequest
from mediagen.core.settings import reset_settings
from mediagen.data import dispatch_lease, jobs, library_index, notifications, tombstones
from mediagen.data.models import NO_ORGANIZATION, GeneratedFile, Generation, Notification, library_sort_key
from mediagen.rules import retention, views
from mediagen.rules.library import CursorScope, make_cursor, read_cursor
from tests.conditions import evaluate

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SORT = library_sort_key("image", NOW, "job_1")
SCOPE = CursorScope(user_id="user_a", kind="image", scope="mine", organization=None, status=None)


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LIBRARY_CURSOR_KEY", "unit-test-cursor-key")
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    reset_settings()
    yield
    reset_settings()


def job(status: str = JobStatus.COMPLETED, **more: Any) -> Generation:
    fields: dict[str, Any] = {
        "job_id": "job_1",
        "kind": "image",
        "author_id": "user_a",
        "organization_id": NO_ORGANIZATION,
        "status": status,
        "progress": 100,
        "source": "api",
        "created_at": NOW,
        "updated_at": NOW,
    }
    fields.update(more)
    return Generation(**fields)


# --- cursors ----------------------------------------------------------------------------------------


def test_a_cursor_reads_back_for_its_own_caller_and_filters() -> None:
    assert read_cursor(make_cursor(SORT, SCOPE), SCOPE) == SORT


@pytest.mark.parametrize(
    "other",
    [
        CursorScope("user_b", "image", "mine", None, None),
        CursorScope("user_a", "video", "mine", None, None),
        CursorScope("user_a", "image", "organization", "org_1", None),
        CursorScope("user_a", "image", "mine", None, "failed"),
    ],
)
def test_a_cursor_is_refused_for_anyone_or_anything_else(other: CursorScope) -> None:
    with pytest.raises(MalformedRequest) as refused:
        read_cursor(make_cursor(SORT, SCOPE), other)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize(
    "cursor", ["", "abc", "a.b.c", "%%%.###", "x" * 600, "aW1hZ2Uj.AAAAAAAAAAAAAAAAAAAAAA"]
)
def test_garbage_cursors_are_invalid(cursor: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        read_cursor(cursor, SCOPE)
    assert refused.value.code == "invalid_cursor"


def test_another_deployment_key_refuses_the_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    cursor = make_cursor(SORT, SCOPE)
    monkeypatch.setenv("LIBRARY_CURSOR_KEY", "another-key")
    reset_settings()
    with pytest.raises(MalformedRequest):
        read_cursor(cursor, SCOPE)


# --- the library keys -------------------------------------------------------------------------------


def test_the_sort_key_orders_by_kind_then_time_then_job_id() -> None:
    later = library_sort_key("image", NOW + timedelta(microseconds=1), "job_0")
    same_time = library_sort_key("image", NOW, "job_2")
    assert SORT < same_time < later
    assert SORT.startswith("image#2026-12-04T12:00:00.000000Z#")
    assert library_sort_key("video", NOW, "job_1").startswith("video#")


def test_a_job_is_in_its_author_library_and_in_its_organization_only_when_it_has_one() -> None:
    private = library_index.with_library_keys(job())
    shared = library_index.with_library_keys(job(organization_id="org_1"))
    nobody = library_index.with_library_keys(job(author_id=None, organization_id="org_1"))
    alias = library_index.with_library_keys(job(alias_of="job_0"))
    assert (private.library_sort, private.library_org) == (SORT, None)
    assert (shared.library_sort, shared.library_org) == (SORT, "org_1")
    assert (nobody.library_sort, nobody.library_org) == (None, None)
    assert alias.library_sort is None


# --- retention --------------------------------------------------------------------------------------


def test_without_retention_nothing_expires() -> None:
    old = job(completed_at=NOW - timedelta(days=3650))
    assert retention.expires_at(old) is None and not retention.expired(old, NOW)
    assert retention.time_to_live(NOW) is None and jobs.expiry_actions(None) == []


def test_a_finished_job_expires_retention_days_after_it_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_DAYS", "7")
    reset_settings()
    finished = job(completed_at=NOW - timedelta(days=7))
    assert retention.expires_at(finished) == NOW
    assert retention.expired(finished, NOW) and not retention.expired(finished, NOW - timedelta(seconds=1))
    in_flight = job(status=JobStatus.PROCESSING)
    assert retention.expires_at(in_flight) is None and not retention.expired(
        in_flight, NOW + timedelta(days=99)
    )
    # The TTL the final write sets, computed by the rule and handed to the data tier as a value.
    assert retention.time_to_live(NOW) == int((NOW + timedelta(days=7)).timestamp())
    assert jobs.expiry_actions(retention.time_to_live(NOW)), (
        "the TTL attribute is written with the final state"
    )


# --- preview ----------------------------------------------------------------------------------------


def file(key: str, thumbnail: str | None = None) -> GeneratedFile:
    return GeneratedFile(s3_key=key, size_bytes=1, format="png", width=1, height=1, aspect_ratio="1x1",
                         thumbnail_key=thumbnail)  # fmt: skip


def test_the_preview_is_the_first_image_or_the_video_thumbnail(monkeypatch: pytest.MonkeyPatch) -> None:
    signed: list[str] = []

    def sign(key: str) -> str:
        signed.append(key)
        return f"https://signed/{key}"

    monkeypatch.setattr(views, "signed_url", sign)
    assert views.preview_url(job(files=[file("images/job_1/0.png"), file("images/job_1/1.png")])) == (
        "https://signed/images/job_1/0.png"
    )
    video = job(kind="video", files=[file("videos/job_1/0.mp4", "videos/job_1/0.png")])
    assert views.preview_url(video) == "https://signed/videos/job_1/0.png"
    assert views.preview_url(job(kind="video", files=[file("videos/job_1/0.mp4")])) == (
        "https://signed/videos/job_1/0.mp4"
    )
    assert views.preview_url(job(status=JobStatus.FAILED, files=None)) is None
    assert signed == ["images/job_1/0.png", "videos/job_1/0.png", "videos/job_1/0.mp4"]


# --- the tombstone and the conditions ---------------------------------------------------------------


def test_a_tombstone_keeps_only_the_id_kind_source_and_times() -> None:
    removed = {name for name in Generation.get_attributes() if name not in tombstones.TOMBSTONE_KEEPS}
    assert {"author_id", "organization_id", "prompt", "files", "library_sort", "library_org",
            "alias_ids", "backend_job_id", "in_flight", "expires_epoch"} <= removed  # fmt: skip
    assert "job_id" in tombstones.TOMBSTONE_KEEPS and "deleted_at" in tombstones.TOMBSTONE_KEEPS


def test_a_delete_applies_only_to_the_job_as_read() -> None:
    seen = job()
    condition = tombstones.unchanged_condition(seen)
    assert evaluate(condition, seen.serialize())
    moved = job(updated_at=NOW + timedelta(seconds=1))
    assert not evaluate(condition, moved.serialize())
    tombstone = job(deleted_at=NOW)
    assert not evaluate(condition, tombstone.serialize())
    assert not evaluate(condition, {})


def test_a_notification_is_put_once_and_never_over_its_tombstone() -> None:
    condition = notifications.put_condition()
    assert evaluate(condition, {})
    live = {"user_id": {"S": "user_a"}, "notification_id": {"S": "20261204T120000000000Z_job_1"}}
    assert not evaluate(condition, {**live, "type": {"S": "IMAGE_COMPLETED"}})
    tombstone = {**live, "deleted_at": {"S": "2026-12-04T12:00:00.000000+0000"}}
    assert not evaluate(condition, tombstone)
    # Marking read applies to a live notification only, never to a tombstone
    assert evaluate(notifications.live_condition(), {**live, "type": {"S": "IMAGE_COMPLETED"}})
    assert not evaluate(notifications.live_condition(), tombstone)
    assert not evaluate(notifications.live_condition(), {})


def test_a_notification_tombstone_keeps_only_its_key_and_expiry() -> None:
    actions = notifications.tombstone_actions(NOW)
    removed = {str(action.values[0]) for action in actions if isinstance(action, RemoveAction)}
    set_ = {str(a.values[0]): str(a.values[1]) for a in actions if isinstance(a, SetAction)}
    # Everything a live notification carries goes, the unread index's key with it
    kept = {"user_id", "notification_id", "deleted_at", "expires_epoch"}
    assert removed == set(Notification.get_attributes()) - kept
    assert "unread_user_id" in removed
    assert set(set_) == {"deleted_at", "expires_epoch"}
    expires = int(NOW.timestamp()) + notifications.TOMBSTONE_SECONDS
    assert set_["expires_epoch"] == str({"N": str(expires)})


def test_a_dispatcher_never_writes_on_a_tombstone() -> None:
    condition = dispatch_lease.live_job_condition()
    assert evaluate(condition, job(status=JobStatus.QUEUED).serialize())
    assert not evaluate(condition, {"job_id": {"S": "job_1"}, "deleted_at": {"S": "2026-12-04"}})
