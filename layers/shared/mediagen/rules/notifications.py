"""Notifications: exactly one per finished job, whatever the retries. The notification of a finished job
(its French texts), its creation (counted), a person's pages behind an opaque cursor, and marking one
read. The Notifications table's requests are mediagen.data.notifications'.
"""

import base64
import binascii
import json
from datetime import datetime

from mediagen.contract.payloads import JobStatus, NotificationsPage, NotificationType, NotificationView
from mediagen.core.errors import MalformedRequest, NotFound
from mediagen.core.observability import MetricName, count, logger
from mediagen.data import notifications
from mediagen.data.models import Notification
from mediagen.data.notifications import NOTIFICATION_ID, notification_id
from mediagen.rules.views import notification_view

# A cursor is the base64 of {"after": <notification id>}: far below this.
CURSOR_MAX = 512

TITLES: dict[NotificationType, str] = {
    "IMAGE_COMPLETED": "🎨 Images générées avec succès",
    "IMAGE_FAILED": "❌ Échec de la génération d'images",
    "VIDEO_COMPLETED": "🎬 Vidéo générée avec succès",
    "VIDEO_FAILED": "❌ Échec de la génération vidéo",
}


def notify_once(notification: Notification, author_hash: str | None = None) -> bool:
    """Create the job's notification unless it exists (see job_notification) or its tombstone does (a
    deleted job gets none, even when the delete lands between the job's write and this one). True when
    created. With `author_hash`: AuthorErased when its author was erased.
    """
    if not notifications.notify_if_notifiable(notification, author_hash):
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
    after = _after(cursor)
    items, more = notifications.notifications_page(user_id, after=after, limit=limit, unread_only=unread_only)
    return NotificationsPage(
        items=[notification_view(item) for item in items],
        next_cursor=cursor_after(items[-1].notification_id) if more else None,
        unread_count=notifications.unread_count(user_id),
    )


def mark_read(user_id: str, notification_id_: str) -> NotificationView:
    """Idempotent; another user's notification (or a missing one) is the same 404."""
    if not NOTIFICATION_ID.fullmatch(notification_id_):  # no such id can exist: no request
        raise NotFound("No such notification.")
    notification = notifications.mark_read(user_id, notification_id_)
    if notification is None:
        raise NotFound("No such notification.")
    return notification_view(notification)


def cursor_after(last_id: str) -> str:
    """The opaque cursor of the page that follows the notification `last_id`."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def _after(cursor: str | None) -> str | None:
    """The opaque cursor back to the notification the page starts after; the user comes from the token,
    never the cursor."""
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
    return last_id
