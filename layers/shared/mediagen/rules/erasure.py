"""Erasing a person (GDPR art. 17) after Clerk's `user.deleted`, or by an operator (`make erase`).

Two steps. When the erasure is asked for, the person's keyed hash is recorded (ErasedPeople, once) and
the erasure queued: from that moment generate refuses them (a ConditionCheck on the record in its
transaction) and a completion webhook that would give them a job stores nothing (outcome `erased`).
Then the worker erases: their jobs in flight first (so none is dispatched), then every job they
authored in any organization, each made a tombstone by the library's delete (its aliases and its
notification with it, its id spent), the files of those jobs, every notification addressed to them and
their entry of jobs in flight. Every step is idempotent: a worker stopped halfway is run again by SQS and
finishes the work. A last pass, queued a little later, finds what the per-author index (eventually
consistent) did not show yet.

The erased id is never stored in clear: only HMAC-SHA256 under the stack's key (ERASURE_HASH_KEY, or
the generated secret ERASURE_HASH_KEY_ARN). The key must never change: a new key would forget who was
erased (docs/runbook.md).
"""

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mediagen.contract.payloads import IN_FLIGHT_STATUSES, ErasureMessage
from mediagen.core.errors import NotConfigured
from mediagen.core.observability import MetricName, count, logger
from mediagen.core.settings import settings
from mediagen.data import erased_people, jobs_in_flight, notifications
from mediagen.data.job_store import find
from mediagen.data.library_index import authored_jobs_page
from mediagen.data.models import Generation
from mediagen.outbound import erasure_queue, file_removal
from mediagen.outbound.secrets import secret_value
from mediagen.rules import library
from mediagen.rules.job_files import job_file_keys

HASH_CONTEXT = b"mediagen.erased-person.v1\x00"
# An erased job leaves no item under its id: only one keyed by this prefix and a keyed hash of the id
# (status `erased`, nothing else), which a later webhook or generate for that id finds. 71 characters
# with a `-` after `erased`: longer than any job id (64), so never one.
ERASED_JOB_PREFIX = "erased-"
ERASED_JOB_CONTEXT = b"mediagen.erased-job.v1\x00"
PAGE_SIZE = 100  # jobs a Query page, removed together (their files in one DeleteObjects or a few)
PAGE_SECONDS = 30  # a page is not started with less time left than this (the worker's budget)


@dataclass
class ErasureReport:
    """What an erasure did (or, dry, would do): numbers only, nothing of the person."""

    person_hash: str
    jobs: int = 0
    jobs_in_flight: int = 0
    aliases: int = 0
    files: int = 0
    notifications: int = 0
    complete: bool = True  # False: stopped for time (the rest is for the next pass)
    final_pass: bool = False
    job_ids: list[str] = field(default_factory=list)  # for an operator's dry run, never stored
    seen: set[str] = field(default_factory=set, repr=False)  # each job once a pass (dry runs delete none)

    @property
    def done(self) -> bool:
        """The erasure is over: a final pass, run after the indexes caught up, found nothing left."""
        return self.complete and self.final_pass and self.jobs == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "person_hash": self.person_hash,
            "jobs": self.jobs,
            "jobs_in_flight": self.jobs_in_flight,
            "aliases": self.aliases,
            "files": self.files,
            "notifications": self.notifications,
            "complete": self.complete,
            "final_pass": self.final_pass,
            "done": self.done,
        }


# --- The keyed hash ------------------------------------------------------------------------------


def person_hash(user_id: str) -> str:
    """HMAC-SHA256 of the Clerk user id under the stack's key, hex: what ErasedPeople keeps."""
    return hmac.new(_hash_key(), HASH_CONTEXT + user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def erased_job_key(job_id: str) -> str:
    """The key of an erased job's record in Generations: the prefix and HMAC-SHA256 of the job id under
    the stack's key (a context of its own: never a person's hash)."""
    digest = hmac.new(_hash_key(), ERASED_JOB_CONTEXT + job_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return ERASED_JOB_PREFIX + digest


def _hash_key() -> bytes:
    current = settings()
    if current.erasure_hash_key:
        return current.erasure_hash_key.encode("utf-8")
    if not current.erasure_hash_key_arn:
        raise NotConfigured("ERASURE_HASH_KEY or ERASURE_HASH_KEY_ARN is not configured.")
    return _secret_key(current.erasure_hash_key_arn)


def _secret_key(secret_id: str) -> bytes:
    key = secret_value(secret_id).strip()
    if len(key) < 32:
        raise NotConfigured("The erasure key is shorter than 32 characters.")
    return key.encode("utf-8")


# --- Asking for it -------------------------------------------------------------------------------


def request_erasure(user_id: str) -> bool:
    """Record the person as erased (once) and queue the erasure. True when this call recorded it;
    False when it was recorded before (a redelivery, or an operator's second run): the erasure is
    queued again unless a pass already completed it, so a request that died between the record and the
    queue is finished by the next one."""
    hashed = person_hash(user_id)
    existing = erased_people.record_request(hashed, datetime.now(UTC))
    if existing is not None and existing.completed_at is not None:
        logger.info("Erasure already completed", extra={"person_hash": hashed})
        return False
    erasure_queue.enqueue(user_id)
    if existing is None:
        count(MetricName.ERASURE_REQUESTED)
        logger.info("Erasure recorded and queued", extra={"person_hash": hashed})
    return existing is None


def is_erased(user_id: str) -> bool:
    """One consistent GetItem of the person's hash."""
    return erased_people.find(person_hash(user_id)) is not None


# --- Doing it ------------------------------------------------------------------------------------


def erase_person(
    user_id: str,
    *,
    final_pass: bool = False,
    dry_run: bool = False,
    time_left: Callable[[], float] | None = None,
) -> ErasureReport:
    """One pass of the erasure of `user_id` (see the module's docstring), recorded on the person's
    record. `time_left` (seconds) lets the worker stop between pages (report.complete False);
    `dry_run` counts and changes nothing. The pass that ends it is a final pass that found nothing
    left (report.done)."""
    hashed = person_hash(user_id)
    report = ErasureReport(person_hash=hashed, final_pass=final_pass)
    started = time.monotonic()
    # Jobs in flight first: a tombstone is never dispatched (the dispatcher's claim needs `queued`), and
    # a backend still working on one is answered `erased` and has its files removed.
    # (Its entry of jobs in flight keeps finished ones until the next generate at the cap releases them:
    # those wait for the pages, after the notifications are counted.)
    entry = sorted(jobs_in_flight.jobs_in_flight_of(user_id))
    in_flight = [job for job in map(find, entry) if job and job.status in IN_FLIGHT_STATUSES]
    if in_flight:
        _erase_jobs(in_flight, report, dry_run)
    # Then every notification addressed to them (of their jobs or not): counted here, before the jobs'
    # deletes would take theirs silently. One written later (a webhook racing this pass) goes with its
    # job's delete, or in the final pass.
    report.notifications = notifications.delete_all_for(user_id, dry_run=dry_run)
    start: dict[str, Any] | None = None
    while True:
        if time_left is not None and time_left() < PAGE_SECONDS:
            report.complete = False
            break
        page = authored_jobs_page(user_id, start, PAGE_SIZE)
        _erase_jobs(page.jobs, report, dry_run)
        start = page.next_start
        if start is None:
            break
    if report.complete and not dry_run:
        jobs_in_flight.forget_jobs_in_flight(user_id)
    if dry_run:
        return report
    erased_people.record_pass(
        hashed,
        jobs=report.jobs,
        files=report.files,
        notifications=report.notifications,
        completed_at=datetime.now(UTC) if report.done else None,
    )
    count(MetricName.JOBS_ERASED, report.jobs)
    count(MetricName.FILES_ERASED, report.files)
    logger.info(
        "Erasure pass",
        extra={**report.as_dict(), "seconds": round(time.monotonic() - started, 3)},
    )
    return report


def erasure_pass(message: ErasureMessage, time_left: Callable[[], float] | None = None) -> ErasureReport:
    """What the worker does with a message: one pass, then the next one queued unless it is done (not
    complete: its continuation; complete: the final pass, a little later, and again while a final pass
    still finds jobs, written while the erasure ran)."""
    report = erase_person(message.user_id, final_pass=message.final_pass, time_left=time_left)
    if not report.done:
        erasure_queue.enqueue(message.user_id, final_pass=report.complete)
    return report


def _erase_jobs(jobs: list[Generation], report: ErasureReport, dry_run: bool) -> None:
    """The files first (every key the jobs name, and everything in their folders), then each job made a
    tombstone: stopped in between, a retry finds the jobs again and removes nothing twice in vain; a
    file a webhook added meanwhile is in the job the delete reads, and removed after."""
    jobs = [job for job in jobs if job.kind and not job.alias_of and job.job_id not in report.seen]
    report.seen.update(job.job_id for job in jobs)
    named = {key for job in jobs for key in job_file_keys(job)}
    folders = {settings().media_key_prefix(str(job.kind), job.job_id) for job in jobs}
    # A key the job names may lie outside its folder (jobs brought over from the old system keep theirs).
    present = named | file_removal.objects_under(folders)
    if dry_run:
        report.jobs += len(jobs)
        report.jobs_in_flight += sum(1 for job in jobs if job.status in IN_FLIGHT_STATUSES)
        report.aliases += sum(len(library.aliases_of(job.job_id)) for job in jobs)
        report.files += len(present)
        report.job_ids += [job.job_id for job in jobs]
        return
    file_removal.remove_objects(present)
    late: set[str] = set()
    for job in jobs:
        deleted = library.delete_job(job.job_id, erased_key=erased_job_key, queue_file_removal=False)
        if deleted is None:
            continue  # already a tombstone (a page seen again, the index behind)
        report.jobs += 1
        report.aliases += len(deleted.alias_ids)
        report.jobs_in_flight += int(deleted.was_in_flight)
        late.update(set(deleted.file_keys) - present)
    if late:
        file_removal.remove_objects(late)
    report.files += len(present | late)
