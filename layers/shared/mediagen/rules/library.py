"""A person's library: the list of their jobs (or their organization's), the delete, and retention.

- A list page is ONE Query on a sparse library index (library_author or library_organization, see
  docs/architecture.md), newest first; preview URLs are signed locally (no S3 request).
- A cursor is `<payload>.<mac>`: the last item's sort key, bound by an HMAC to the caller, the kind,
  the scope, the organization and the status filter. The index's partition (the author or the
  organization) always comes from the token, never from the cursor.
- A delete turns the job into a tombstone (tombstones.tombstone_job): its id is spent.
- Retention (mediagen.rules.retention): an expired job is treated as deleted; every read checks it.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mediagen.contract.caller import Caller
from mediagen.contract.payloads import (
    IN_FLIGHT_STATUSES,
    JOB_ID_PATTERN,
    NOTIFIED_STATUSES,
    Kind,
    LibraryPage,
    LibraryQuery,
)
from mediagen.core.errors import (
    InvalidPayload,
    MalformedRequest,
    NotConfigured,
    NotFound,
    NotPermitted,
    TemporaryFault,
)
from mediagen.core.observability import MetricName, count, logger
from mediagen.core.settings import settings
from mediagen.data import tombstones
from mediagen.data.job_store import find
from mediagen.data.library_index import library_page
from mediagen.data.models import Generation
from mediagen.data.notifications import notification_id
from mediagen.outbound import file_removal
from mediagen.outbound.secrets import secret_value
from mediagen.rules import retention
from mediagen.rules.job_files import job_file_keys
from mediagen.rules.retention import expired
from mediagen.rules.views import library_item

CURSOR_MAX = 512
CURSOR_MAC_BYTES = 16
# A status filter makes DynamoDB evaluate more entries than it returns: a filtered page evaluates up
# to this many times the limit (one request, bounded cost), so most pages come back full.
FILTERED_EVALUATION_FACTOR = 5
MAX_EVALUATED = 500
_SORT_KEY = re.compile(r"^(image|video)#\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[A-Za-z0-9_-]{1,64}$")


# --- Cursors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CursorScope:
    """What a cursor is bound to: who asks, for what, with which filters."""

    user_id: str
    kind: Kind
    scope: str
    organization: str | None
    status: str | None

    def binding(self, payload: str) -> bytes:
        parts = [
            "library.v1",
            self.user_id,
            self.kind,
            self.scope,
            self.organization or "",
            self.status or "",
        ]
        return "|".join([*parts, payload]).encode()


def _cursor_key() -> bytes:
    current = settings()
    if current.library_cursor_key:
        return current.library_cursor_key.encode()
    if current.library_cursor_key_arn:
        # A rotated key is seen within 5 minutes; the cursors it signed are refused after (400).
        return secret_value(current.library_cursor_key_arn).encode()
    raise NotConfigured("LIBRARY_CURSOR_KEY is not configured.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_cursor(sort_key: str, bound: CursorScope) -> str:
    payload = _b64(sort_key.encode())
    mac = hmac.new(_cursor_key(), bound.binding(payload), hashlib.sha256).digest()[:CURSOR_MAC_BYTES]
    return f"{payload}.{_b64(mac)}"


def read_cursor(cursor: str, bound: CursorScope) -> str:
    """The sort key after which the page starts; 400 invalid_cursor for anything this route did not
    make for this caller, kind, scope and filters."""
    invalid = MalformedRequest("The cursor is invalid.", code="invalid_cursor")
    if len(cursor) > CURSOR_MAX or cursor.count(".") != 1:
        raise invalid
    payload, mac = cursor.split(".")
    try:
        given = _unb64(mac)
        sort_key = _unb64(payload).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid from exc
    expected = hmac.new(_cursor_key(), bound.binding(payload), hashlib.sha256).digest()[:CURSOR_MAC_BYTES]
    if not hmac.compare_digest(given, expected) or not _SORT_KEY.fullmatch(sort_key):
        raise invalid
    if not sort_key.startswith(f"{bound.kind}#"):
        raise invalid
    return sort_key


# --- List -----------------------------------------------------------------------------------------


def list_library(caller: Caller, kind: Kind, query: LibraryQuery) -> LibraryPage:
    """One page of the caller's jobs (scope mine: authored, any organization) or of their active
    organization's, newest first, with ONE Query."""
    organization = query.scope == "organization"
    if organization and not caller.organization_id:
        raise InvalidPayload(
            "scope=organization needs an active organization in the token.", code="no_active_organization"
        )
    bound = CursorScope(
        user_id=caller.user_id,
        kind=kind,
        scope=query.scope,
        organization=caller.organization_id if organization else None,
        status=query.status,
    )
    after = read_cursor(query.cursor, bound) if query.cursor is not None else None
    now = datetime.now(UTC)
    evaluate = query.limit + 1
    if query.status is not None:
        evaluate = min(max(evaluate, query.limit * FILTERED_EVALUATION_FACTOR), MAX_EVALUATED)
    page = library_page(
        partition=str(caller.organization_id) if organization else caller.user_id,
        organization=organization,
        kind=kind,
        after_sort=after,
        status=bound.status,
        finished_after=retention.finished_after(now),
        evaluate=evaluate,
    )
    jobs = [job for job in page.jobs if not expired(job, now)]  # the filter's cutoff, checked again
    items = jobs[: query.limit]
    next_sort: str | None = None
    if len(jobs) > query.limit:
        next_sort = str(items[-1].library_sort)
    elif page.last_evaluated_sort is not None:
        # DynamoDB stopped before the partition's end (a filter left fewer than `limit`): go on from
        # where it stopped; the next page may be short, never skips.
        next_sort = page.last_evaluated_sort
    return LibraryPage(
        items=[library_item(job) for job in items],
        next_cursor=make_cursor(next_sort, bound) if next_sort else None,
    )


# --- Delete ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeletedJob:
    """What a delete removed."""

    job_id: str
    kind: str
    author_id: str | None
    was_in_flight: bool
    file_keys: tuple[str, ...]
    alias_ids: tuple[str, ...]


def delete(caller: Caller, kind: Kind, job_id: str) -> DeletedJob:
    """DELETE /api/{kind}s/{id}: the author only (an organization member: 403; anyone else, an unknown,
    deleted or expired job, or an alias of one: 404)."""
    missing = NotFound(f"No {kind} generation {job_id[:64]}.")
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise missing
    for _ in range(tombstones.DELETE_ATTEMPTS):
        job = _job_of(job_id)
        if job is None or job.kind != kind or job.author_id is None or expired(job):
            raise missing
        if job.author_id != caller.user_id:
            if caller.organization_id and job.organization == caller.organization_id:
                raise NotPermitted("Only the job's author may delete it.", code="not_author")
            raise missing
        deleted = _delete(job)
        if deleted is not None:
            return deleted
    raise TemporaryFault("The job keeps changing; retry the delete.")


def delete_job(
    job_id: str, *, erased_key: Callable[[str], str] | None = None, queue_file_removal: bool = True
) -> DeletedJob | None:
    """Delete a job whoever asks (no authorization here: the caller decides; erasure uses it): its
    item becomes a tombstone, its aliases too (with `erased_key`, an erasure: nothing stays under their
    ids but each id's erased record, at the key `erased_key` gives it), its notification goes, a job
    in flight leaves its author's cap, and its files are queued for removal (unless
    `queue_file_removal` is False: the caller removes `DeletedJob.file_keys` and the job's folder
    itself). None when there is no such job (missing, an alias, already a tombstone)."""
    for _ in range(tombstones.DELETE_ATTEMPTS):
        job = _job_of(job_id, follow_alias=False)
        if job is None:
            return None
        deleted = _delete(job, erased_key=erased_key, queue_file_removal=queue_file_removal)
        if deleted is not None:
            return deleted
    raise TemporaryFault("The job keeps changing; retry the delete.")


def job_folder(job: Generation) -> str:
    """The job's folder in the media bucket: everything under it goes with the job."""
    return settings().media_key_prefix(job.kind, job.job_id)


def _job_of(job_id: str, *, follow_alias: bool = True) -> Generation | None:
    job = find(job_id)
    if job is not None and job.alias_of and follow_alias:
        job = find(job.alias_of)  # one hop, as status and result
    if job is None or job.alias_of or retention.is_tombstone(job):
        return None
    return job


def alias_candidates(job: Generation) -> list[str]:
    """The ids a delete of the job turns into tombstones with it: its merged ids and the backend's own
    id (each only if it is an alias item of this job: the delete's transaction checks that)."""
    return sorted(
        {*(job.alias_ids or ()), *([job.backend_job_id] if job.backend_job_id else [])} - {job.job_id}
    )


def aliases_of(job_id: str) -> list[str]:
    """What a delete of the job would make tombstones of, read now: a dry run counts them as the real
    run's transaction does (tombstones.alias_tombstone_condition: an alias item of this job, or no item
    yet under that id; another job's id is left out). The job is read whole, as the delete reads it:
    the library index a page of jobs comes from does not project their alias ids."""
    job = find(job_id)
    if job is None:
        return []
    return [
        alias
        for alias in alias_candidates(job)
        if (item := find(alias)) is None or item.alias_of == job.job_id
    ]


def _delete(
    job: Generation, *, erased_key: Callable[[str], str] | None = None, queue_file_removal: bool = True
) -> DeletedJob | None:
    """One transaction; None when the job changed since it was read (read again)."""
    now = datetime.now(UTC)
    notification_key = None
    if job.author_id and job.completed_at and job.status in NOTIFIED_STATUSES:
        notification_key = (job.author_id, notification_id(job.completed_at, job.job_id))
    aliases = alias_candidates(job)
    # An erased person's job leaves nothing under its ids: each id's erased record, keyed by a keyed hash.
    tombstone = tombstones.DELETED_STATUS if erased_key is None else tombstones.ERASED_STATUS
    erased_keys = None if erased_key is None else {i: erased_key(i) for i in (job.job_id, *aliases)}
    try:
        made = tombstones.tombstone_job(
            job,
            status=tombstone,
            now=now,
            notification_key=notification_key,
            alias_ids=aliases,
            erased_keys=erased_keys,
        )
    except tombstones.JobChanged:
        return None
    keys = job_file_keys(job)
    was_in_flight = job.status in IN_FLIGHT_STATUSES
    if queue_file_removal:
        file_removal.enqueue(job.job_id, keys, [job_folder(job)])
    if was_in_flight:
        count(MetricName.JOB_CANCELED)
    count(MetricName.JOB_DELETED)
    logger.info(
        "Job deleted",
        extra={
            "tombstone": tombstone,
            "was_in_flight": was_in_flight,
            "files": len(keys),
            "aliases": len(made),
        },
    )
    return DeletedJob(
        job_id=job.job_id,
        kind=job.kind,
        author_id=job.author_id,
        was_in_flight=was_in_flight,
        file_keys=tuple(keys),
        alias_ids=tuple(made),
    )
