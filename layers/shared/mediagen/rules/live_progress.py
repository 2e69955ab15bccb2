"""Live progress: each change of a job, as the generations table's stream records it, published to its
author's channel (and its organization's) as the job's status body.

The table is the source (docs/architecture.md, "Live progress"): every write of every path (generate,
dispatch, webhook, cancel, sweeper, migration) reaches the stream, nothing is published that was not
stored, and no request path waits for AppSync. A record is published when what a person sees changes:
its status, progress or error (the dispatch's lease and time, a duplicate delivery or a notification's
bookkeeping publish nothing). A job that leaves the library (its item made a tombstone by a delete, or
removed: an erasure, DynamoDB's expiry) publishes one last event, `status: "deleted"`, to the channels
that carried it.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mediagen.contract.channels import job_channels
from mediagen.contract.payloads import JobStatus
from mediagen.core.observability import logger
from mediagen.data.models import Generation
from mediagen.outbound import events_api
from mediagen.rules.views import status_view


@dataclass(frozen=True)
class Change:
    """One job change to publish: the stream record's sequence number, where, and the body."""

    sequence_number: str
    job_id: str
    channels: tuple[str, ...]
    body: str  # the status body, JSON


def status_body(image: Mapping[str, Any]) -> tuple[Generation, dict[str, Any]] | None:
    """The job and its status body of a stream image (DynamoDB JSON); None for what is not a job's
    state (an alias item, an item that is not a job)."""
    if not image or "alias_of" in image:
        return None
    try:
        generation = Generation.from_raw_data(dict(image))
        if generation.status not in set(JobStatus):
            return None
        view = status_view(generation)
    except (ValueError, TypeError, KeyError, AttributeError):
        logger.warning("A stream image is not a job", extra={"keys": sorted(image)[:20]})
        return None
    return generation, view.model_dump(mode="json", exclude_unset=True)


# A write whose job was last updated longer ago than this, when the stream recorded it, is not live
# progress but a backfill (the migration keeps the old system's times): nobody is waiting for it.
BACKFILL_SECONDS = 15 * 60


def change_of(record: Mapping[str, Any]) -> Change | None:
    """The change a DynamoDB stream record (Lambda's event shape) makes visible, or None."""
    name = record.get("eventName")
    if name not in ("INSERT", "MODIFY", "REMOVE"):
        return None
    stream = record.get("dynamodb") or {}
    old = status_body(stream.get("OldImage") or {})
    new = status_body(stream.get("NewImage") or {}) if name != "REMOVE" else None
    if new is None:
        # The job left (a tombstone written over it, or its item removed): its last event, if it was one
        return _deleted(stream, old[0]) if old is not None and name != "INSERT" else None
    generation, body = new
    if old is not None and _visible(old[1]) == _visible(body):
        return None
    recorded = stream.get("ApproximateCreationDateTime")
    if isinstance(recorded, int | float) and not isinstance(recorded, bool):
        age = datetime.fromtimestamp(recorded, UTC) - generation.updated_at
        if age.total_seconds() > BACKFILL_SECONDS:
            return None
    channels = job_channels(generation.author_id, generation.organization)
    if not channels:
        return None  # unattributed: visible to nobody, pushed to nobody
    return Change(
        sequence_number=str(stream.get("SequenceNumber", "")),
        job_id=generation.job_id,
        channels=tuple(channels),
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    )


# What a person sees change (contract: status, progress; and a failure's error). Timings such as
# dispatched_at are in every body sent, but their change alone is bookkeeping: not worth an event.
VISIBLE = ("status", "progress", "error")


def _visible(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: body.get(key) for key in VISIBLE}


def _deleted(stream: Mapping[str, Any], generation: Generation) -> Change | None:
    """The `deleted` event of a job that left, to the channels its last state was published on; its time
    is the tombstone's (a delete), else the stream record's (an item removed)."""
    from mediagen.contract.payloads import DeletedEvent

    channels = job_channels(generation.author_id, generation.organization)
    if not channels:
        return None
    left = (stream.get("NewImage") or {}).get("updated_at", {}).get("S")
    recorded = stream.get("ApproximateCreationDateTime")
    if left:
        when = Generation.updated_at.deserialize(left)
    elif isinstance(recorded, int | float) and not isinstance(recorded, bool):
        when = datetime.fromtimestamp(recorded, UTC)
    else:
        when = datetime.now(UTC)
    body = DeletedEvent(job_id=generation.job_id, kind=generation.kind, updated_at=when)
    return Change(
        sequence_number=str(stream.get("SequenceNumber", "")),
        job_id=generation.job_id,
        channels=tuple(channels),
        body=json.dumps(body.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False),
    )


# No record is taken and no request started with less time left than this (ms): one request (three
# attempts of 2 s connect + 3 s read, 0.25 s of backoff: 15.25 s) could outlast the invocation, which
# would fail the whole batch.
RECORD_BUDGET_MS = 16_000


def publish_records(
    records: Iterable[Mapping[str, Any]], time_left_ms: Callable[[], int] | None = None
) -> str | None:
    """Publish the changes of a batch of stream records, in order on each channel; the sequence number
    of the first record that could not be published, or was not started for lack of time (Lambda
    retries from there: the records after it are published again, which the client's reconciliation
    absorbs), or None when all were.

    A channel's changes go out up to `events_api.MAX_EVENTS_PER_PUBLISH` in one request, in their
    order: under load a batch holds several changes of each person's jobs, and one request per change
    made the publisher the bottleneck of live progress (docs/performance.md, "A thousand jobs")."""
    waiting: dict[str, list[Change]] = {}  # per channel, the changes not yet published, in order

    def earliest_waiting(*also: Change) -> str:
        return min([*also, *(changes[0] for changes in waiting.values())], key=_position).sequence_number

    def flush(channel: str) -> str | None:
        """Publish a channel's waiting changes; the record to retry from when that fails or there is
        no time left for it."""
        if time_left_ms is not None and time_left_ms() < RECORD_BUDGET_MS:
            logger.warning("Live progress: out of time, the rest of the batch is retried")
            return earliest_waiting()
        changes = waiting[channel]
        try:
            events_api.publish(channel, [change.body for change in changes])
        except events_api.PublishFailed:
            logger.warning(
                "Live progress not published; the record is retried",
                extra={"correlation_id": changes[0].job_id, "sequence_number": changes[0].sequence_number},
            )
            return earliest_waiting()
        del waiting[channel]
        return None

    for record in records:
        change = change_of(record)
        if change is None:
            continue
        if time_left_ms is not None and time_left_ms() < RECORD_BUDGET_MS:
            logger.warning("Live progress: out of time, the rest of the batch is retried")
            return earliest_waiting(change)
        for channel in change.channels:
            waiting.setdefault(channel, []).append(change)
            if len(waiting[channel]) == events_api.MAX_EVENTS_PER_PUBLISH:
                failed = flush(channel)
                if failed is not None:
                    return failed
    for channel in sorted(waiting, key=lambda name: _position(waiting[name][0])):
        failed = flush(channel)
        if failed is not None:
            return failed
    return None


def _position(change: Change) -> tuple[int, str]:
    """A stream record's place in its shard: sequence numbers are decimal strings of growing length."""
    return len(change.sequence_number), change.sequence_number
