"""PynamoDB models of the two tables. Keys and indexes are defined in template.yaml; these models
must agree with it (tests create the tables from the template, so a drift fails them).

A generation embeds its files: a finished job is one item, written by one conditional update, so a
webhook with N files costs one write request whatever N is (well under the 400 KB item limit: at most
MAX_FILES entries of bounded size).
"""

import contextlib
import functools
import zlib
from datetime import UTC, datetime

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from mediagen.core.settings import settings

NO_ORGANIZATION = "-"  # never a Clerk organization id (they start with "org_")
IN_FLIGHT_SHARDS = 4


def in_flight_shard(job_id: str) -> str:
    """The in-flight index's partition of a job: spread over a few, so no single partition takes every
    in-flight write at scale; the sweeper queries each."""
    return str(zlib.crc32(job_id.encode()) % IN_FLIGHT_SHARDS)


REGION = settings().region
POOL_CONNECTIONS = 50  # a sandbox's threads (the library's file listing) share the one client


@functools.cache
def shared_connection(region: str, host: str | None = None) -> Connection:
    """The process's one PynamoDB connection, so one botocore client, for every table and the
    transactions. PynamoDB gives each model a connection of its own, each with a botocore session of
    its own that parses DynamoDB's service model again: five clients in a sandbox that touches the four
    tables and a transaction, ~10 MB and a client's creation each (docs/performance.md, "A thousand
    jobs": a sandbox grew 20 MB the first time a rarer path reached a table it had not used)."""
    return Connection(region=region, host=host, max_pool_connections=POOL_CONNECTIONS)


def forget_connections() -> None:
    """A new sandbox's state (the tests): the next request creates the client again."""
    shared_connection.cache_clear()
    for model in (Generation, Notification, UserJobsInFlight, ErasedPerson):
        model._connection = None


class OneClientModel(Model):
    """A model whose table connection sends through `shared_connection` (keyed by the model's region
    and endpoint, so a model pointed elsewhere, as `make migrate` does, gets a client of its own)."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = super()._get_connection()
        shared = shared_connection(table.connection.region, table.connection.host)
        if table.connection is not shared:
            # ValueError: another model class of the same table (or a reset model) added it already
            with contextlib.suppress(ValueError):
                shared.add_meta_table(table.connection.get_meta_table(table.table_name))
            table.connection = shared
        return table


class GeneratedFile(MapAttribute):
    """One file of a generation (the old ImageFile row)."""

    # Short stored names: a finished job with 4 files then fits in 1 KB, one write unit instead of two
    # (DynamoDB bills attribute names as bytes, in every file of every item).
    s3_key = UnicodeAttribute(attr_name="k")
    size_bytes = NumberAttribute(attr_name="b")
    format = UnicodeAttribute(attr_name="f")
    width = NumberAttribute(attr_name="w")
    height = NumberAttribute(attr_name="h")
    aspect_ratio = UnicodeAttribute(attr_name="a")
    description = UnicodeAttribute(null=True, attr_name="d")
    model = UnicodeAttribute(null=True, attr_name="m")
    generation_time_seconds = NumberAttribute(null=True, attr_name="t")
    # Videos only.
    duration_seconds = NumberAttribute(null=True, attr_name="s")
    fps = NumberAttribute(null=True, attr_name="r")
    thumbnail_key = UnicodeAttribute(null=True, attr_name="th")

    @property
    def file_name(self) -> str:
        """The old model's file name: the key's last segment (derived, not stored twice)."""
        return str(self.s3_key).rsplit("/", 1)[-1]


class InFlightIndex(GlobalSecondaryIndex["Generation"]):
    """Sparse: only queued and processing jobs carry `in_flight`, ordered by creation, so the sweeper
    finds stuck jobs with one Query per shard instead of a Scan. Keyed on the creation time, which never
    changes, so progress updates cost no index write (only the job's entry and exit do)."""

    class Meta:
        index_name = "in_flight"
        projection = IncludeProjection(["kind", "author_id", "source"])

    in_flight = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


# The library indexes' projection: what a list item shows (the status body, prompt, model, source,
# organization and the files for the preview URL). Not the dispatch lease or attempts: a dispatch claim
# writes no library index.
LIBRARY_PROJECTION = [
    "kind",
    "status",
    "progress",
    "error",
    "created_at",
    "updated_at",
    "dispatched_at",
    "completed_at",
    "prompt",
    "model",
    "source",
    "organization_id",
    "files",
]


def library_sort_key(kind: str, created_at: datetime, job_id: str) -> str:
    """The library indexes' sort key: kind first (one index serves both kinds with begins_with), then
    the creation time (fixed width, UTC: the string order is the time order), then the job id (ties)."""
    return f"{kind}#{created_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{job_id}"


class LibraryAuthorIndex(GlobalSecondaryIndex["Generation"]):
    """A person's jobs, newest first: sparse (only attributed jobs that are not deleted carry both
    keys; aliases carry no library_sort, unattributed jobs no author_id)."""

    class Meta:
        index_name = "library_author"
        projection = IncludeProjection(LIBRARY_PROJECTION)

    author_id = UnicodeAttribute(hash_key=True)
    library_sort = UnicodeAttribute(range_key=True)


class LibraryOrganizationIndex(GlobalSecondaryIndex["Generation"]):
    """An organization's jobs, newest first: only attributed jobs that have an organization carry
    library_org (always equal to organization_id), so private jobs cost this index nothing."""

    class Meta:
        index_name = "library_organization"
        # The author is this index's only extra: it is the other index's key, so projected there anyway.
        projection = IncludeProjection(["author_id", *LIBRARY_PROJECTION])

    library_org = UnicodeAttribute(hash_key=True)
    library_sort = UnicodeAttribute(range_key=True)


class Generation(OneClientModel):
    """A generation job (the old ImageGeneration / VideoGeneration rows), keyed by its one job id."""

    class Meta:
        table_name = settings().generations_table
        region = REGION
        max_pool_connections = POOL_CONNECTIONS

    job_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # image | video
    author_id = UnicodeAttribute(null=True)  # absent: unattributed, visible to nobody
    # Set once, by the write that creates the job (NO_ORGANIZATION when there is none), so a later
    # webhook cannot attach an organization to a private job and widen who sees it.
    organization_id = UnicodeAttribute(null=True)
    prompt = UnicodeAttribute(null=True)
    model = UnicodeAttribute(null=True)
    num_images = NumberAttribute(null=True)
    size = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # a JobStatus (`alias` on an alias item)
    progress = NumberAttribute(default=0)
    error = UnicodeAttribute(null=True)
    source = UnicodeAttribute()  # api | backend-direct
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute(null=True)  # when it reached a final state
    files = ListAttribute(of=GeneratedFile, null=True)
    duration_seconds = NumberAttribute(null=True)  # videos: the requested length
    # Dispatch to the generation backend (jobs created by POST .../generate).
    dispatch_attempts = NumberAttribute(null=True)
    dispatch_lease_until = UTCDateTimeAttribute(null=True)  # one dispatcher at a time per job
    dispatched_at = UTCDateTimeAttribute(null=True)  # the backend accepted the job
    backend_job_id = UnicodeAttribute(null=True)  # the old backend's own id, when it answers with one
    # An alias item (keyed by the old backend's own id) points at our job: its webhooks land there.
    alias_of = UnicodeAttribute(null=True)
    in_flight = UnicodeAttribute(null=True)  # its shard while queued or processing, absent once final
    # The library (docs/architecture.md, "A person's library"): the indexes' keys, set when the job is
    # created and removed when it is deleted.
    library_sort = UnicodeAttribute(null=True)
    library_org = UnicodeAttribute(null=True)
    # Other ids of the job (a merged double entry's old id): turned into tombstones with it.
    alias_ids = UnicodeSetAttribute(null=True)
    deleted_at = UTCDateTimeAttribute(null=True)  # on a tombstone (status `deleted`)
    # DynamoDB's time to live (epoch seconds), written when the job finishes while retention is set.
    expires_epoch = NumberAttribute(null=True)

    in_flight_jobs = InFlightIndex()
    library_by_author = LibraryAuthorIndex()
    library_by_organization = LibraryOrganizationIndex()

    @property
    def organization(self) -> str | None:
        """The job's organization, or None."""
        org = self.organization_id
        return None if org in (None, NO_ORGANIZATION) else org


class UnreadIndex(GlobalSecondaryIndex["Notification"]):
    class Meta:
        index_name = "unread"
        projection = AllProjection()

    unread_user_id = UnicodeAttribute(hash_key=True)
    notification_id = UnicodeAttribute(range_key=True)


class Notification(OneClientModel):
    """A user's notification. The sort key starts with the time so a Query gives newest first, and is
    derived from the job's own completion time so every retry computes the same key (created once)."""

    class Meta:
        table_name = settings().notifications_table
        region = REGION
        max_pool_connections = POOL_CONNECTIONS

    user_id = UnicodeAttribute(hash_key=True)
    notification_id = UnicodeAttribute(range_key=True)
    # Set (to user_id) only while unread: the sparse `unread` index lists and counts unread ones.
    unread_user_id = UnicodeAttribute(null=True)
    type = UnicodeAttribute()  # IMAGE_COMPLETED | IMAGE_FAILED | VIDEO_COMPLETED | VIDEO_FAILED
    title = UnicodeAttribute()
    message = UnicodeAttribute()
    read = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()
    generation_id = UnicodeAttribute()
    source = UnicodeAttribute()
    # A deleted job's notification tombstone (mediagen.data.notifications.tombstone_actions): its key
    # and these two only. It stays so that a webhook whose job write came before the delete cannot put
    # the notification back; lists skip it, the unread index never holds it, DynamoDB's TTL removes it.
    deleted_at = UTCDateTimeAttribute(null=True)
    expires_epoch = NumberAttribute(null=True)

    unread = UnreadIndex()


class UserJobsInFlight(OneClientModel):
    """A user's jobs in flight, whoever created them. Generate adds the id in the transaction that
    creates the job, under the condition that the set is below MaxJobsInFlightPerUser, so concurrent
    generates cannot pass it; a `processing` webhook that creates the job (or gives an unattributed one
    its author) adds it in the transaction of its write, without that condition (the backend already
    runs it: the next generate is refused instead). An id leaves the set once its job is final
    (released by the next generate that meets the cap, after reading the jobs: states only move
    forward)."""

    class Meta:
        table_name = settings().jobs_in_flight_table
        region = REGION
        max_pool_connections = POOL_CONNECTIONS

    user_id = UnicodeAttribute(hash_key=True)
    job_ids = UnicodeSetAttribute(null=True)


class ErasedPerson(OneClientModel):
    """A person erased after Clerk's `user.deleted` (or `make erase`): remembered only by a keyed hash
    of their Clerk id (mediagen.rules.erasure.person_hash), never the id itself, so that nothing can bring
    them back (a late webhook naming them, their own still-valid token) while the table says nothing
    about who they were to anyone without the stack's key."""

    class Meta:
        table_name = settings().erased_people_table
        region = REGION
        max_pool_connections = POOL_CONNECTIONS

    person_hash = UnicodeAttribute(hash_key=True)
    requested_at = UTCDateTimeAttribute()  # the first request (event or operator)
    completed_at = UTCDateTimeAttribute(null=True)  # the last erasure pass that found nothing left
    # What the erasure removed (numbers only: the report, without anything of the person).
    jobs_erased = NumberAttribute(default=0)
    files_removed = NumberAttribute(default=0)
    notifications_removed = NumberAttribute(default=0)
