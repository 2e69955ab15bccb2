"""The local service's AppSync Events endpoint: live progress on one machine, spoken as AWS documents it
("Understanding the Event API WebSocket protocol"), so that AWS's own client (aws-amplify's `events`)
connects to it unchanged.

One TLS port (Amplify always connects with wss://), with a certificate made here and kept in .local/:

- `GET /event/realtime` with `Upgrade: websocket`: the real-time endpoint. The WebSocket itself is the
  `websockets` library's (handshake, frames, ping, close, the message size bound): requests that ask
  for it are handed, bytes unchanged, to its server on a private Unix socket.
- `POST /event`: the HTTP publish endpoint, `{"channel": ..., "events": [<JSON text>, ...]}`, signed
  with SigV4 (service `appsync`) by the local credentials: the publisher function's request.
- Anything else: the contract's JSON refusals. HTTP is read with h11 (a real HTTP/1.1 parser), with
  the request head and body bounded, and idle connections closed.

The protocol on the socket: `connection_init` -> `connection_ack` (with `connectionTimeoutMs`), then
`ka` every `keepalive_seconds`; `subscribe` (id, channel, authorization) -> `subscribe_success` or
`subscribe_error`; `data` (id, event) for each event published to a subscribed channel;
`unsubscribe` -> `unsubscribe_success` / `unsubscribe_error`; `publish` -> `publish_error` (only the
publisher's role may publish); anything else -> `error`. The connection's authorization comes in the
`header-<base64url JSON>` sub-protocol, next to `aws-appsync-event-ws`; tokens are verified as AppSync
verifies OPENID_CONNECT tokens (signature, issuer, expiry), then each subscription is put to the
namespace's onSubscribe function (template.yaml), run in its sandbox, as AppSync does. A connection is
closed (`connection_error`, then 4401) when the first of its tokens expires and when its person is erased
(docs/architecture.md, "Live progress: token expiry and erasure").
"""

import asyncio
import base64
import binascii
import contextlib
import datetime
import hmac
import http
import ipaddress
import json
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
from websockets.asyncio.server import ServerConnection, unix_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

log = logging.getLogger("local-stack")

PROTOCOL = "aws-appsync-event-ws"
REALTIME_PATH = "/event/realtime"
PUBLISH_PATH = "/event"
AUTH_MODE = "oidc"  # Amplify's name for OPENID_CONNECT
MAX_HEAD_BYTES = 16 * 1024
MAX_PUBLISH_BYTES = 1_300_000  # 5 events of AppSync's 240 KB, and the envelope
MAX_MESSAGE_BYTES = 240 * 1024  # AppSync Events: a WebSocket message
MAX_EVENTS_PER_PUBLISH = 5
MAX_SUBSCRIPTIONS = 100  # per connection
MAX_REFUSALS = 50  # refused subscriptions on one connection before it is closed
MAX_ERRORS = 20  # unreadable or unknown messages on one connection before it is closed
OUTBOX = 1000  # messages waiting for a slow client before it is closed
MAX_CONNECTIONS = 1000  # past this, the quietest connection is closed (`_make_room`)
# Open sockets of one person (the verified token's `sub`, not the token itself: a browser's Clerk token
# changes every minute, and anyone may mint fresh ones). AppSync documents no such quota, only 100
# subscriptions a connection; Amplify's events client keeps one WebSocket per page for all its
# channels, so 20 is more tabs and devices than a person keeps open with live progress, and one
# person's flood holds 2 % of the budget instead of all of it (issue 30: one token's 1,000 sockets
# locked every other client out).
MAX_SOCKETS_PER_PERSON = 20
# A connection or socket this young is closed to make room only when nothing older can be: its request
# or its connection_init may be on its way (a TLS handshake and an upgrade on a loaded laptop).
GRACE_SECONDS = 2.0
HEAD_SECONDS = 5.0  # a request head complete within this of its first byte (the waitress ports' rule)
STOP_SECONDS = 3.0  # the endpoint's share of the service's stop: its tasks end within this
CONNECTION_TIMEOUT_MS = 300_000  # what connection_ack tells the client: the longest wait for a `ka`
# A connection is closed when a token it holds expires (the connection's, or a subscription's), and when
# its person is erased (docs/architecture.md, "Live progress: token expiry and erasure"): the error it gets
# first, then the close code of a refused connection_init.
EXPIRED = ("UnauthorizedException", "Token has expired.")
ERASED = ("UnauthorizedException", "This user no longer exists.")
UNAUTHORIZED_CLOSE = 4401

Authorize = Callable[[str, Mapping[str, Any], Mapping[str, str]], str | None]
VerifyToken = Callable[[str], Mapping[str, Any]]
IsErased = Callable[[str], bool]  # a token's subject (a Clerk user id) -> erased (ErasedPeople)


class Refused(Exception):
    """A token or a request refused: the errorType and message AppSync would answer."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class EventsLimits:
    idle_seconds: float = 30.0  # an HTTP connection with no request for this long is closed
    init_seconds: float = 10.0  # a socket that sends no connection_init in this time is closed
    keepalive_seconds: float = 60.0  # between two `ka`
    erasure_seconds: float = 2.0  # between two looks for the erased people among those connected


# --- The certificate ------------------------------------------------------------------------------


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (and its key), made once and kept in
    `directory`; made again when it is within 30 days of its end."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = directory / "events-cert.pem", directory / "events-key.pem"
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.exists() and key_path.exists():
        with contextlib.suppress(ValueError):
            existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if existing.not_valid_after_utc - now > datetime.timedelta(days=30):
                return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mediagen local events")])
    made = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(made.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


# --- SigV4 (the publisher's requests) ----------------------------------------------------------------


def sigv4_problem(
    method: str, url: str, headers: Mapping[str, str], body: bytes, access_key: str, secret_key: str
) -> str | None:
    """Why a request is not signed by (access_key, secret_key) for service appsync, or None: the
    signature is computed again over the headers it names, with botocore's signer."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = headers.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return "the request is not signed (AWS_IAM)"
    parts = dict(part.strip().split("=", 1) for part in authorization[17:].split(",") if "=" in part.strip())
    scope = parts.get("Credential", "").split("/")
    signed = [name for name in parts.get("SignedHeaders", "").split(";") if name]
    amz_date = headers.get("x-amz-date", "")
    if len(scope) != 5 or scope[3] != "appsync" or scope[0] != access_key or "host" not in signed:
        return "the signature's credential is not the local publisher's"
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return "x-amz-date is missing or malformed"
    if abs((datetime.datetime.now(datetime.UTC) - signed_at).total_seconds()) > 300:
        return "the signature is more than 5 minutes old"
    token = headers.get("x-amz-security-token")
    request = AWSRequest(method=method, url=url, data=body, headers={n: headers.get(n, "") for n in signed})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key, token), "appsync", scope[2])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        return "the signature does not match"
    return None


# --- The WebSocket protocol ----------------------------------------------------------------------------


def _auth_header(request: WsRequest) -> dict[str, Any] | None:
    """The authorization object of the `header-<base64url JSON>` sub-protocol, or None."""
    offered = [
        p.strip() for value in request.headers.get_all("Sec-WebSocket-Protocol") for p in value.split(",")
    ]
    for protocol in offered:
        if protocol.startswith("header-"):
            encoded = protocol[7:]
            try:
                decoded = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return None
            return decoded if isinstance(decoded, dict) else None
    return None


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


class LocalEvents:
    """The endpoint, bound at construction (so its port is known), served by `start()` in a thread with
    its own event loop until `close()`."""

    def __init__(
        self,
        port: int,
        *,
        namespaces: Collection[str],
        verify_token: VerifyToken,
        authorize: Authorize,
        allowed_origins: Callable[[], Collection[str]],
        credentials: tuple[str, str],
        region: str,
        directory: Path,
        limits: EventsLimits | None = None,
        is_erased: IsErased | None = None,
    ) -> None:
        self.namespaces = set(namespaces)
        self.verify_token = verify_token
        self.authorize = authorize
        self.is_erased = is_erased
        self._erased: set[str] = set()  # the subjects found erased (an erasure is never undone)
        # Publishes are delivered one at a time, in the order they came (an asyncio.Lock wakes its
        # waiters in order): the look for erased subscribers of one must not let a later one pass it.
        self._delivering = asyncio.Lock()
        self.allowed_origins = allowed_origins
        self.credentials = credentials
        self.region = region
        self.limits = limits or EventsLimits()
        self.certificate, self._key = certificate(directory)
        self._listener = socket.create_server(("127.0.0.1", port), backlog=512)
        self.port: int = self._listener.getsockname()[1]
        self._socket_dir = tempfile.mkdtemp(prefix="mediagen-events-")
        self._unix_path = os.path.join(self._socket_dir, "ws.sock")
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._sessions: set[Session] = set()
        self._people: dict[str, set[Session]] = {}  # the initialized sessions of each token's subject
        self._connections = 0
        self._quiet: dict[asyncio.StreamWriter, float] = {}  # connections waiting for a request: since
        self._servers: list[Any] = []
        self._tls: Any = None  # the TLS port's server (stopped and started again by `restart`)
        self._watcher: asyncio.Task[None] | None = None  # `_watch_erasures`
        self.published = 0

    # --- what the service says about it ---------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}{PUBLISH_PATH}"

    def info(self, channel: str, organization_channel: str) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "realtime": f"wss://127.0.0.1:{self.port}{REALTIME_PATH}",
            "region": self.region,
            "auth_mode": AUTH_MODE,
            "channel": channel,
            "organization_channel": organization_channel,
            "channel_ids": "a Clerk id with its _ as - (user_2abc -> user-2abc); any other id: sha- and "
            "46 hex digits of its SHA-256",
            "certificate": str(self.certificate),
        }

    # --- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="events", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the events endpoint did not start")

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        ready.set()
        self._loop.run_forever()
        # Stopped by `close` once every task had ended: nothing pending is left to the collector
        # ("Task was destroyed but it is pending!", "coroutine ... was never awaited").
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        with contextlib.suppress(TimeoutError):  # a token check under way in its thread
            self._loop.run_until_complete(asyncio.wait_for(self._loop.shutdown_default_executor(), 2))
        self._loop.close()

    async def _serve(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate, self._key)
        self._ssl = context
        self._servers.append(
            await unix_serve(
                self._session,
                self._unix_path,
                subprotocols=[PROTOCOL],
                select_subprotocol=self._select_subprotocol,
                process_request=self._process_handshake,
                create_connection=_JsonRefusalsConnection,
                max_size=MAX_MESSAGE_BYTES,
                max_queue=16,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
                server_header=None,
            )
        )
        await self._listen()
        if self.is_erased is not None:
            self._watcher = asyncio.create_task(self._watch_erasures())

    async def _listen(self) -> None:
        self._tls = await asyncio.start_server(
            self._connection,
            sock=self._listener.dup(),
            ssl=self._ssl,
            ssl_handshake_timeout=self.limits.init_seconds,
            limit=64 * 1024,
        )

    def close(self) -> None:
        if self._thread is None:
            self._listener.close()
            return

        async def stop() -> None:
            """Stop accepting, drop every socket, then wait for the servers' own close (websockets'
            `close` is a task of its own) and end every task still running: stopping the loop with
            them pending made every stop of `make run` look like a crash in its log."""
            servers = [server for server in [*self._servers, self._tls] if server is not None]
            for server in servers:
                server.close()
            for session in list(self._sessions):
                session.socket.transport.abort()
            this = asyncio.current_task()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_SECONDS):
                    closing = {getattr(server, "close_task", None) for server in servers}
                    tasks = [task for task in asyncio.all_tasks() if task is not this]
                    for task in tasks:
                        if task not in closing:
                            task.cancel()  # connections and sessions: their sockets are gone
                    await asyncio.gather(*tasks, return_exceptions=True)
                    await asyncio.gather(*(s.wait_closed() for s in servers), return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), self._loop)
        self._thread.join(timeout=STOP_SECONDS + 3)
        self._listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self._unix_path)
            os.rmdir(self._socket_dir)

    def restart(self, down_seconds: float) -> None:
        """Stop the endpoint now (every socket dropped, the port closed: connections are refused) and
        start it again on the same port after `down_seconds`: what a browser sees when the endpoint
        restarts mid-job. Returns once it is down."""

        async def stop_then_start() -> None:
            if self._tls is not None:
                self._tls.close()
                self._tls = None
            self._listener.close()
            for session in list(self._sessions):
                session.socket.transport.abort()
            down.set()
            await asyncio.sleep(down_seconds)
            self._listener = socket.create_server(("127.0.0.1", self.port), backlog=512)
            await self._listen()
            log.info("events: the endpoint is back on port %d", self.port)

        down = threading.Event()
        asyncio.run_coroutine_threadsafe(stop_then_start(), self._loop)
        if not down.wait(5):
            raise RuntimeError("the events endpoint did not stop")

    def publish(self, channel: str, events: list[str]) -> int:
        """Deliver events to the subscribers of `channel` (from any thread); how many messages went."""
        return asyncio.run_coroutine_threadsafe(self._deliver(channel, events), self._loop).result(timeout=5)

    async def _deliver(self, channel: str, events: list[str]) -> int:
        """Send `events` to each subscription of `channel`, except to a connection whose token has
        expired or whose person is erased: that one is closed instead (the look at ErasedPeople is
        made here, after the publish, so that nothing written after an erasure reaches its person)."""
        async with self._delivering:
            now = time.time()
            targets = [
                (session, subscription)
                for session in list(self._sessions)
                if not session.ending
                for subscription, subscribed in list(session.subscriptions.items())
                if channel_matches(subscribed, channel)
            ]
            for session, _ in targets:
                if session.expires_at() <= now:
                    self._end(session, EXPIRED, "token expired")
            await self._find_erased({session.subject for session, _ in targets if not session.ending})
            sent = 0
            for session, subscription in targets:
                if session.ending:
                    continue
                for event in events:
                    session.send({"type": "data", "id": subscription, "event": event})
                    sent += 1
            self.published += len(events)
            return sent

    async def _find_erased(self, subjects: Collection[str | None]) -> None:
        """Close the connections of those of `subjects` who are erased (one consistent read each, in a
        thread; a subject found erased is remembered). A read that fails is logged and taken as not
        erased: live progress is not stopped for everyone by a store that does not answer."""
        if self.is_erased is None:
            return
        is_erased = self.is_erased
        unknown = [subject for subject in subjects if subject is not None and subject not in self._erased]

        def look() -> set[str]:
            found = set()
            for subject in unknown:
                try:
                    if is_erased(subject):
                        found.add(subject)
                except Exception as exc:  # the store's fault, whatever the store: see the docstring
                    log.warning("events: cannot tell whether a subscriber is erased: %s", exc)
            return found

        found = await asyncio.to_thread(look) if unknown else set()
        self._erased |= found
        for session in list(self._sessions):
            if session.subject in self._erased and not session.ending:
                self._end(session, ERASED, "user erased")

    async def _watch_erasures(self) -> None:
        """Every `erasure_seconds`, close the connections of the people connected who were erased
        since (ErasedPeople is written the moment Clerk's `user.deleted` is received)."""
        while True:
            await asyncio.sleep(self.limits.erasure_seconds)
            # Not under `_delivering`: its reads (one a person connected) do not hold up a publish,
            # which makes its own look at its subscribers.
            await self._find_erased({session.subject for session in self._sessions})

    def _end(self, session: Session, error: tuple[str, str], reason: str) -> None:
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

    # --- HTTP: the TLS port ----------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        try:
            if self._connections > MAX_CONNECTIONS and not self._make_room():
                return
            await self._http(reader, writer)
        except (ConnectionError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("events: a connection failed")
        finally:
            self._quiet.pop(writer, None)
            self._connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)

    def _make_room(self) -> bool:
        """Over the connection budget, close one connection: the one waiting longest for its next
        request, as the waitress ports do; when none has waited GRACE_SECONDS, a WebSocket of whoever
        holds the most (the sockets not initialized yet count as one holder), its quietest: a flood
        costs its own sockets, never a newcomer its place. (Open sessions used to be never closed:
        one token's 1,000 sockets got every new connection closed at once.) A connection or socket
        heard from within GRACE_SECONDS is closed last: its request, its connection_init or the
        answer to it may be on its way. False when there is nothing to close."""
        graced = asyncio.get_running_loop().time() - GRACE_SECONDS
        waiting = sorted(self._quiet, key=self._quiet.__getitem__)
        if waiting and self._quiet[waiting[0]] < graced:
            self._close_quiet(waiting[0])
            return True
        heard_long_ago = [session for session in self._sessions if session.heard < graced]
        for candidates in (heard_long_ago, [session for session in self._sessions if session.initialized]):
            if not candidates:
                continue
            holders: dict[str | None, list[Session]] = {}
            for session in candidates:
                holders.setdefault(session.person, []).append(session)
            largest = max(holders.values(), key=len)
            victim = min(largest, key=lambda session: session.heard)
            self._sessions.discard(victim)  # not chosen twice while its tasks end
            log.info(
                "events: over %d connections: closed the quietest of %d sockets of %s",
                MAX_CONNECTIONS,
                len(largest),
                "one person" if victim.person is not None else "sockets not initialized",
            )
            victim.socket.transport.abort()
            return True
        if waiting:
            self._close_quiet(waiting[0])
            return True
        return False

    def _close_quiet(self, writer: asyncio.StreamWriter) -> None:
        self._quiet.pop(writer)
        writer.transport.abort()

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        while True:
            received = bytearray()
            self._quiet[writer] = asyncio.get_running_loop().time()
            try:
                request = await self._next(connection, reader, received, h11.Request, writer)
            except TimeoutError:
                if received:  # a head that started and did not end in HEAD_SECONDS: a slow client
                    await self._raw_answer(
                        writer,
                        408,
                        "request_timeout",
                        f"The request head took over {HEAD_SECONDS:g} s.",
                    )
                return
            except h11.RemoteProtocolError as exc:
                status = 431 if "too long" in str(exc).lower() or "exceeded" in str(exc).lower() else 400
                await self._raw_answer(writer, status, "bad_request", f"Malformed request: {exc}"[:200])
                return
            if request is None:
                return
            if len(received) > MAX_HEAD_BYTES and b"\r\n\r\n" not in received[:MAX_HEAD_BYTES]:
                await self._answer(
                    connection,
                    writer,
                    431,
                    "request_header_fields_too_large",
                    f"At most {MAX_HEAD_BYTES} bytes.",
                )
                return
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
            target = request.target.decode("latin-1")
            path = urlsplit(target).path
            method = request.method.decode("latin-1")
            refusal = self._refusal(headers)
            if refusal is not None:
                await self._answer(connection, writer, *refusal)
                return
            upgrade = "websocket" in headers.get("upgrade", "").lower()
            if path == REALTIME_PATH and method == "GET" and upgrade:
                await self._tunnel(bytes(received), reader, writer)
                return
            if path == PUBLISH_PATH and method == "POST":
                body = await self._body(connection, reader, headers)
                if body is None:
                    await self._answer(
                        connection, writer, 413, "payload_too_large", f"At most {MAX_PUBLISH_BYTES} bytes."
                    )
                    return
                status, document = self._http_publish(target, headers, body)
                await self._send(connection, writer, status, document)
            elif path in (PUBLISH_PATH, REALTIME_PATH, "/") and method in ("GET", "HEAD"):
                await self._drain(connection, reader)
                await self._send(
                    connection,
                    writer,
                    200,
                    {
                        "service": "mediagen local AppSync Events",
                        "endpoint": self.endpoint,
                        "realtime": f"wss://127.0.0.1:{self.port}{REALTIME_PATH}",
                        "message": "The certificate of this endpoint is trusted by this browser.",
                    },
                )
            elif path in (PUBLISH_PATH, REALTIME_PATH, "/"):
                await self._answer(
                    connection, writer, 405, "method_not_allowed", f"{method[:20]} is not allowed here."
                )
                return
            else:
                await self._answer(connection, writer, 404, "not_found", "Not Found")
                return
            if connection.our_state is h11.MUST_CLOSE or connection.their_state is h11.MUST_CLOSE:
                return
            try:
                connection.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _next(
        self,
        connection: h11.Connection,
        reader: asyncio.StreamReader,
        received: bytearray,
        wanted: type,
        writer: asyncio.StreamWriter,
    ) -> Any:
        """The next request head: the idle deadline until its first byte, then HEAD_SECONDS for all of it."""
        loop = asyncio.get_running_loop()
        head_deadline: float | None = None
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                wait = self.limits.idle_seconds if head_deadline is None else head_deadline - loop.time()
                data = await asyncio.wait_for(reader.read(65536), max(0.0, wait))
                if data and head_deadline is None:
                    head_deadline = loop.time() + HEAD_SECONDS
                    self._quiet.pop(writer, None)  # busy now: not the first to be closed for room
                if len(received) < MAX_HEAD_BYTES * 2:
                    received += data
                connection.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, wanted):
                return event
            if event is h11.PAUSED:
                return None

    async def _body(
        self, connection: h11.Connection, reader: asyncio.StreamReader, headers: Mapping[str, str]
    ) -> bytes | None:
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_PUBLISH_BYTES:
            return None
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(reader.read(65536), self.limits.idle_seconds)
                connection.receive_data(data)
                continue
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_PUBLISH_BYTES:
                    return None
                continue
            if isinstance(event, h11.EndOfMessage):
                return bytes(body)
            raise ConnectionError("the request ended early")

    async def _drain(self, connection: h11.Connection, reader: asyncio.StreamReader) -> None:
        """Read a small request body to its end (a GET has none); a large one closes the connection."""
        body = await self._body(connection, reader, {})
        if body is None:
            raise ConnectionError("an unexpected body")

    def _refusal(self, headers: Mapping[str, str]) -> tuple[int, str, str] | None:
        """The Host and Origin checks of every port of the local service: DNS rebinding and other sites."""
        from local.emulator.http_server import host_refusal

        refused = host_refusal(headers.get("host"), self.port)
        if refused is not None:
            return refused
        origin = headers.get("origin")
        if origin is not None and origin not in self.allowed_origins():
            return 403, "origin_not_allowed", "This origin may not use the local events endpoint."
        return None

    async def _raw_answer(self, writer: asyncio.StreamWriter, status: int, code: str, message: str) -> None:
        """A JSON refusal written whole, for a request h11 did not parse to its end."""
        from local.emulator.http_server import json_error

        writer.write(json_error(status, code, message))
        await writer.drain()

    async def _answer(
        self, connection: h11.Connection, writer: asyncio.StreamWriter, status: int, code: str, message: str
    ) -> None:
        await self._send(connection, writer, status, {"code": code, "message": message}, close=True)

    async def _send(
        self,
        connection: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        document: Any,
        close: bool = False,
    ) -> None:
        body = json.dumps(document).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        if close:
            headers.append(("connection", "close"))
        try:
            reason = http.HTTPStatus(status).phrase.encode()
            writer.write(
                connection.send(h11.Response(status_code=status, headers=headers, reason=reason)) or b""
            )
            writer.write(connection.send(h11.Data(data=body)) or b"")
            writer.write(connection.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            return
        await writer.drain()

    def _http_publish(self, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        url = f"https://{headers.get('host', '')}{target}"
        problem = sigv4_problem("POST", url, headers, body, *self.credentials)
        if problem is not None:
            return 401, {"errors": [{"errorType": "UnauthorizedException", "message": problem}]}
        try:
            document = json.loads(body)
        except ValueError:
            return 400, {"errors": [{"errorType": "BadRequestException", "message": "The body is not JSON."}]}
        problem = _publish_problem(document, self.namespaces)
        if problem is not None:
            return 400, {"errors": [{"errorType": "BadRequestException", "message": problem}]}
        channel, events = document["channel"], document["events"]
        self._loop.create_task(self._deliver(channel, events))
        return 200, {
            "successful": [{"identifier": str(uuid.uuid4()), "index": i} for i in range(len(events))],
            "failed": [],
        }

    async def _tunnel(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The WebSocket request, bytes unchanged, to the websockets server; both ways until one closes."""
        inner_reader, inner_writer = await asyncio.open_unix_connection(self._unix_path)
        inner_writer.write(head)

        async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    target.write(data)
                    await target.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    target.close()

        await asyncio.gather(pipe(reader, inner_writer), pipe(inner_reader, writer))

    # --- WebSocket: the handshake and the session ------------------------------------------------

    def _select_subprotocol(self, _connection: ServerConnection, offered: Any) -> Any:
        return PROTOCOL if PROTOCOL in offered else None

    def _process_handshake(self, connection: ServerConnection, request: WsRequest) -> WsResponse | None:
        """Refuse, in JSON, a handshake without the protocol or its authorization header."""
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        if PROTOCOL not in offered:
            return _json_response(400, "protocol_required", f"The {PROTOCOL} sub-protocol is required.")
        if _auth_header(request) is None:
            return _json_response(
                401, "authorization_required", "The header-<base64url JSON> sub-protocol is required."
            )
        return None

    async def _session(self, socket_: ServerConnection) -> None:
        assert socket_.request is not None
        session = Session(socket_, _auth_header(socket_.request))
        self._sessions.add(session)
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
            self._sessions.discard(session)
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
        self._end(session, EXPIRED, "token expired")

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


def _expiry(claims: Mapping[str, Any]) -> float:
    """A verified token's `exp` (the verifier requires it), in epoch seconds."""
    expiry = claims.get("exp")
    return float(expiry) if isinstance(expiry, int | float) else float("inf")


def _publish_problem(document: Any, namespaces: Collection[str]) -> str | None:
    from mediagen.contract.channels import CHANNEL

    if not isinstance(document, dict):
        return "The body is a JSON object with channel and events."
    channel, events = document.get("channel"), document.get("events")
    if not isinstance(channel, str) or not CHANNEL.fullmatch(channel) or channel.endswith("/*"):
        return "channel must be a channel path (no wildcard)."
    if channel.split("/")[1] not in namespaces:
        return "No such channel namespace."
    if not isinstance(events, list) or not 0 < len(events) <= MAX_EVENTS_PER_PUBLISH:
        return f"events must be a list of 1 to {MAX_EVENTS_PER_PUBLISH} JSON texts."
    for event in events:
        if not isinstance(event, str):
            return "Each event is a JSON text."
        try:
            json.loads(event)
        except ValueError:
            return "Each event is a JSON text."
    return None


def _error(kind: str, message_id: str | None, error_type: str, message: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"type": kind, "errors": [{"errorType": error_type, "message": message}]}
    if message_id is not None:
        answer["id"] = message_id[:128]
    return answer


class _JsonRefusalsConnection(ServerConnection):
    """websockets' own refusals of a handshake (a missing key, a bad version) in the contract's JSON,
    like every other refusal of the local service."""

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        protocol.reject = lambda status, text: _json_response(
            int(status), "bad_handshake", str(text).strip()[:200]
        )
        super().__init__(protocol, *args, **kwargs)


def _json_response(status: int, code: str, message: str) -> WsResponse:
    body = json.dumps({"code": code, "message": message}).encode()
    headers = Headers(
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")]
    )
    return WsResponse(status, http.HTTPStatus(status).phrase, headers, body)
