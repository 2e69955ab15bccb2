"""Notifications: exactly one per finished job, whatever the retries."""

import base64
import binascii
import json
import re
from datetime import datetime

from pynamodb.exceptions import UpdateError

from mediagen.contract.payloads import (
    JobStatus,
    NotificationMetadata,
    NotificationsPage,
    NotificationType,
    NotificationView,
)
from mediagen.core.errors import MalformedRequest, NotFound
from mediagen.core.observability import MetricName, count, logger
from mediagen.data.generations import SOURCE_NAMES, condition_failed, notify_if_notifiable
from mediagen.data.models import Notification

NOTIFICATION_ID = re.compile(r"^[0-9]{8}T[0-9]{12}Z_[A-Za-z0-9_-]{1,64}$")
# A cursor is the base64 of {"after": <notification id>}: far below this.
CURSOR_MAX = 512

TITLES: dict[NotificationType, str] = {
    "IMAGE_COMPLETED": "🎨 Images générées avec succès",
    "IMAGE_FAILED": "❌ Échec de la génération d'images",
    "VIDEO_COMPLETED": "🎬 Vidéo générée avec succès",
    "VIDEO_FAILED": "❌ Échec de la génération vidéo",
}


def notification_id(finished_at: datetime, job_id: str) -> str:
    """Deterministic and time-ordered: every delivery of a finished job computes the same id from the
    job's stored completion time, so the conditional put creates it once."""
    return f"{finished_at.strftime('%Y%m%dT%H%M%S%fZ')}_{job_id}"


def notify_once(notification: Notification, author_hash: str | None = None) -> bool:
    """Create the job's notification unless it exists (see job_notification), and only while its job is
    finished and its author's (a deleted job gets none, even when the delete lands between the job's
    write and this one). True when created. With `author_hash`: AuthorErased when its author was erased.
    """
    if not notify_if_notifiable(notification, author_hash):
        return False
    count(MetricName.NOTIFICATION_CREATED)
    logger.info("Notification created", extra={"notification_type": notification.type})
    return True


def job_notification(
    *,
    user_id: str,
    job_id: str,
    kind: str,
    status: str,
    finished_at: datetime,
    source: str,
    file_count: int,
    error: str | None,
) -> Notification:
    """The notification of a finished job; its key comes from the job's stored completion time."""
    notification_type: NotificationType
    if kind == "image":
        notification_type = "IMAGE_COMPLETED" if status == JobStatus.COMPLETED else "IMAGE_FAILED"
    else:
        notification_type = "VIDEO_COMPLETED" if status == JobStatus.COMPLETED else "VIDEO_FAILED"
    if status == JobStatus.COMPLETED:
        noun = "image(s) créée(s)" if kind == "image" else "vidéo(s) créée(s)"
        message = f"{file_count} {noun}."
    else:
        message = error or "La génération a échoué."
    return Notification(
        user_id=user_id,
        notification_id=notification_id(finished_at, job_id),
        unread_user_id=user_id,
        type=notification_type,
        title=TITLES[notification_type],
        message=message,
        read=False,
        created_at=finished_at,
        generation_id=job_id,
        source=source,
    )


def list_notifications(
    user_id: str, *, limit: int, cursor: str | None, unread_only: bool
) -> NotificationsPage:
    """One page, newest first: one Query for the page (whatever its depth: the cursor is a key, not an
    offset) and one COUNT Query of the sparse unread index."""
    start = _cursor_key(cursor, user_id, unread_only)
    source = Notification.unread if unread_only else Notification
    page = list(source.query(user_id, scan_index_forward=False, limit=limit + 1, last_evaluated_key=start))
    items = page[:limit]
    next_cursor = cursor_after(items[-1].notification_id) if len(page) > limit else None
    return NotificationsPage(
        items=[notification_view(item) for item in items],
        next_cursor=next_cursor,
        unread_count=Notification.unread.count(user_id),
    )


def mark_read(user_id: str, notification_id_: str) -> NotificationView:
    """Idempotent; another user's notification (or a missing one) is the same 404."""
    if not NOTIFICATION_ID.fullmatch(notification_id_):
        raise NotFound("No such notification.")
    notification = Notification(user_id, notification_id_)
    try:
        notification.update(
            actions=[Notification.read.set(True), Notification.unread_user_id.remove()],
            condition=Notification.user_id.exists(),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            raise NotFound("No such notification.") from exc
        raise
    return notification_view(notification)


def notification_view(item: Notification) -> NotificationView:
    return NotificationView(
        id=item.notification_id,
        type=item.type,
        title=item.title,
        message=item.message,
        read=bool(item.read),
        created_at=item.created_at,
        metadata=NotificationMetadata(
            generation_id=item.generation_id, source=SOURCE_NAMES.get(item.source, "front-end")
        ),
    )


def cursor_after(last_id: str) -> str:
    """The opaque cursor of the page that follows the notification `last_id`."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def _cursor_key(cursor: str | None, user_id: str, unread_only: bool) -> dict[str, dict[str, str]] | None:
    """The opaque cursor back to an exclusive start key; the user comes from the token, never the cursor."""
    if cursor is None:
        return None
    if len(cursor) > CURSOR_MAX:  # longer than any cursor this route makes: not decoded at all
        raise MalformedRequest("The cursor is invalid.", code="invalid_cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        last_id = json.loads(raw)["after"]
    except (ValueError, binascii.Error, KeyError, TypeError) as exc:
        raise MalformedRequest("The cursor is invalid.", code="invalid_cursor") from exc
    if not isinstance(last_id, str) or not NOTIFICATION_ID.fullmatch(last_id):
        raise MalformedRequest("The cursor is invalid.", code="invalid_cursor")
    key = {"user_id": {"S": user_id}, "notification_id": {"S": last_id}}
    if unread_only:
        key["unread_user_id"] = {"S": user_id}
    return key


def delete_all_for(user_id: str, *, dry_run: bool = False) -> int:
    """Delete every notification addressed to `user_id` (a person's erasure): one keys-only Query page
    at a time, then BatchWriteItem, 25 deletes a request. Returns how many there were."""
    removed = 0
    keys = Notification.query(user_id, attributes_to_get=["user_id", "notification_id"])
    if dry_run:
        return sum(1 for _ in keys)
    with Notification.batch_write() as batch:
        for item in keys:
            batch.delete(item)
            removed += 1
    return removed
