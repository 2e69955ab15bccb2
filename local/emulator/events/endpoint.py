"""The local service's AppSync Events endpoint: live progress on one machine, spoken as AWS documents it,
so that AWS's own client (aws-amplify's `events`) connects to it unchanged. `LocalEvents` assembles it
from its layers and runs it in a thread with its own event loop:

- `tls`: the certificate (made once, kept in .local/) and the TLS context of its one port;
- `http_port`: HTTP/1.1 on that port (h11), `publish`: the checks of `POST /event` (SigV4, the body);
- `upgrade`: `GET /event/realtime`'s WebSocket, handed to the `websockets` library's server;
- `protocol`: the AppSync Events protocol on each socket (connection_init, subscribe, ...);
- `limits`: every bound of the endpoint.

Here: delivering a publish to the subscriptions of its channel, closing the connections whose token
expired or whose person is erased (docs/architecture.md, "Live progress: token expiry and erasure"),
and choosing which connection to close past the connection budget.
"""

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from local.emulator.events.http_port import HttpPort
from local.emulator.events.limits import GRACE_SECONDS, MAX_CONNECTIONS, STOP_SECONDS, EventsLimits
from local.emulator.events.protocol import (
    ERASED,
    EXPIRED,
    Authorize,
    EventsProtocol,
    Session,
    VerifyToken,
    channel_matches,
)
from local.emulator.events.publish import publish_problem, sigv4_problem
from local.emulator.events.tls import certificate, server_context
from local.emulator.events.upgrade import websocket_server

log = logging.getLogger("local-stack")

AUTH_MODE = "oidc"  # Amplify's name for OPENID_CONNECT
IsErased = Callable[[str], bool]  # a token's subject (a Clerk user id) -> erased (ErasedPeople)


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
        self.is_erased = is_erased
        self._erased: set[str] = set()  # the subjects found erased (an erasure is never undone)
        # Publishes are delivered one at a time, in the order they came (an asyncio.Lock wakes its
        # waiters in order): the look for erased subscribers of one must not let a later one pass it.
        self._delivering = asyncio.Lock()
        self.credentials = credentials
        self.region = region
        self.limits = limits or EventsLimits()
        self.certificate, self._key = certificate(directory)
        self._http = HttpPort(
            port,
            limits=self.limits,
            allowed_origins=allowed_origins,
            publish=self._http_publish,
            make_room=self._make_room,
        )
        self.port: int = self._http.port
        self._socket_dir = tempfile.mkdtemp(prefix="mediagen-events-")
        self._unix_path = os.path.join(self._socket_dir, "ws.sock")
        self._loop = asyncio.new_event_loop()
        self._protocol = EventsProtocol(
            namespaces=self.namespaces,
            verify_token=verify_token,
            authorize=authorize,
            limits=self.limits,
            loop=self._loop,
        )
        self._thread: threading.Thread | None = None
        self._servers: list[Any] = []
        self._watcher: asyncio.Task[None] | None = None  # `_watch_erasures`
        self.published = 0

    # --- what the service says about it ---------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self._http.endpoint

    def info(self, channel: str, organization_channel: str) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "realtime": self._http.realtime,
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
        context = server_context(self.certificate, self._key)
        self._servers.append(await websocket_server(self._protocol.serve, self._unix_path))
        await self._http.listen(context, self._unix_path)
        if self.is_erased is not None:
            self._watcher = asyncio.create_task(self._watch_erasures())

    def close(self) -> None:
        if self._thread is None:
            self._http.close_listener()
            return

        async def stop() -> None:
            """Stop accepting, drop every socket, then wait for the servers' own close (websockets'
            `close` is a task of its own) and end every task still running: stopping the loop with
            them pending made every stop of `make run` look like a crash in its log."""
            servers = [server for server in [*self._servers, self._http.server] if server is not None]
            for server in servers:
                server.close()
            for session in list(self._protocol.sessions):
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
        self._http.close_listener()
        with contextlib.suppress(OSError):
            os.unlink(self._unix_path)
            os.rmdir(self._socket_dir)

    def restart(self, down_seconds: float) -> None:
        """Stop the endpoint now (every socket dropped, the port closed: connections are refused) and
        start it again on the same port after `down_seconds`: what a browser sees when the endpoint
        restarts mid-job. Returns once it is down."""

        async def stop_then_start() -> None:
            self._http.stop()
            for session in list(self._protocol.sessions):
                session.socket.transport.abort()
            down.set()
            await asyncio.sleep(down_seconds)
            await self._http.reopen()
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
                for session in list(self._protocol.sessions)
                if not session.ending
                for subscription, subscribed in list(session.subscriptions.items())
                if channel_matches(subscribed, channel)
            ]
            for session, _ in targets:
                if session.expires_at() <= now:
                    self._protocol.end(session, EXPIRED, "token expired")
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
        for session in list(self._protocol.sessions):
            if session.subject in self._erased and not session.ending:
                self._protocol.end(session, ERASED, "user erased")

    async def _watch_erasures(self) -> None:
        """Every `erasure_seconds`, close the connections of the people connected who were erased
        since (ErasedPeople is written the moment Clerk's `user.deleted` is received)."""
        while True:
            await asyncio.sleep(self.limits.erasure_seconds)
            # Not under `_delivering`: its reads (one a person connected) do not hold up a publish,
            # which makes its own look at its subscribers.
            await self._find_erased({session.subject for session in self._protocol.sessions})

    def _make_room(self) -> bool:
        """Over the connection budget, close one connection: the one waiting longest for its next
        request, as the waitress ports do; when none has waited GRACE_SECONDS, a WebSocket of whoever
        holds the most (the sockets not initialized yet count as one holder), its quietest: a flood
        costs its own sockets, never a newcomer its place. (Open sessions used to be never closed:
        one token's 1,000 sockets got every new connection closed at once.) A connection or socket
        heard from within GRACE_SECONDS is closed last: its request, its connection_init or the
        answer to it may be on its way. False when there is nothing to close."""
        graced = asyncio.get_running_loop().time() - GRACE_SECONDS
        waiting = sorted(self._http.quiet, key=self._http.quiet.__getitem__)
        if waiting and self._http.quiet[waiting[0]] < graced:
            self._http.close_quiet(waiting[0])
            return True
        heard_long_ago = [session for session in self._protocol.sessions if session.heard < graced]
        for candidates in (
            heard_long_ago,
            [session for session in self._protocol.sessions if session.initialized],
        ):
            if not candidates:
                continue
            holders: dict[str | None, list[Session]] = {}
            for session in candidates:
                holders.setdefault(session.person, []).append(session)
            largest = max(holders.values(), key=len)
            victim = min(largest, key=lambda session: session.heard)
            self._protocol.sessions.discard(victim)  # not chosen twice while its tasks end
            log.info(
                "events: over %d connections: closed the quietest of %d sockets of %s",
                MAX_CONNECTIONS,
                len(largest),
                "one person" if victim.person is not None else "sockets not initialized",
            )
            victim.socket.transport.abort()
            return True
        if waiting:
            self._http.close_quiet(waiting[0])
            return True
        return False

    def _http_publish(self, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        url = f"https://{headers.get('host', '')}{target}"
        problem = sigv4_problem("POST", url, headers, body, *self.credentials)
        if problem is not None:
            return 401, {"errors": [{"errorType": "UnauthorizedException", "message": problem}]}
        try:
            document = json.loads(body)
        except ValueError:
            return 400, {"errors": [{"errorType": "BadRequestException", "message": "The body is not JSON."}]}
        problem = publish_problem(document, self.namespaces)
        if problem is not None:
            return 400, {"errors": [{"errorType": "BadRequestException", "message": problem}]}
        channel, events = document["channel"], document["events"]
        self._loop.create_task(self._deliver(channel, events))
        return 200, {
            "successful": [{"identifier": str(uuid.uuid4()), "index": i} for i in range(len(events))],
            "failed": [],
        }
