"""The AppSync Events protocol on a socket, as AWS documents it ("Understanding the Event API WebSocket
protocol"), so that AWS's own client (aws-amplify's `events`) speaks it unchanged.

`connection_init` -> `connection_ack` (with `connectionTimeoutMs`), then `ka` every
`keepalive_seconds`; `subscribe` (id, channel, authorization) -> `subscribe_success` or
`subscribe_error`; `data` (id, event) for each event published to a subscribed channel (endpoint.py);
`unsubscribe` -> `unsubscribe_success` / `unsubscribe_error`; `publish` -> `publish_error` (only the
publisher's role may publish); anything else -> `error`. The connection's authorization comes in the
`header-<base64url JSON>` sub-protocol (upgrade.py); tokens are verified as AppSync verifies
OPENID_CONNECT tokens (signature, issuer, expiry), then each subscription is put to the namespace's
onSubscribe function (template.yaml), run in its sandbox, as AppSync does. A connection is closed
(`connection_error`, then 4401) when the first of its tokens expires and when its person is erased
(docs/architecture.md, "Live progress: token expiry and erasure").
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from local.emulator.events.limits import (
    MAX_ERRORS,
    MAX_REFUSALS,
    MAX_SOCKETS_PER_PERSON,
    MAX_SUBSCRIPTIONS,
    OUTBOX,
    EventsLimits,
)
from local.emulator.events.upgrade import auth_header

log = logging.getLogger("local-stack")

CONNECTION_TIMEOUT_MS = 300_000  # what connection_ack tells the client: the longest wait for a `ka`
# A connection is closed when a token it holds expires (the connection's, or a subscription's), and when
# its person is erased (docs/architecture.md, "Live progress: token expiry and erasure"): the error it gets
# first, then the close code of a refused connection_init.
EXPIRED = ("UnauthorizedException", "Token has expired.")
ERASED = ("UnauthorizedException", "This user no longer exists.")
UNAUTHORIZED_CLOSE = 4401

Authorize = Callable[[str, Mapping[str, Any], Mapping[str, str]], str | None]
VerifyToken = Callable[[str], Mapping[str, Any]]


class Refused(Exception):
    """A token or a request refused: the errorType and message AppSync would answer."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _bearer(authorization: Any) -> str:
    """The token of an authorization object (`Authorization`, as Amplify sends it for oidc)."""
    if not isinstance(authorization, dict):
        raise Refused("UnauthorizedException", "An authorization object is required.")
    token = authorization.get("Authorization") or authorization.get("authorization")
    if not isinstance(token, str) or not token.strip():
        raise Refused("UnauthorizedException", "An OPENID_CONNECT token is required.")
    token = token.strip()
    return token[7:].strip() if token.lower().startswith("bearer ") else token


@dataclass(eq=False)
class Session:
    """One WebSocket connection: its subscriptions, and an outbox written by one task, so that a slow
    client delays nobody else (it is closed when OUTBOX messages wait)."""

    socket: ServerConnection
    header: dict[str, Any] | None
    subscriptions: dict[str, str] = field(default_factory=dict)  # id -> channel
    initialized: bool = False
    refusals: int = 0
    person: str | None = None  # the token's issuer and subject, once connection_init verified it
    subject: str | None = None  # the token's subject alone: whose erasure closes this connection
    token_expiry: float = float("inf")  # the connection's token's `exp` (epoch seconds)
    subscription_expiry: dict[str, float] = field(default_factory=dict)  # id -> its token's `exp`
    expiry_changed: asyncio.Event = field(default_factory=asyncio.Event)
    ending: bool = False  # being closed (expired or erased): nothing more is sent to it
    written: asyncio.Event = field(default_factory=asyncio.Event)  # its writer has ended
    heard: float = field(default_factory=lambda: asyncio.get_running_loop().time())  # its last message
    errors: int = 0
    outbox: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(OUTBOX))

    def expires_at(self) -> float:
        """When the first of the tokens it holds expires: the connection's, or one of its subscriptions'."""
        return min([self.token_expiry, *self.subscription_expiry.values()])

    def send(self, message: dict[str, Any]) -> None:
        if self.ending:
            return
        try:
            self.outbox.put_nowait(json.dumps(message))
        except asyncio.QueueFull:
            log.warning("events: a client does not read its messages; it is disconnected")
            self.socket.transport.abort()

    async def write(self) -> None:
        try:
            while (text := await self.outbox.get()) is not None:
                await self.socket.send(text)
        finally:
            self.written.set()


def channel_matches(subscribed: str, published: str) -> bool:
    """A subscription's channel receives a publish to that channel, or below it for `/*`."""
    if subscribed.endswith("/*"):
        return published.startswith(subscribed[:-1])
    return subscribed == published


class EventsProtocol:
    """The sessions of the endpoint's sockets: each one's conversation, from `connection_init` to its
    close, and the sockets each person holds."""

    def __init__(
        self,
        *,
        namespaces: Collection[str],
        verify_token: VerifyToken,
        authorize: Authorize,
        limits: EventsLimits,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.namespaces = set(namespaces)
        self.verify_token = verify_token
        self.authorize = authorize
        self.limits = limits
        self._loop = loop
        self.sessions: set[Session] = set()
        self._people: dict[str, set[Session]] = {}  # the initialized sessions of each token's subject

    async def serve(self, socket_: ServerConnection) -> None:
        """One socket, from its upgrade to its close (the websockets server's handler)."""
        assert socket_.request is not None
        session = Session(socket_, auth_header(socket_.request))
        self.sessions.add(session)
        writer = asyncio.create_task(session.write())
        keepalive: asyncio.Task[None] | None = None
        expiry: asyncio.Task[None] | None = None
        try:
            try:
                first = await asyncio.wait_for(socket_.recv(), self.limits.init_seconds)
            except TimeoutError:
                await socket_.close(1008, "connection_init expected")
                return
            await self._handle(session, first)
            if not session.initialized:
                return
            keepalive = asyncio.create_task(self._keepalive(session))
            expiry = asyncio.create_task(self._expire(session))
            async for message in socket_:
                session.heard = asyncio.get_running_loop().time()
                if session.ending:
                    continue  # closing: what it still sends is not answered
                await self._handle(session, message)
                if session.refusals >= MAX_REFUSALS or session.errors >= MAX_ERRORS:
                    await asyncio.sleep(0.05)  # the last answer goes first
                    await socket_.close(1008, "too many refused or unreadable messages")
                    return
        except ConnectionClosed:
            pass
        finally:
            self.sessions.discard(session)
            if session.person is not None:
                held = self._people.get(session.person, set())
                held.discard(session)
                if not held:
                    self._people.pop(session.person, None)
            for task in (keepalive, expiry):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(asyncio.QueueFull):
                session.outbox.put_nowait(None)
            writer.cancel()

    async def _expire(self, session: Session) -> None:
        """Close the connection when the first of its tokens expires (a subscription with a token that
        expires sooner brings the close forward; its unsubscribe puts it back)."""
        while (left := session.expires_at() - time.time()) > 0:
            session.expiry_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.expiry_changed.wait(), left)
        self.end(session, EXPIRED, "token expired")

    async def _keepalive(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.limits.keepalive_seconds)
            session.send({"type": "ka"})

    async def _handle(self, session: Session, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await session.socket.close(1003, "text messages only")
            return
        try:
            document = json.loads(message)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("type"), str):
            session.errors += 1
            session.send(
                _error("error", None, "BadRequestException", "A message is a JSON object with a type.")
            )
            return
        kind = document["type"]
        message_id = document.get("id") if isinstance(document.get("id"), str) else None
        if kind == "connection_init":
            await self._init(session)
        elif not session.initialized:
            session.errors += 1
            session.send(_error("error", message_id, "BadRequestException", "connection_init comes first."))
        elif kind == "subscribe":
            await self._subscribe(session, document)
        elif kind == "unsubscribe":
            if message_id is not None and session.subscriptions.pop(message_id, None) is not None:
                session.subscription_expiry.pop(message_id, None)
                session.expiry_changed.set()
                session.send({"type": "unsubscribe_success", "id": message_id})
            else:
                session.errors += 1
                session.send(
                    _error("unsubscribe_error", message_id, "UnknownOperationError", "No such subscription.")
                )
        elif kind == "publish":
            session.refusals += 1
            session.send(
                _error(
                    "publish_error",
                    message_id,
                    "UnauthorizedException",
                    "Only the publisher's role (AWS_IAM) may publish to this namespace.",
                )
            )
        else:
            session.errors += 1
            session.send(
                _error("error", message_id, "UnsupportedOperation", f"Unknown message type {kind[:40]!r}.")
            )

    async def _init(self, session: Session) -> None:
        if session.initialized:
            session.errors += 1
            session.send(
                _error("error", None, "BadRequestException", "The connection is initialized already.")
            )
            return
        try:
            claims = await asyncio.to_thread(self.verify_token, _bearer(session.header))
        except Refused as refused:
            session.send(_error("connection_error", None, refused.error_type, refused.message))
            await asyncio.sleep(0.05)
            await session.socket.close(4401, "unauthorized")
            return
        person = f"{claims.get('iss')} {claims.get('sub')}"
        held = self._people.setdefault(person, set())
        if len(held) >= MAX_SOCKETS_PER_PERSON:
            log.info("events: %s holds %d sockets; one more refused", claims.get("sub"), len(held))
            message = f"At most {MAX_SOCKETS_PER_PERSON} open connections a user: close one first."
            session.send(_error("connection_error", None, "LimitExceededException", message))
            await asyncio.sleep(0.05)  # the answer goes first
            await session.socket.close(1008, "too many connections of this user")
            return
        held.add(session)
        session.person = person
        session.subject = str(claims.get("sub"))
        session.token_expiry = _expiry(claims)
        session.initialized = True
        session.send({"type": "connection_ack", "connectionTimeoutMs": CONNECTION_TIMEOUT_MS})

    async def _subscribe(self, session: Session, document: Mapping[str, Any]) -> None:
        message_id, channel = document.get("id"), document.get("channel")
        if not isinstance(message_id, str) or not 0 < len(message_id) <= 128:
            session.errors += 1
            session.send(
                _error("subscribe_error", None, "BadRequestException", "A subscription needs an id.")
            )
            return
        from mediagen.contract.channels import CHANNEL

        try:
            if not isinstance(channel, str) or not CHANNEL.fullmatch(channel):
                raise Refused("BadRequestException", "The channel is not a valid channel path.")
            if channel.split("/")[1] not in self.namespaces:
                raise Refused("BadRequestException", "No such channel namespace.")
            if message_id in session.subscriptions:
                raise Refused("BadRequestException", "A subscription with this id exists.")
            if len(session.subscriptions) >= MAX_SUBSCRIPTIONS:
                raise Refused(
                    "LimitExceededException", f"At most {MAX_SUBSCRIPTIONS} subscriptions a connection."
                )
            token = _bearer(document.get("authorization"))
            claims = await asyncio.to_thread(self.verify_token, token)
            headers = {k: v for k, v in (document.get("authorization") or {}).items() if isinstance(v, str)}
            refusal = await asyncio.to_thread(self.authorize, channel, claims, headers)
            if refusal is not None:
                raise Refused("UnauthorizedException", refusal)
        except Refused as refused:
            session.refusals += 1
            session.send(_error("subscribe_error", message_id, refused.error_type, refused.message))
            return
        session.subscriptions[message_id] = channel
        session.subscription_expiry[message_id] = _expiry(claims)
        session.expiry_changed.set()
        session.send({"type": "subscribe_success", "id": message_id})

    def end(self, session: Session, error: tuple[str, str], reason: str) -> None:
        """The error, then the close; nothing else is sent to it from now on."""
        if session.ending:
            return
        session.send(_error("connection_error", None, *error))
        session.ending = True
        session.subscriptions.clear()
        with contextlib.suppress(asyncio.QueueFull):
            session.outbox.put_nowait(None)  # the writer ends after the error...
        self._loop.create_task(self._close_after_writes(session, reason))

    async def _close_after_writes(self, session: Session, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.written.wait(), 2)
        with contextlib.suppress(Exception):  # ...then the close (a socket gone already is fine)
            await session.socket.close(UNAUTHORIZED_CLOSE, reason)


def _expiry(claims: Mapping[str, Any]) -> float:
    """A verified token's `exp` (the verifier requires it), in epoch seconds."""
    expiry = claims.get("exp")
    return float(expiry) if isinstance(expiry, int | float) else float("inf")


def _error(kind: str, message_id: str | None, error_type: str, message: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"type": kind, "errors": [{"errorType": error_type, "message": message}]}
    if message_id is not None:
        answer["id"] = message_id[:128]
    return answer
