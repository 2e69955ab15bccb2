"""Live progress channels (AppSync Events): which channel carries whose jobs, and who may subscribe.

A channel is `/<namespace>/<segment>/...`; AppSync accepts segments of letters, digits and dashes, at
most 50 characters. Clerk ids (`user_2abc...`, `org_2xyz...`) hold an underscore, so an id becomes a
segment by this mapping (docs/architecture.md, "Live progress"):

- a Clerk-shaped id, `user_` or `org_` then letters and digits (at most 50 characters in all): the
  underscore becomes a dash (`user_2abc` -> `user-2abc`); Clerk ids hold no dash, so it is reversible;
- any other id: `sha-` and the first 46 hex digits of its SHA-256 (no Clerk-shaped id maps there).

A person's channel is `/jobs/users/<segment>`, an organization's `/jobs/orgs/<segment>`. A person may
subscribe to their own channel and to their active organization's, and to nothing else: no wildcard,
no other person's, no other organization's.
"""

import hashlib
import re

NAMESPACE = "jobs"
USER_CHANNEL_PATTERN = f"/{NAMESPACE}/users/{{user_id}}"
ORGANIZATION_CHANNEL_PATTERN = f"/{NAMESPACE}/orgs/{{organization_id}}"
MAX_SEGMENT = 50
_CLERK_ID = re.compile(r"^(user|org)_[A-Za-z0-9]+$")
# What AppSync accepts as a channel: a namespace and up to four more segments, `*` only as the last.
CHANNEL = re.compile(r"^(/[A-Za-z0-9-]{1,50}){1,5}(/\*)?$")


def segment(identifier: str) -> str:
    """The channel segment of a user or organization id (see the module's mapping)."""
    if len(identifier) <= MAX_SEGMENT and _CLERK_ID.fullmatch(identifier):
        return identifier.replace("_", "-")
    return "sha-" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()[: MAX_SEGMENT - 4]


def user_channel(user_id: str) -> str:
    return USER_CHANNEL_PATTERN.format(user_id=segment(user_id))


def organization_channel(organization_id: str) -> str:
    return ORGANIZATION_CHANNEL_PATTERN.format(organization_id=segment(organization_id))


def job_channels(author_id: str | None, organization_id: str | None) -> list[str]:
    """Where a job's changes are published: its author's channel and its organization's. A job with
    no author is published nowhere (it is visible to nobody)."""
    if not author_id:
        return []
    channels = [user_channel(author_id)]
    if organization_id:
        channels.append(organization_channel(organization_id))
    return channels


def may_subscribe(user_id: str, organization_id: str | None, channel: str) -> bool:
    """The exact channel of the person, or of their active organization; nothing else."""
    return channel in job_channels(user_id, organization_id)
