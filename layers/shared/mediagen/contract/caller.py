"""Who calls a user route: the token's user (`sub`) and active organization (`o.id` or `org_id`)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user_id: str
    organization_id: str | None
