"""A deleted job's tombstone: its item stays, stripped to its id, kind and times, so its id is spent
(later webhooks answer `deleted`, a generate reusing it 409). The delete is ONE transaction with its
notification's tombstone, its aliases and its author's jobs in flight; an erasure leaves instead only
each id's erased record.
"""

from collections.abc import Mapping
from datetime import datetime

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mediagen.contract.payloads import IN_FLIGHT_STATUSES
from mediagen.data import notifications
from mediagen.data.job_store import connection
from mediagen.data.models import Generation, Notification, UserJobsInFlight

# Not JobStatuses: a deleted job's tombstone, and an erased person's job's erased record (webhooks then
# answer `deleted` or `erased`).
DELETED_STATUS = "deleted"
ERASED_STATUS = "erased"
TOMBSTONE_KEEPS = frozenset({"job_id", "kind", "status", "source", "created_at", "updated_at", "deleted_at"})
# Delete: the job changed between its read and the transaction (a webhook): read again, a few times.
DELETE_ATTEMPTS = 4


def unchanged_condition(job: Generation) -> Condition:
    """The job as it was read: every write that matters moves `updated_at` (and status only moves
    forward), so a delete computed from a read applies only to that state."""
    return (
        Generation.job_id.exists()
        & Generation.deleted_at.does_not_exist()
        & Generation.alias_of.does_not_exist()
        & (Generation.updated_at == job.updated_at)
        & (Generation.status == job.status)
    )


def alias_tombstone_condition(job_id: str) -> Condition:
    """An alias of the job (or nothing yet under that id: the id is spent either way)."""
    return Generation.job_id.does_not_exist() | (Generation.alias_of == job_id)


def tombstone_actions(status: str, now: datetime) -> list[Action]:
    """The item keeps its id, kind and times; every other attribute (author, organization, library
    keys, prompt, files, ...) is removed."""
    removed = [
        attribute.remove()
        for name, attribute in Generation.get_attributes().items()
        if name not in TOMBSTONE_KEEPS
    ]
    return [
        Generation.status.set(status),
        Generation.deleted_at.set(now),
        Generation.updated_at.set(now),
        *removed,
    ]


class JobChanged(Exception):
    """The job changed between its read and the delete's transaction: read it again."""


def tombstone_job(
    job: Generation,
    *,
    status: str,
    now: datetime,
    notification_key: tuple[str, str] | None,
    alias_ids: list[str],
    erased_keys: Mapping[str, str] | None = None,
) -> list[str]:
    """Turn the job (as read) into a tombstone, in ONE TransactWriteItems with: its notification made
    a tombstone (mediagen.data.notifications.tombstone_actions), its alias items turned into
    tombstones, and its id taken out of its author's jobs in flight when it was in flight. Raises
    JobChanged when the job is no longer as read. An alias id that is another job's (never written as
    an alias) is left out and the transaction retried. Returns the
    alias ids made tombstones.

    With `erased_keys` (an erasure: each id, the job's and its aliases', to the key of its erased
    record), nothing stays under the ids: the items are deleted and each id's erased record (its keyed
    key, `status` only) written instead, in the same transaction."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    aliases = list(alias_ids)
    while True:
        try:
            with TransactWrite(connection=connection()) as transaction:
                if notification_key is not None and erased_keys is not None:
                    # An erasure leaves nothing keyed by the person: the notification goes (a delivery
                    # still running is refused by its check of the person's erasure).
                    transaction.delete(Notification(*notification_key))
                elif notification_key is not None:
                    # Its tombstone (the first update of the request): a delivery that wrote the job
                    # before this delete cannot put the notification after it.
                    transaction.update(
                        Notification(*notification_key), actions=notifications.tombstone_actions(now)
                    )
                if erased_keys is not None:
                    # Deletes, in this order: the job, then its aliases; then the erased records.
                    transaction.delete(Generation(job.job_id), condition=unchanged_condition(job))
                    for alias in aliases:
                        transaction.delete(Generation(alias), condition=alias_tombstone_condition(job.job_id))
                    for erased in (job.job_id, *aliases):
                        transaction.update(
                            Generation(erased_keys[erased]), actions=[Generation.status.set(status)]
                        )
                else:
                    # Updates come after deletes in the request: the job, then its aliases, then the slot.
                    transaction.update(
                        Generation(job.job_id),
                        actions=tombstone_actions(status, now),
                        condition=unchanged_condition(job),
                    )
                    for alias in aliases:
                        transaction.update(
                            Generation(alias),
                            actions=tombstone_actions(status, now),
                            condition=alias_tombstone_condition(job.job_id),
                        )
                if job.author_id and job.status in IN_FLIGHT_STATUSES:
                    transaction.update(
                        UserJobsInFlight(job.author_id),
                        actions=[UserJobsInFlight.job_ids.delete({job.job_id})],
                    )
            return aliases
        except TransactWriteError as exc:
            codes = [reason.code if reason else None for reason in exc.cancellation_reasons or []]
            offset = 1 if notification_key is not None else 0
            if len(codes) > offset and codes[offset] == "ConditionalCheckFailed":
                raise JobChanged(job.job_id) from exc
            failed_aliases = {
                alias
                for position, alias in enumerate(aliases, start=offset + 1)
                if position < len(codes) and codes[position] == "ConditionalCheckFailed"
            }
            if failed_aliases:
                aliases = [alias for alias in aliases if alias not in failed_aliases]
                continue
            if "TransactionConflict" in codes:
                raise JobChanged(job.job_id) from exc
            raise
