"""POST /api/webhooks/clerk: Clerk's account events, signed by Svix, from the raw HTTP event to the answer.

Checks first, in order, nothing written before the last: size, UTF-8, the Svix signature (Standard
Webhooks under `svix-*` names; the `webhook-*` names too) over the raw bytes against every active secret
with a 5-minute tolerance, content type, strict JSON, the event's envelope. Then `user.deleted` records
the erasure (one conditional PutItem of the person's keyed hash) and queues it (one SendMessage): the
answer comes in well under Svix's 15 s, and the erasure itself runs in the worker. A redelivery finds
the record and changes nothing. Every other event type is acknowledged and nothing is stored.
"""

from typing import Any

from pydantic import ValidationError

from mediagen.contract.payloads import CLERK_USER_DELETED, ClerkAnswer, ClerkDeletedUser, ClerkEvent
from mediagen.core.errors import InvalidPayload, MalformedRequest, NotAuthenticated
from mediagen.core.observability import MetricName, bind, count, logger
from mediagen.edge.api import headers_of, parse_json_body, raw_body, require_json_content
from mediagen.edge.webhook_signature import clerk_secrets, verify_delivery
from mediagen.rules.erasure import person_hash, request_erasure

# Clerk's user events carry the user object (metadata included, 8 KB each at most): well under this.
MAX_CLERK_EVENT_BYTES = 256 * 1024
# Clerk's type names are short ("organizationMembership.deleted"): a longer one is logged cut to this.
EVENT_TYPE_LOGGED = 128


def receive_clerk_event(event: Any) -> ClerkAnswer:
    headers = headers_of(event)
    body = raw_body(event, MAX_CLERK_EVENT_BYTES)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("The body is not valid UTF-8.", code="malformed_json") from exc
    try:
        event_id = verify_delivery(body, headers, clerk_secrets())
    except NotAuthenticated as exc:
        count(MetricName.SIGNATURE_REJECTED)
        logger.warning("Clerk event signature rejected", extra={"reason": exc.message})
        raise
    bind(webhook_id=event_id)
    require_json_content(headers)
    clerk_event = parse_json_body(body, ClerkEvent)
    if clerk_event.type != CLERK_USER_DELETED:
        count(MetricName.CLERK_EVENT_IGNORED)
        logger.info("Clerk event ignored", extra={"event_type": clerk_event.type[:EVENT_TYPE_LOGGED]})
        return ClerkAnswer(event_id=event_id, type=clerk_event.type, outcome="ignored")
    user_id = deleted_user_id(clerk_event)
    bind(person_hash=person_hash(user_id))  # never the id itself in the logs
    recorded = request_erasure(user_id)
    return ClerkAnswer(
        event_id=event_id, type=clerk_event.type, outcome="erasing" if recorded else "duplicate"
    )


def deleted_user_id(clerk_event: ClerkEvent) -> str:
    """The Clerk id of `user.deleted`; an event without a usable one erases nobody (422)."""
    try:
        return ClerkDeletedUser.model_validate(clerk_event.data).id
    except ValidationError as exc:
        raise InvalidPayload(
            "user.deleted needs data.id, the Clerk user id.", code="validation_error"
        ) from exc
