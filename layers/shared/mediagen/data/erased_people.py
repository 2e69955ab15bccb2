"""Data access for the ErasedPeople table: the keyed hashes of the people erased, one item each.

The item is written (conditionally, once) the moment the erasure is asked for, before any job is
touched: from then on generate refuses the person (a ConditionCheck on this item in generate's
transaction) and a completion webhook naming them stores nothing. Passes of the erasure add what they
removed; the last one records when nothing was left.
"""

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mediagen.data.models import ErasedPerson


def not_erased_condition() -> Condition:
    """The condition of a ConditionCheck on a person's hash: no erasure recorded for it."""
    return ErasedPerson.person_hash.does_not_exist()


def record_request(person_hash: str, now: datetime) -> ErasedPerson | None:
    """PutItem if absent (one request). None when this call recorded it; else the existing record, as
    DynamoDB returns it with the failed condition (no read)."""
    record = ErasedPerson(person_hash=person_hash, requested_at=now)
    request = record.get_save_kwargs_from_instance(
        condition=not_erased_condition(), return_values_on_condition_failure="ALL_OLD"
    )
    client: Any = ErasedPerson._get_connection().connection.client
    try:
        client.put_item(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        existing: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        return ErasedPerson.from_raw_data(existing) if existing else find(person_hash) or record
    return None


def find(person_hash: str) -> ErasedPerson | None:
    """One strongly consistent GetItem."""
    try:
        return ErasedPerson.get(person_hash, consistent_read=True)
    except ErasedPerson.DoesNotExist:
        return None


def record_pass(
    person_hash: str, *, jobs: int, files: int, notifications: int, completed_at: datetime | None
) -> None:
    """Add what one pass removed; `completed_at` when it found nothing left (one UpdateItem). The
    record is written before any pass is queued (and `make erase` writes it first too); a pass run
    without it (a message redriven by hand) writes it."""
    actions: list[Action] = [
        ErasedPerson.requested_at.set(ErasedPerson.requested_at | (completed_at or datetime.now(UTC))),
        ErasedPerson.jobs_erased.add(jobs),
        ErasedPerson.files_removed.add(files),
        ErasedPerson.notifications_removed.add(notifications),
    ]
    if completed_at is not None:
        actions.append(ErasedPerson.completed_at.set(completed_at))
    ErasedPerson(person_hash).update(actions=actions)
