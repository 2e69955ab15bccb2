"""The Generations table's requests, shared by the data modules of a job: one connection, a conditional
UpdateItem that returns the item (ALL_OLD) whether it applied or not, one strongly consistent read, and
the retry of a cancelled transaction. Conditions and updates are built by the modules of each concern
(jobs, deliveries, jobs_in_flight, dispatch_lease, tombstones, notifications); never a read before a
write.
"""

import random
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mediagen.core.errors import TemporaryFault
from mediagen.data.models import Generation

# Concurrent transactions on one user's slot item are cancelled by DynamoDB (TransactionConflict):
# retried a few times, jittered, before the client is told to retry (503).
TRANSACTION_ATTEMPTS = 4


@dataclass(frozen=True)
class ConditionalWrite:
    """What a conditional write did. `before` is the item before the write (None: it did not exist);
    when the condition failed, it is the item as it is now: DynamoDB returns it with the failure, so no
    read is needed. Only when no item comes back (the item is missing, or a store without
    ReturnValuesOnConditionCheckFailure, such as dynalite) is it read, once, consistently: job states
    only move forward, so that read cannot contradict the failed condition.

    `before` carries every attribute but the embedded files, which are counted (`file_count`): no
    caller of a conditional write reads them, and deserialising them is most of the cost of reading
    the item back (measured: 0.39 ms with 4 files, 0.03 ms without, per delivery)."""

    applied: bool
    before: Generation | None
    file_count: int = 0
    erased: bool = False  # refused: it would have given an erased person the job (nothing written)


def connection() -> Connection:
    """PynamoDB's public low-level connection (the models' one, `models.shared_connection`). Used for
    what the Model API does not offer: an UpdateItem or PutItem that returns the item with a failed
    condition (ALL_OLD), and a transaction."""
    return Generation._get_connection().connection


def client() -> Any:
    """The connection's botocore client: its ClientError keeps the item DynamoDB returns with a failed
    condition (PynamoDB's own calls drop it, which would cost a read)."""
    return connection().client


def update_if(job_id: str, actions: list[Action], condition: Condition) -> ConditionalWrite:
    """UpdateItem with `condition`, one request: ALL_OLD on success and on condition failure."""
    return write_of(*conditional_update(job_id, actions, condition), job_id)


def conditional_update(
    job_id: str, actions: list[Action], condition: Condition
) -> tuple[bool, dict[str, Any] | None]:
    """UpdateItem with `condition`: whether it applied, and the raw item before it (applied) or as it
    is (refused; None when missing, or when the store does not return it)."""
    request = Generation(job_id).get_update_kwargs_from_instance(
        actions, condition, return_values_on_condition_failure="ALL_OLD"
    )
    request["ReturnValues"] = "ALL_OLD"
    try:
        response: dict[str, Any] = client().update_item(**request)
    except ClientError as exc:
        if not condition_check_failed(exc):
            raise
        return False, exc.response.get("Item")  # type: ignore[return-value]
    return True, response.get("Attributes")


def write_of(applied: bool, raw: dict[str, Any] | None, job_id: str) -> ConditionalWrite:
    if applied or raw:
        return ConditionalWrite(applied=applied, before=item_of(raw, files=False), file_count=files_in(raw))
    found = find(job_id)  # refused, and the store did not return the item
    return ConditionalWrite(applied=False, before=found, file_count=len(found.files or []) if found else 0)


def condition_check_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def condition_failed(exc: Exception) -> bool:
    """A PynamoDB error caused by a failed condition (and not by throttling, a timeout, ...)."""
    cause = getattr(exc, "cause", None)
    return isinstance(cause, ClientError) and condition_check_failed(cause)


def item_of(raw: dict[str, Any] | None, *, files: bool = True) -> Generation | None:
    if not raw:
        return None
    return Generation.from_raw_data(
        raw if files else {name: value for name, value in raw.items() if name != "files"}
    )


def files_in(raw: dict[str, Any] | None) -> int:
    return len((raw or {}).get("files", {}).get("L", []))


def find(job_id: str) -> Generation | None:
    """One strongly consistent GetItem: a poll right after a write sees it."""
    try:
        return Generation.get(job_id, consistent_read=True)
    except Generation.DoesNotExist:
        return None


def backoff(attempt: int) -> None:
    """Wait before the next attempt of a cancelled transaction: jittered, doubling each attempt."""
    time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not a secret


def after_conflict(exc: Exception, codes: list[str | None], attempt: int, busy: str) -> None:
    """A cancelled transaction that no condition of ours refused (`codes`: its cancellation reasons'):
    when another transaction conflicted with it, wait before the next attempt, or after the last one
    raise TemporaryFault(`busy`) (the client retries); any other cancellation is raised as it came."""
    if "TransactionConflict" not in codes:
        raise exc
    if attempt + 1 == TRANSACTION_ATTEMPTS:
        raise TemporaryFault(busy) from exc
    backoff(attempt)
