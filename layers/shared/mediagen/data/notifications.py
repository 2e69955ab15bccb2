"""The Notifications table: exactly one notification per finished job, whatever the retries (its key is
derived from the job's stored completion time); a person's pages, marking one read, and deleting a
person's all (their erasure). Data access only: the texts, the view and the cursor are
mediagen.rules.notifications'.
"""

import re
from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition

from mediagen.contract.payloads import NOTIFIED_STATUSES
from mediagen.core.errors import TemporaryFault
from mediagen.data.erased_people import not_erased_condition
from mediagen.data.job_store import TRANSACTION_ATTEMPTS, backoff, condition_failed, connection
from mediagen.data.models import ErasedPerson, Generation, Notification

NOTIFICATION_ID = re.compile(r"^[0-9]{8}T[0-9]{12}Z_[A-Za-z0-9_-]{1,64}$")


class AuthorErased(Exception):
    """The person a write would have given something to was erased (their hash is in ErasedPeople)."""


def notification_id(finished_at: datetime, job_id: str) -> str:
    """Deterministic and time-ordered: every delivery of a finished job computes the same id from the
    job's stored completion time, so the conditional put creates it once."""
    return f"{finished_at.strftime('%Y%m%dT%H%M%S%fZ')}_{job_id}"


def notifiable_condition(user_id: str) -> Condition:
    """A job's notification is written only while the job is finished, notified, and still its
    author's: after a delete (a tombstone has no author) the condition check fails."""
    return (Generation.author_id == user_id) & Generation.status.is_in(*NOTIFIED_STATUSES)


def notify_if_notifiable(notification: Notification, author_hash: str | None = None) -> bool:
    """Put the job's notification unless it exists, in one TransactWriteItems with a check that the
    job is still finished and its author's: a delete between the job's write and this one leaves no
    notification behind. True when created. With `author_hash` (the author's keyed hash), the same
    transaction checks that the author was not erased, and AuthorErased says they were."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            with TransactWrite(connection=connection()) as transaction:
                if author_hash is not None:  # the first condition check of the request
                    transaction.condition_check(ErasedPerson, author_hash, condition=not_erased_condition())
                transaction.condition_check(
                    Generation,
                    notification.generation_id,
                    condition=notifiable_condition(notification.user_id),
                )
                transaction.save(notification, condition=Notification.notification_id.does_not_exist())
            return True
        except TransactWriteError as exc:
            codes = [reason.code if reason else None for reason in exc.cancellation_reasons or []]
            if author_hash is not None and codes[:1] == ["ConditionalCheckFailed"]:
                raise AuthorErased(notification.generation_id) from exc
            if "ConditionalCheckFailed" in codes:
                return False
            if "TransactionConflict" not in codes:
                raise
            if attempt + 1 == TRANSACTION_ATTEMPTS:
                raise TemporaryFault("The job changed while its notification was written; retry.") from exc
            # Copies of one delivery at once write the same two items: one wins, the others find it.
            backoff(attempt)
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
    source = Notification.unread if unread_only else Notification
    page = list(source.query(user_id, scan_index_forward=False, limit=limit + 1, last_evaluated_key=start))
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
            condition=Notification.user_id.exists(),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return None
        raise
    return notification


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
