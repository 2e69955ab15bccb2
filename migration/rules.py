"""The contract's six rules ("Bringing over the old database"), as plain functions of the old rows.

Generations arrive oldest first. A front-end generation that never finished is held as a merge
candidate while it is within the window of a later UUID generation; every other record is decided the
moment it is read. Memory therefore holds the unfinished front-end jobs of the last
`MERGE_WINDOW_MINUTES` of history (per model / numImages / size), never a table.

Every item is built with the service's own PynamoDB models, with deterministic keys and values (no
clock is read here), so a rerun computes exactly the same items: this is what lets a conditional put
skip what an earlier run wrote.
"""

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from mediagen.contract.payloads import JOB_ID_PATTERN, NOTIFIED_STATUSES, JobStatus
from mediagen.data import library_index
from mediagen.data.jobs import SOURCE_BACKEND_DIRECT, alias_item
from mediagen.data.models import NO_ORGANIZATION, GeneratedFile, Generation, Notification, in_flight_shard
from mediagen.data.notifications import notification_id
from mediagen.rules.jobs import SOURCE_API
from mediagen.rules.notifications import job_notification
from migration.legacy import LegacyFile, LegacyGeneration, LegacyNotification

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
LOST_ERROR = "did not complete in the old system"
STATUSES = {
    "PENDING": JobStatus.QUEUED.value,
    "PROCESSING": JobStatus.PROCESSING.value,
    "COMPLETED": JobStatus.COMPLETED.value,
    "FAILED": JobStatus.FAILED.value,
}
UNFINISHED = frozenset({"PENDING", "PROCESSING"})
FINAL = frozenset(status.value for status in NOTIFIED_STATUSES)  # the old system had no "canceled"
SOURCE_FRONT_END = SOURCE_API  # what POST .../generate stores
NOTIFIED_TYPES = frozenset({"IMAGE_COMPLETED", "IMAGE_FAILED"})

Rule = Literal["as_was", "merged", "unattributed", "lost"]


class Recorder(Protocol):
    """What the rules tell the report (migration.report.Report)."""

    def count(self, name: str, n: int = 1) -> None: ...

    def entry(self, section: str, **fields: object) -> None: ...


@dataclass
class JobPlan:
    """The items of one migrated job, written in this order (the alias and the notification after
    the job they point at)."""

    rule: Rule
    job: Generation
    alias: Generation | None = None
    notification: Notification | None = None

    def items(self) -> list[Generation | Notification]:
        return [item for item in (self.job, self.alias, self.notification) if item is not None]


@dataclass
class _Candidate:
    generation: LegacyGeneration
    done: bool = False  # claimed by a UUID generation, or out of every later one's window


@dataclass
class Planner:
    """Feed generations oldest first; each call returns the jobs decided so far."""

    window: timedelta
    report: Recorder
    _groups: dict[tuple[str, int, str], deque[_Candidate]] = field(default_factory=dict)
    _arrivals: deque[_Candidate] = field(default_factory=deque)
    _last_created: datetime | None = None

    def feed(self, generation: LegacyGeneration) -> list[JobPlan]:
        if self._last_created is not None and generation.created_at < self._last_created:
            raise ValueError("generations must arrive oldest first")
        self._last_created = generation.created_at
        plans = self._expire(generation.created_at)
        self.report.count("rows.generations")
        self.report.count("rows.files", len(generation.files))
        self.report.count("rows.notifications", len(generation.notifications))
        if UUID.fullmatch(generation.id):
            self.report.count("rows.uuid_records")
            plan = self._uuid_record(generation)
            if plan is not None:
                plans.append(plan)
        else:
            self.report.count("rows.frontend_records")
            if generation.status in UNFINISHED:
                candidate = _Candidate(generation)
                self._arrivals.append(candidate)
                self._groups.setdefault(_group(generation), deque()).append(candidate)
            else:
                plans += self._as_was(generation)
        return plans

    def finish(self) -> list[JobPlan]:
        """The candidates still held: no later UUID generation can claim them."""
        plans = []
        while self._arrivals:
            candidate = self._arrivals.popleft()
            if not candidate.done:
                candidate.done = True
                plans += self._lost(candidate.generation)
        self._groups.clear()
        return plans

    @property
    def held(self) -> int:
        """Candidates in memory now (bounded by the window, not by the database)."""
        return len(self._arrivals)

    # --- merging ------------------------------------------------------------------------------------

    def _expire(self, now: datetime) -> list[JobPlan]:
        plans: list[JobPlan] = []
        while self._arrivals and now - self._arrivals[0].generation.created_at > self.window:
            candidate = self._arrivals.popleft()
            if not candidate.done:
                candidate.done = True
                plans += self._lost(candidate.generation)
            key = _group(candidate.generation)
            group = self._groups.get(key)
            while group and group[0].done:
                group.popleft()
            if group is not None and not group:
                del self._groups[key]
        return plans

    def _uuid_record(self, record: LegacyGeneration) -> JobPlan | None:
        """Rule 3 or 4: merge with the closest unclaimed candidate before it, or store unattributed."""
        eligible = [
            candidate
            for candidate in reversed(self._groups.get(_group(record), ()))
            if not candidate.done and candidate.generation.created_at < record.created_at
        ]
        if not eligible:
            return self._unattributed(record, "no front-end generation to merge with")
        closest = eligible[0].generation.created_at
        tied = [c for c in eligible if c.generation.created_at == closest]
        if len(tied) > 1:
            self.report.count("merges.ties")
            self.report.entry(
                "ties", uuid=record.id, candidates=sorted(c.generation.id for c in tied), created_at=closest
            )
            return self._unattributed(record, "a tie between candidates")
        tied[0].done = True
        return self._merged(tied[0].generation, record)

    # --- the jobs -----------------------------------------------------------------------------------

    def _as_was(self, generation: LegacyGeneration) -> list[JobPlan]:
        """Rule 6: a front-end generation that finished, as it was."""
        owner = self._owner(generation)
        if owner is None:
            return []
        author, organization = owner
        job = _job(generation, author=author, organization=organization, source=SOURCE_FRONT_END)
        notification = self._carry(job, generation.notifications)
        self.report.count("jobs.as_was")
        return [JobPlan("as_was", job, notification=notification)]

    def _merged(self, front: LegacyGeneration, record: LegacyGeneration) -> JobPlan | None:
        """Rule 3: F's id, author, organization and prompt; U's files, status, progress and completion."""
        owner = self._owner(front)
        if owner is None:
            self._skip("ImageGeneration", record.id, f"merges with {front.id}, which is skipped")
            self._drop_misdirected(record)
            return None
        author, organization = owner
        status = STATUSES[record.status]
        job = _job(
            front,
            author=author,
            organization=organization,
            source=SOURCE_FRONT_END,
            status=status,
            progress=record.progress,
            error=record.error_message,
            updated_at=record.updated_at,
            completed_at=_completed_at(record) if status in FINAL else None,
            files=record.files,
        )
        alias = alias_item(record.id, job)
        job.alias_ids = {record.id}  # a delete of the job makes its alias a tombstone too
        notification = None
        own = [n for n in front.notifications if n.type in NOTIFIED_TYPES and n.user_clerk_id == author]
        misdirected = [n for n in record.notifications if n.type in NOTIFIED_TYPES]
        for skipped in [
            n for n in (*front.notifications, *record.notifications) if n.type not in NOTIFIED_TYPES
        ]:
            self._skip_notification(skipped, "a SYSTEM notification has no counterpart here")
        if status in FINAL:
            chosen = (own or misdirected or [None])[0]  # type: ignore[list-item]
            if chosen is None:
                notification = job_notification(
                    user_id=author,
                    job_id=job.job_id,
                    kind="image",
                    status=status,
                    finished_at=job.completed_at,
                    source=SOURCE_FRONT_END,
                    file_count=len(job.files or []),
                    error=job.error,
                )
                self.report.count("notifications.created_for_merge")
            else:
                notification = _notification(job, chosen)
                moved = chosen in misdirected
                self.report.count("notifications.readdressed" if moved else "notifications.carried")
                if chosen.read:  # each read one under its own heading: a moved one was not carried
                    self.report.count(
                        "notifications.readdressed_read" if moved else "notifications.carried_read"
                    )
            for other in own:
                if other is not chosen:
                    self._skip_notification(other, "a second notification of the job (one per job here)")
            self.report.count(
                "notifications.misdirected_dropped", len([n for n in misdirected if n is not chosen])
            )
        else:
            for other in own:
                self._skip_notification(other, "its job has not finished")
            self.report.count("notifications.misdirected_dropped", len(misdirected))
        minutes = (record.created_at - front.created_at).total_seconds() / 60
        self.report.count("jobs.merged")
        self.report.count("aliases")
        self.report.entry(
            "merges", uuid=record.id, frontend_id=front.id, author=author, minutes_apart=round(minutes, 3)
        )
        return JobPlan("merged", job, alias=alias, notification=notification)

    def _unattributed(self, record: LegacyGeneration, reason: str) -> JobPlan:
        """Rule 4: visible to nobody; its notification (to the first user) is dropped."""
        job = _job(record, author=None, organization=NO_ORGANIZATION, source=SOURCE_BACKEND_DIRECT)
        self._drop_misdirected(record)
        self.report.count("jobs.unattributed")
        self.report.entry("unattributed", id=record.id, reason=reason)
        return JobPlan("unattributed", job)

    def _lost(self, front: LegacyGeneration) -> list[JobPlan]:
        """Rule 5: failed, nobody notified."""
        owner = self._owner(front)
        if owner is None:
            return []
        author, organization = owner
        job = _job(
            front,
            author=author,
            organization=organization,
            source=SOURCE_FRONT_END,
            status="failed",
            error=LOST_ERROR,
            completed_at=front.updated_at,
        )
        for notification in front.notifications:
            self._skip_notification(
                notification, "its job did not complete in the old system: nobody is notified"
            )
        self.report.count("jobs.lost")
        self.report.entry("lost", id=front.id, author=author)
        return [JobPlan("lost", job)]

    # --- people and notifications -------------------------------------------------------------------

    def _owner(self, generation: LegacyGeneration) -> tuple[str, str] | None:
        """Rule 1: (Clerk user id, Clerk organization id or NO_ORGANIZATION), or None (skipped, reported)."""
        reason = None
        if not JOB_ID_PATTERN.fullmatch(generation.id):
            reason = "the id is not a job id here ([A-Za-z0-9_-], at most 64)"
        elif generation.author_clerk_id is None:
            reason = f"author {generation.author_id} has no User row with a clerkId"
        elif generation.organization_id is not None and generation.organization_clerk_id is None:
            reason = f"organization {generation.organization_id} has no Organization row with a clerkOrgId"
        if reason is not None:
            self._skip("ImageGeneration", generation.id, reason)
            for notification in generation.notifications:
                self._skip_notification(notification, f"its generation {generation.id} is skipped")
            return None
        assert generation.author_clerk_id is not None
        return generation.author_clerk_id, generation.organization_clerk_id or NO_ORGANIZATION

    def _carry(self, job: Generation, notifications: tuple[LegacyNotification, ...]) -> Notification | None:
        """Rule 6: the job's notification as it was, with its read state (one per job)."""
        chosen = None
        for old in notifications:
            if old.type not in NOTIFIED_TYPES:
                self._skip_notification(old, "a SYSTEM notification has no counterpart here")
            elif job.status not in FINAL:
                self._skip_notification(old, "its job has not finished")
            elif old.user_clerk_id is None:
                self._skip_notification(old, f"user {old.user_id} has no User row with a clerkId")
            elif old.user_clerk_id != job.author_id:
                self._skip_notification(old, "addressed to another user than the job's author")
            elif chosen is not None:
                self._skip_notification(old, "a second notification of the job (one per job here)")
            else:
                chosen = old
        if chosen is None:
            return None
        self.report.count("notifications.carried")
        if chosen.read:
            self.report.count("notifications.carried_read")
        return _notification(job, chosen)

    def _drop_misdirected(self, record: LegacyGeneration) -> None:
        for old in record.notifications:
            if old.type in NOTIFIED_TYPES:
                self.report.count("notifications.misdirected_dropped")
            else:
                self._skip_notification(old, "a SYSTEM notification has no counterpart here")

    def _skip(self, table: str, row_id: str, reason: str) -> None:
        self.report.count(f"skipped.{table}")
        self.report.entry("skipped", table=table, id=row_id, reason=reason)

    def _skip_notification(self, old: LegacyNotification, reason: str) -> None:
        self._skip("Notification", old.id, reason)


def _group(generation: LegacyGeneration) -> tuple[str, int, str]:
    return generation.model, generation.num_images, generation.size


def _completed_at(generation: LegacyGeneration) -> datetime:
    return generation.completed_at or generation.updated_at


def _job(
    generation: LegacyGeneration,
    *,
    author: str | None,
    organization: str,
    source: str,
    status: str | None = None,
    progress: int | None = None,
    error: str | None = None,
    updated_at: datetime | None = None,
    completed_at: datetime | None = None,
    files: tuple[LegacyFile, ...] | None = None,
) -> Generation:
    """The job item as the service stores one (same attributes, same meaning)."""
    status = status or STATUSES[generation.status]
    if completed_at is None and status in FINAL:
        completed_at = _completed_at(generation)
    stored_files = [_file(f) for f in (generation.files if files is None else files)]
    # In its author's library (and its organization's) under its old created_at: the same keys as
    # generate writes (an unattributed job is in no library).
    return library_index.with_library_keys(
        _job_item(
            generation,
            author=author,
            organization=organization,
            source=source,
            status=status,
            progress=progress,
            error=error,
            updated_at=updated_at,
            completed_at=completed_at,
            stored_files=stored_files,
        )
    )


def _job_item(
    generation: LegacyGeneration,
    *,
    author: str | None,
    organization: str,
    source: str,
    status: str,
    progress: int | None,
    error: str | None,
    updated_at: datetime | None,
    completed_at: datetime | None,
    stored_files: list[GeneratedFile],
) -> Generation:
    return Generation(
        job_id=generation.id,
        kind="image",
        author_id=author,
        organization_id=organization,
        prompt=generation.prompt,
        model=generation.model,
        num_images=generation.num_images,
        size=generation.size,
        status=status,
        progress=generation.progress if progress is None else progress,
        error=error if error is not None else generation.error_message,
        source=source,
        created_at=generation.created_at,
        updated_at=updated_at or generation.updated_at,
        completed_at=completed_at if status in FINAL else None,
        files=stored_files or None,
        in_flight=None if status in FINAL else in_flight_shard(generation.id),
    )


def _file(old: LegacyFile) -> GeneratedFile:
    metadata = old.metadata
    description = metadata.get("description")
    model = metadata.get("model")
    seconds = metadata.get("generation_time")
    return GeneratedFile(
        s3_key=old.s3_key,
        size_bytes=old.size_bytes,
        format=old.format.lower(),
        width=old.width,
        height=old.height,
        aspect_ratio=old.aspect_ratio,
        description=description if isinstance(description, str) else None,
        model=model if isinstance(model, str) else None,
        generation_time_seconds=seconds
        if isinstance(seconds, int | float) and not isinstance(seconds, bool)
        else None,
    )


def _notification(job: Generation, old: LegacyNotification) -> Notification:
    """The old notification, to the job's author, keyed as the service keys the job's one
    notification (from its stored completion time): a late webhook for the job finds it, not a gap."""
    assert job.author_id is not None and job.completed_at is not None
    return Notification(
        user_id=job.author_id,
        notification_id=notification_id(job.completed_at, job.job_id),
        unread_user_id=None if old.read else job.author_id,
        type=old.type,
        title=old.title,
        message=old.message,
        read=old.read,
        created_at=old.created_at,
        generation_id=job.job_id,
        source=job.source,
    )
