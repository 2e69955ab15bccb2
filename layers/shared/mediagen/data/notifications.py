"""The Notifications table: exactly one notification per finished job, whatever the retries (its key is
derived from the job's stored completion time; a deleted job's notification leaves a tombstone there);
a person's pages, marking one read, and deleting a person's all (their erasure). Data access only: the
texts, the view and the cursor are mediagen.rules.notifications'.
"""

import re
from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mediagen.data.erased_people import not_erased_condition
from mediagen.data.job_store import TRANSACTION_ATTEMPTS, after_conflict, condition_failed, connection
from mediagen.data.models import ErasedPerson, Notification

# A notification tombstone's life: a day, against a webhook's run of seconds (its function's timeout).
TOMBSTONE_SECONDS = 24 * 3600
NOTIFICATION_ID = re.compile(r"^[0-9]{8}T[0-9]{12}Z_[A-Za-z0-9_-]{1,64}$")


class AuthorErased(Exception):
    """The person a write would have given something to was erased (their hash is in ErasedPeople)."""


def notification_id(finished_at: datetime, job_id: str) -> str:
    """Deterministic and time-ordered: every delivery of a finished job computes the same id from the
    job's stored completion time, so the conditional put creates it once."""
    return f"{finished_at.strftime('%Y%m%dT%H%M%S%fZ')}_{job_id}"


def put_condition() -> Condition:
    """A job's notification is put once: not over itself (a retried delivery), nor over its tombstone
    (its job was deleted after the delivery's job write and before this put)."""
    return Notification.notification_id.does_not_exist()


def live_condition() -> Condition:
    """An existing notification that is not a deleted job's tombstone."""
    return Notification.user_id.exists() & Notification.deleted_at.does_not_exist()


def tombstone_actions(now: datetime) -> list[Action]:
    """The update (in the delete's transaction) that leaves the notification's tombstone at its key:
    whether the notification was written or not yet, the put of a delivery still running then fails
    its condition. Everything but the key goes (so the unread index drops it); it expires after
    TOMBSTONE_SECONDS, far beyond the run of any webhook that could still put the notification."""
    removed = [
        attribute.remove()
        for name, attribute in Notification.get_attributes().items()
        if name not in ("user_id", "notification_id", "deleted_at", "expires_epoch")
    ]
    return [
        Notification.deleted_at.set(now),
        Notification.expires_epoch.set(int(now.timestamp()) + TOMBSTONE_SECONDS),
        *removed,
    ]


def notify_if_notifiable(notification: Notification, author_hash: str | None = None) -> bool:
    """Put the job's notification unless it exists or its tombstone does (a delete that landed between
    the job's write and this one left the tombstone: no notification of a deleted job). True when
    created. With `author_hash` (the author's keyed hash), the put goes in one TransactWriteItems with a
    check that the author was not erased, and AuthorErased says they were (an erasure deletes the
    notifications and leaves nothing keyed by the person in clear, so no tombstone: this check)."""
    from pynamodb.exceptions import PutError, TransactWriteError
    from pynamodb.transactions import TransactWrite

    if author_hash is None:
        try:
            notification.save(condition=put_condition())
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True
    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            with TransactWrite(connection=connection()) as transaction:
                # The condition check comes first in the request, then the put.
                transaction.condition_check(ErasedPerson, author_hash, condition=not_erased_condition())
                transaction.save(notification, condition=put_condition())
            return True
        except TransactWriteError as exc:
            codes = [reason.code if reason else None for reason in exc.cancellation_reasons or []]
            if codes[:1] == ["ConditionalCheckFailed"]:
                raise AuthorErased(notification.generation_id) from exc
            if "ConditionalCheckFailed" in codes:
                return False
            # Copies of one delivery at once write the same item: one wins, the others find it.
            after_conflict(exc, codes, attempt, "The job changed while its notification was written; retry.")
    raise AssertionError("unreachable")


def notifications_page(
    user_id: str, *, after: str | None, limit: int, unread_only: bool
) -> tuple[list[Notification], bool]:
    """ONE Query of a person's notifications (or of the sparse unread index), newest first, after the
    notification `after` (a key, not an offset: any depth costs the same): up to `limit`, and whether
    more follow."""
    start: dict[str, dict[str, str]] | None = None
    if after is not None:
        start = {"user_id": {"S": user_id}, "notification_id": {"S": after}}
        if unread_only:
            start["unread_user_id"] = {"S": user_id}
    if unread_only:  # a tombstone is never unread: the sparse index does not hold it
        page = list(
            Notification.unread.query(
                user_id, scan_index_forward=False, limit=limit + 1, last_evaluated_key=start
            )
        )
    else:
        # Tombstones are filtered out on the server; PynamoDB's `limit` counts the items kept, so a
        # page with tombstones in its range reads on until it has limit + 1 (their few bytes each).
        page = list(
            Notification.query(
                user_id,
                filter_condition=Notification.deleted_at.does_not_exist(),
                scan_index_forward=False,
                limit=limit + 1,
                last_evaluated_key=start,
            )
        )
    return page[:limit], len(page) > limit


def unread_count(user_id: str) -> int:
    """One COUNT Query of the sparse unread index."""
    return Notification.unread.count(user_id)


def mark_read(user_id: str, notification_id_: str) -> Notification | None:
    """Mark the person's notification read (idempotent), one conditional UpdateItem; None when they have
    no such notification."""
    notification = Notification(user_id, notification_id_)
    try:
        notification.update(
            actions=[Notification.read.set(True), Notification.unread_user_id.remove()],
            condition=live_condition(),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return None
        raise
    return notification


def delete_all_for(user_id: str, *, dry_run: bool = False) -> int:
    """Delete every notification addressed to `user_id` (a person's erasure), their deleted jobs'
    tombstones too: one Query page of keys at a time, then BatchWriteItem, 25 deletes a request.
    Returns how many notifications there were (tombstones are not counted)."""
    removed = 0
    keys = Notification.query(user_id, attributes_to_get=["user_id", "notification_id", "deleted_at"])
    if dry_run:
        return sum(1 for item in keys if item.deleted_at is None)
    with Notification.batch_write() as batch:
        for item in keys:
            batch.delete(item)
            removed += item.deleted_at is None
    return removed
