"""The JobsInFlight table: each person's ids of jobs in flight, the per-user cap. A job is created and
its id added to its author's entry in ONE transaction, whose condition is the cap: all or nothing,
however many generates run at once.
"""

from dataclasses import dataclass, field

from pynamodb.expressions.condition import Condition, size

from mediagen.contract.payloads import IN_FLIGHT_STATUSES
from mediagen.core.errors import TemporaryFault
from mediagen.data.erased_people import not_erased_condition
from mediagen.data.job_store import TRANSACTION_ATTEMPTS, after_conflict, connection, find, item_of
from mediagen.data.jobs import create_condition, not_erased_job_condition
from mediagen.data.models import ErasedPerson, Generation, UserJobsInFlight


def below_cap_condition(cap: int) -> Condition:
    """A user may add a job in flight while fewer than `cap` are."""
    return UserJobsInFlight.job_ids.does_not_exist() | (size(UserJobsInFlight.job_ids) < cap)


@dataclass(frozen=True)
class JobCreation:
    """What creating a job within the user's cap did: created (nothing else set), found the job id
    taken (`existing`), or found the user at the cap (`cap_reached`, with the ids in flight seen)."""

    existing: Generation | None = None
    cap_reached: bool = False
    jobs_in_flight: frozenset[str] = field(default_factory=frozenset)
    erased: bool = False  # the author was erased (Clerk's user.deleted): nothing written
    spent: bool = False  # the id was an erased job's: nothing written


def create_job_within_cap(
    job: Generation, cap: int, author_hash: str, erased_key: str | None = None
) -> JobCreation:
    """The job's conditional put and its id added to its author's jobs in flight, in one
    TransactWriteItems (one request), with a check that the author (`author_hash`, their keyed hash) was
    not erased: all or nothing, so the cap holds however many generates run at once, and an erasure
    recorded before the transaction leaves nothing written. ALL_OLD with a failed condition returns the
    existing job, or the user's jobs in flight."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    author = str(job.author_id)
    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            with TransactWrite(connection=connection()) as transaction:
                # Condition checks come first in the request, then puts, then updates.
                transaction.condition_check(ErasedPerson, author_hash, condition=not_erased_condition())
                if erased_key is not None:  # an erased job's id stays spent, though no item holds it
                    transaction.condition_check(Generation, erased_key, condition=not_erased_job_condition())
                transaction.save(job, condition=create_condition(), return_values="ALL_OLD")
                transaction.update(
                    UserJobsInFlight(author),
                    actions=[UserJobsInFlight.job_ids.add({job.job_id})],
                    condition=below_cap_condition(cap),
                    return_values="ALL_OLD",
                )
            return JobCreation()
        except TransactWriteError as exc:
            reasons = list(exc.cancellation_reasons or [])
            codes = [reason.code if reason else None for reason in reasons]
            if codes[:1] == ["ConditionalCheckFailed"]:  # the author's erasure record
                return JobCreation(erased=True)
            put = 1
            if erased_key is not None:
                put = 2
                if codes[1:2] == ["ConditionalCheckFailed"]:  # the id's erased record
                    return JobCreation(spent=True)
            if codes[put : put + 1] == ["ConditionalCheckFailed"]:  # the put
                put_reason = reasons[put]
                raw = put_reason.raw_item if put_reason else None
                current = item_of(raw) if raw else find(job.job_id)
                if current is None:
                    raise TemporaryFault("The job id is being created; retry.") from exc
                return JobCreation(existing=current)
            if codes[put + 1 : put + 2] == ["ConditionalCheckFailed"]:
                slot_reason = reasons[put + 1]
                raw = slot_reason.raw_item if slot_reason else None
                slot = UserJobsInFlight.from_raw_data(raw) if raw else _slot(author)
                return JobCreation(cap_reached=True, jobs_in_flight=frozenset(slot.job_ids or ()))
            after_conflict(exc, codes, attempt, "Too many requests for this user at once; retry.")
    raise AssertionError("unreachable")


def release_finished_jobs(user_id: str, job_ids: frozenset[str]) -> int:
    """Take the user's finished (or vanished) jobs out of its jobs in flight: one consistent
    BatchGetItem of the ids (at most the cap), then one UpdateItem when some finished. Idempotent:
    a job, once final, never comes back in flight. Returns how many were released."""
    if not job_ids:
        return 0
    still = {
        job.job_id
        for job in Generation.batch_get(
            list(job_ids), consistent_read=True, attributes_to_get=["job_id", "status"]
        )
        if job.status in IN_FLIGHT_STATUSES
    }
    finished = set(job_ids) - still
    if finished:
        UserJobsInFlight(user_id).update(actions=[UserJobsInFlight.job_ids.delete(finished)])
    return len(finished)


def _slot(user_id: str) -> UserJobsInFlight:
    try:
        return UserJobsInFlight.get(user_id, consistent_read=True)
    except UserJobsInFlight.DoesNotExist:
        return UserJobsInFlight(user_id)


def jobs_in_flight_of(user_id: str) -> frozenset[str]:
    """The ids of the person's jobs in flight (their entry of JobsInFlight), one consistent GetItem."""
    return frozenset(_slot(user_id).job_ids or ())


def forget_jobs_in_flight(user_id: str) -> None:
    """Delete the person's entry of JobsInFlight (one DeleteItem; absent: nothing happens)."""
    UserJobsInFlight(user_id).delete()
