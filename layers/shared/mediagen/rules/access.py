"""Who may see a generation (its views are mediagen.rules.views')."""

from mediagen.contract.caller import Caller
from mediagen.contract.payloads import JOB_ID_PATTERN, Kind
from mediagen.core.errors import NotFound
from mediagen.data.job_store import find
from mediagen.data.models import Generation
from mediagen.rules import retention


def can_see(caller: Caller, generation: Generation) -> bool:
    """The author, or a member of the generation's organization (active in the token). A job with no
    author is visible to nobody, organization or not: never a stranger."""
    if generation.author_id is None:
        return False
    if generation.author_id == caller.user_id:
        return True
    return caller.organization_id is not None and generation.organization == caller.organization_id


def visible_generation(caller: Caller, kind: Kind, job_id: str) -> Generation:
    """The generation, or the same 404 whether it does not exist or the caller may not see it."""
    if not JOB_ID_PATTERN.fullmatch(job_id):  # no such id can exist: same answer, no request
        raise NotFound(f"No {kind} generation {job_id[:64]}.")
    generation = find(job_id)
    if generation is not None and generation.alias_of:
        # Another id of the job (the old backend's own, or a merged double entry): its job answers,
        # to its own author. One hop: an alias names a job, never another alias.
        generation = find(generation.alias_of)
    if (
        generation is None
        or generation.kind != kind
        or generation.alias_of
        or not can_see(caller, generation)  # a tombstone (deleted job) has no author: nobody sees it
        or retention.expired(generation)  # past the retention period: as deleted
    ):
        raise NotFound(f"No {kind} generation {job_id}.")
    return generation
