"""A job's whole life on the live progress channels, as a raw AppSync Events client receives it from
the local service (contract, end of "Live progress"): events only when what a person sees changes (no
second `queued` for the dispatch, no repeat), at most 7 a channel from generate to completed with three
progress steps; and a job that leaves the library (deleted, erased with its person) gets one last
`deleted` event on each channel that carried it."""

import json
import time
import uuid
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from svix.webhooks import Webhook as SvixWebhook
from websockets.sync.client import ClientConnection

from tests.e2e.conftest import LocalService, json_of, own_keys, run_service
from tests.e2e.test_live_progress import channel_of, deliver, initialized, receive, subscribe
from tests.support import TokenMinter

pytestmark = pytest.mark.e2e
MAX_EVENTS_PER_CHANNEL = 7  # the contract's bound for generate, 3 progress steps, completed
# Each event comes within seconds of its write (the stream's poll); 60 s bounds a loaded 2-core machine.
EVENT_SECONDS = 60


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    """Jobs wait for the webhooks the test sends (the stand-in dispatch target still takes them)."""
    yield from run_service(tmp_path_factory.mktemp("lifecycle"), LOCAL_GENERATOR="off", **own_keys(jwks_file))


@pytest.fixture(scope="module")
def events(service: LocalService) -> dict[str, Any]:
    info: dict[str, Any] = service.info()["events"]
    return info


def organization_channel(org: str) -> str:
    return f"/jobs/orgs/{org.replace('_', '-')}"


# Events a socket received for other jobs than the one a test was waiting for, kept for its next wait:
# the stream is ordered per item, not across items (an erasure's `deleted` may come before or after a
# colleague's webhook sent after it), and a dropped event would be waited for in vain.
_held: "weakref.WeakKeyDictionary[ClientConnection, list[dict[str, Any]]]" = weakref.WeakKeyDictionary()


def events_of(ws: ClientConnection, job_id: str, last: str) -> list[dict[str, Any]]:
    """The job's events on this socket, in order, up to its `last` status (the stream is ordered per
    item: every event of the job before it has arrived by then)."""
    held = _held.setdefault(ws, [])
    seen = [event for event in held if event["job_id"] == job_id]
    held[:] = [event for event in held if event["job_id"] != job_id]
    cut = next((i for i, event in enumerate(seen) if event["status"] == last), None)
    if cut is not None:
        held[:0] = seen[cut + 1 :]
        return seen[: cut + 1]
    deadline = time.monotonic() + EVENT_SECONDS
    while not seen or seen[-1]["status"] != last:
        message = receive(ws, timeout=max(0.01, deadline - time.monotonic()))
        assert message["type"] == "data", message
        event = json.loads(message["event"])
        (seen if event["job_id"] == job_id else held).append(event)
    return seen


def listening(events: dict[str, Any], minter: TokenMinter, user: str, org: str) -> tuple[Any, Any]:
    """Two sockets of `user`: their own channel, and their organization's."""
    token = minter.token(user, org=org)
    own, shared = initialized(events, token), initialized(events, token)
    assert subscribe(own, events, channel_of(events, user), token)["type"] == "subscribe_success"
    assert subscribe(shared, events, organization_channel(org), token)["type"] == "subscribe_success"
    return own, shared


def test_a_jobs_life_publishes_what_changes_then_deleted(
    service: LocalService, events: dict[str, Any], minter: TokenMinter
) -> None:
    user, org = f"user_life{uuid.uuid4().hex[:6]}", f"org_life{uuid.uuid4().hex[:6]}"
    headers = minter.auth(user, org=org)
    own, shared = listening(events, minter, user, org)
    with own, shared:
        # Generate (queued, then dispatched), three progress steps, completed; then the author deletes it
        job_id = f"job_life_{uuid.uuid4().hex[:8]}"
        answer = requests.post(
            f"{service.base}/api/images/generate",
            json={"prompt": "Un phare", "job_id": job_id},
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        deadline = time.monotonic() + EVENT_SECONDS
        while (
            json_of(requests.get(f"{service.base}/api/images/{job_id}/status", headers=headers, timeout=10))[
                "dispatched_at"
            ]
            is None
        ):
            assert time.monotonic() < deadline, "the job was not dispatched"
            time.sleep(0.2)
        for progress in (20, 50, 80):
            deliver(service, job_id, user, status="processing", progress=progress)
        deliver(service, job_id, user)
        deleted = requests.delete(f"{service.base}/api/images/{job_id}", headers=headers, timeout=10)
        assert deleted.status_code == 200, deleted.text

        # Then each channel got each visible change once (no second `queued` for the dispatch), then
        # `deleted` and nothing in between: 6 events, within the bound
        for ws in (own, shared):
            seen = events_of(ws, job_id, "completed")
            assert [(e["status"], e["progress"]) for e in seen] == [
                ("queued", 0),
                ("processing", 20),
                ("processing", 50),
                ("processing", 80),
                ("completed", 100),
            ]
            seen += events_of(ws, job_id, "deleted")
            assert [e["status"] for e in seen[5:]] == ["deleted"]
            assert len(seen) <= MAX_EVENTS_PER_CHANNEL
            assert set(seen[-1]) == {"job_id", "kind", "status", "updated_at"}
            assert seen[-1]["kind"] == "image"
            assert datetime.fromisoformat(seen[-1]["updated_at"]) >= datetime.fromisoformat(
                seen[-2]["updated_at"]
            )


def test_an_erased_persons_job_in_flight_gets_its_deleted_event(
    service: LocalService, events: dict[str, Any], minter: TokenMinter
) -> None:
    """A colleague's screen shows the person's job in progress on the organization's channel: the
    person's erasure drops it there with `deleted`, instead of leaving it at 30 % forever."""
    person, colleague = f"user_gone{uuid.uuid4().hex[:6]}", f"user_stay{uuid.uuid4().hex[:6]}"
    org = f"org_erase{uuid.uuid4().hex[:6]}"
    token = minter.token(colleague, org=org)
    with initialized(events, token) as shared:
        assert subscribe(shared, events, organization_channel(org), token)["type"] == "subscribe_success"
        job_id = f"job_gone_{uuid.uuid4().hex[:8]}"
        deliver(service, job_id, person, status="processing", progress=30, organization_id=org)
        assert [e["status"] for e in events_of(shared, job_id, "processing")] == ["processing"]

        secret = _clerk_secret(service)
        body = json.dumps(
            {"type": "user.deleted", "object": "event", "data": {"id": person, "deleted": True}}
        )
        message_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
        answer = requests.post(
            f"{service.base}/api/webhooks/clerk",
            data=body.encode(),
            headers={
                "content-type": "application/json",
                "svix-id": message_id,
                "svix-timestamp": str(int(now.timestamp())),
                "svix-signature": SvixWebhook(secret).sign(message_id, now, body),
            },
            timeout=15,
        )
        assert (answer.status_code, json_of(answer)["outcome"]) == (200, "erasing")

        last = events_of(shared, job_id, "deleted")[-1]
        assert (last["job_id"], last["kind"], last["status"]) == (job_id, "image", "deleted")


def _clerk_secret(service: LocalService) -> str:
    import re

    match = re.search(r"clerk secret:\s+(whsec_\S+)\s+\(development secret", service.log.read_text())
    assert match, service.output()
    return match.group(1)


# --- Closed sockets: an expired token, an erased person ---------------------------------------------
# (docs/architecture.md, "Live progress: token expiry and erasure")

# A short token: long enough for connection_init and subscribe once the onSubscribe sandbox is warm (a
# few ms each quiet; the warm-up below takes the cold start out of it), short enough for a test.
SHORT_TOKEN_SECONDS = 10
# The close comes at the token's `exp` (a timer of the endpoint), or at the erasure's next look
# (LOCAL: every 2 s) or first publish; 60 s past that is a loaded 2-core machine's event loop at its worst.
CLOSE_SECONDS = 60


def closed_with(ws: ClientConnection, message: str) -> None:
    """The socket's next message (its `ka` aside) is the connection_error `message`, then its close:
    nothing published after the reason for the close reaches it."""
    from websockets.exceptions import ConnectionClosed

    error = receive(ws, timeout=CLOSE_SECONDS)
    assert error == {
        "type": "connection_error",
        "errors": [{"errorType": "UnauthorizedException", "message": message}],
    }, error
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            extra = receive(ws, timeout=CLOSE_SECONDS)
            assert extra["type"] == "ka", extra  # nothing else after the error
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, closed.value


def test_a_socket_is_closed_when_a_token_it_holds_expires(
    service: LocalService, events: dict[str, Any], minter: TokenMinter
) -> None:
    """The issue's case: a subscription made with a short token kept receiving after it expired. Now
    the connection is closed at the `exp` of the first of its tokens to expire: the connection's own
    (`both_short`), or a subscription's (`subscription_short`), while one with tokens still valid
    (`valid`) keeps receiving."""
    user = f"user_exp{uuid.uuid4().hex[:6]}"
    channel = channel_of(events, user)
    lasting = minter.token(user)
    with initialized(events, lasting) as valid:
        assert subscribe(valid, events, channel, lasting)["type"] == "subscribe_success"  # a warm sandbox
        short = minter.token(user, expires_in=SHORT_TOKEN_SECONDS)
        expires_at = time.time() + SHORT_TOKEN_SECONDS
        with initialized(events, short) as both_short, initialized(events, lasting) as subscription_short:
            assert subscribe(both_short, events, channel, short)["type"] == "subscribe_success"
            assert subscribe(subscription_short, events, channel, short)["type"] == "subscribe_success"
            while time.time() < expires_at + 1:  # the tokens' `exp` is behind us (1 s: its rounding)
                time.sleep(0.2)
            job_id = f"job_exp_{uuid.uuid4().hex[:8]}"
            deliver(service, job_id, user, status="processing", progress=40)

            assert [e["status"] for e in events_of(valid, job_id, "processing")] == ["processing"]
            for ws in (both_short, subscription_short):
                closed_with(ws, "Token has expired.")


def test_an_erased_persons_sockets_are_closed_and_get_nothing_more(
    service: LocalService, events: dict[str, Any], minter: TokenMinter
) -> None:
    """The issue's case: after `user.deleted`, the person's organization-channel subscription kept
    receiving the organization's job updates. Now their sockets get a connection_error and are closed,
    and nothing published after the erasure reaches them (their own job's `deleted`, a colleague's
    job), while the colleague's socket gets both."""
    person, colleague = f"user_gone{uuid.uuid4().hex[:6]}", f"user_stay{uuid.uuid4().hex[:6]}"
    org = f"org_erase{uuid.uuid4().hex[:6]}"
    theirs = minter.token(person, org=org)
    ours = minter.token(colleague, org=org)
    with initialized(events, theirs) as erased, initialized(events, ours) as shared:
        subscriptions: set[str] = set()
        for channel in (organization_channel(org), channel_of(events, person)):
            answer = subscribe(erased, events, channel, theirs)
            assert answer["type"] == "subscribe_success", answer
            subscriptions.add(answer["id"])
        assert subscribe(shared, events, organization_channel(org), ours)["type"] == "subscribe_success"
        their_job = f"job_gone_{uuid.uuid4().hex[:8]}"
        deliver(service, their_job, person, status="processing", progress=30, organization_id=org)
        # Before: the colleague sees it, and the person too, on both their channels
        assert [e["status"] for e in events_of(shared, their_job, "processing")] == ["processing"]
        reached: set[str] = set()
        deadline = time.monotonic() + EVENT_SECONDS
        while reached != subscriptions:
            message = receive(erased, timeout=max(0.01, deadline - time.monotonic()))
            assert message["type"] == "data", message
            reached.add(message["id"])

        _send_user_deleted(service, person)
        our_job = f"job_stay_{uuid.uuid4().hex[:8]}"
        deliver(service, our_job, colleague, status="processing", progress=10, organization_id=org)

        assert [e["status"] for e in events_of(shared, our_job, "processing")] == ["processing"]
        assert events_of(shared, their_job, "deleted")[-1]["status"] == "deleted"
        closed_with(erased, "This user no longer exists.")


def _send_user_deleted(service: LocalService, person: str) -> None:
    secret = _clerk_secret(service)
    body = json.dumps({"type": "user.deleted", "object": "event", "data": {"id": person, "deleted": True}})
    message_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    answer = requests.post(
        f"{service.base}/api/webhooks/clerk",
        data=body.encode(),
        headers={
            "content-type": "application/json",
            "svix-id": message_id,
            "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": SvixWebhook(secret).sign(message_id, now, body),
        },
        timeout=15,
    )
    assert (answer.status_code, json_of(answer)["outcome"]) == (200, "erasing")
