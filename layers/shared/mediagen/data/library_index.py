"""The library indexes of the Generations table (library_author: a person's jobs; library_organization:
an organization's): their keys on a job created whole, ONE Query for a page of a library, and ONE Query
for a page of a person's jobs (their erasure).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.expressions.condition import Condition

from mediagen.contract.payloads import Kind
from mediagen.data.models import Generation, library_sort_key


def with_library_keys(job: Generation) -> Generation:
    """Set the library indexes' keys of a job being created whole (generate, migration): listed in
    its author's library when it has an author, and in its organization's when it has one too."""
    if job.author_id and not job.alias_of:
        job.library_sort = library_sort_key(job.kind, job.created_at, job.job_id)
        job.library_org = job.organization
    return job


# --- A page of a library ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryQueryPage:
    """One Query page of a library index: the jobs that passed the filters, newest first, and the sort
    key DynamoDB stopped at (None: the partition has nothing more)."""

    jobs: list[Generation]
    last_evaluated_sort: str | None


def library_page(
    *,
    partition: str,
    organization: bool,
    kind: Kind,
    after_sort: str | None,
    status: str | None,
    finished_after: datetime | None,
    evaluate: int,
) -> LibraryQueryPage:
    """ONE Query on a library index (a person's, or an organization's): `evaluate` entries at most,
    newest first, after `after_sort`; the status and expiry filters run on the server (they cost the
    entries evaluated, not extra requests). `finished_after`: the expiry cutoff (None: no retention)."""
    index = "library_organization" if organization else "library_author"
    hash_name = "library_org" if organization else "author_id"
    filters: list[Condition] = []
    if status is not None:
        filters.append(Generation.status == status)
    if finished_after is not None:
        filters.append(Generation.completed_at.does_not_exist() | (Generation.completed_at > finished_after))
    condition: Condition | None = None
    for part in filters:
        condition = part if condition is None else condition & part
    start = None
    if after_sort is not None:
        start = {
            "job_id": {"S": after_sort.rsplit("#", 1)[-1]},
            hash_name: {"S": partition},
            "library_sort": {"S": after_sort},
        }
    response = Generation._get_connection().query(
        partition,
        range_key_condition=Generation.library_sort.startswith(f"{kind}#"),
        filter_condition=condition,
        exclusive_start_key=start,
        index_name=index,
        limit=evaluate,
        scan_index_forward=False,
    )
    last = response.get("LastEvaluatedKey")
    return LibraryQueryPage(
        jobs=[Generation.from_raw_data(raw) for raw in response.get("Items", [])],
        last_evaluated_sort=last["library_sort"]["S"] if last else None,
    )


# --- A page of a person's jobs (their erasure) ------------------------------------------------------


@dataclass(frozen=True)
class AuthoredPage:
    """One Query page of a person's jobs (the library_author index, both kinds): each job with the
    attributes the index projects (its files among them), and where the next page starts (None: the
    last page)."""

    jobs: list[Generation]
    next_start: dict[str, Any] | None


def authored_jobs_page(user_id: str, start: dict[str, Any] | None, limit: int) -> AuthoredPage:
    """ONE Query of the person's jobs on the library_author index (every job they authored, in any
    organization, that is not a tombstone; aliases and unattributed jobs are not in it)."""
    response = Generation._get_connection().query(
        user_id, index_name="library_author", exclusive_start_key=start, limit=limit
    )
    return AuthoredPage(
        jobs=[Generation.from_raw_data(raw) for raw in response.get("Items", [])],
        next_start=response.get("LastEvaluatedKey"),
    )
