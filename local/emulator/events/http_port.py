"""The events endpoint's one TLS port, HTTP/1.1 read with h11 (a real HTTP/1.1 parser), the request
head and body bounded, idle connections closed:

- `GET /event/realtime` with `Upgrade: websocket`: handed, bytes unchanged, to the WebSocket server
  (upgrade.py);
- `POST /event`: the HTTP publish endpoint (publish.py checks it; the endpoint delivers it);
- `GET` of those paths: a page that says the browser trusts the certificate;
- anything else: the contract's JSON refusals, after the Host and Origin checks of every port of the
  local service.
"""

import asyncio
import contextlib
import http
import json
import logging
import socket
import ssl
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import h11

from local.emulator.events.limits import (
    HEAD_SECONDS,
    MAX_CONNECTIONS,
    MAX_HEAD_BYTES,
    MAX_PUBLISH_BYTES,
    TLS_HANDSHAKE_SECONDS,
    EventsLimits,
)
from local.emulator.events.upgrade import tunnel

log = logging.getLogger("local-stack")

REALTIME_PATH = "/event/realtime"
PUBLISH_PATH = "/event"

# A publish's target, headers and body -> its status and JSON answer.
Publish = Callable[[str, Mapping[str, str], bytes], tuple[int, Any]]


class HttpPort:
    """The TLS port, bound at construction (so its port is known), served from `listen` on the
    endpoint's event loop. `make_room` is asked to close a connection past MAX_CONNECTIONS (the
    endpoint chooses among these connections and the WebSockets); `quiet` is what it chooses from here:
    the connections waiting for a request, and since when."""

    def __init__(
        self,
        port: int,
        *,
        limits: EventsLimits,
        allowed_origins: Callable[[], Collection[str]],
        publish: Publish,
        make_room: Callable[[], bool],
    ) -> None:
        self.limits = limits
        self.allowed_origins = allowed_origins
        self._unix_path = ""  # the WebSocket server's socket, given to `listen`
        self._publish = publish
        self._make_room = make_room
        self._listener = socket.create_server(("127.0.0.1", port), backlog=512)
        self.port: int = self._listener.getsockname()[1]
        self._context: ssl.SSLContext | None = None
        self.server: asyncio.Server | None = None  # stopped and started again by `stop` and `reopen`
        self._connections = 0
        self.quiet: dict[asyncio.StreamWriter, float] = {}  # connections waiting for a request: since

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}{PUBLISH_PATH}"

    @property
    def realtime(self) -> str:
        return f"wss://127.0.0.1:{self.port}{REALTIME_PATH}"

    # --- the port ---------------------------------------------------------------------------------

    async def listen(self, context: ssl.SSLContext, unix_path: str) -> None:
        """Serve the port with TLS `context`, handing WebSocket upgrades to the server at `unix_path`."""
        self._context, self._unix_path = context, unix_path
        await self._listen()

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(
            self._connection,
            sock=self._listener.dup(),
            ssl=self._context,
            ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS,
            limit=64 * 1024,
        )

    def stop(self) -> None:
        """Stop accepting and close the port: connections are refused (until `reopen`)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        self._listener.close()

    async def reopen(self) -> None:
        """The port again, the same number."""
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=512)
        await self._listen()

    def close_listener(self) -> None:
        self._listener.close()

    def close_quiet(self, writer: asyncio.StreamWriter) -> None:
        self.quiet.pop(writer)
        writer.transport.abort()

    # --- HTTP -------------------------------------------------------------------------------------

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
            self.quiet.pop(writer, None)
            self._connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        while True:
            received = bytearray()
            self.quiet[writer] = asyncio.get_running_loop().time()
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
                await tunnel(self._unix_path, bytes(received), reader, writer)
                return
            if path == PUBLISH_PATH and method == "POST":
                body = await self._body(connection, reader, headers)
                if body is None:
                    await self._answer(
                        connection, writer, 413, "payload_too_large", f"At most {MAX_PUBLISH_BYTES} bytes."
                    )
                    return
                status, document = self._publish(target, headers, body)
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
                        "realtime": self.realtime,
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
                    self.quiet.pop(writer, None)  # busy now: not the first to be closed for room
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
        from local.emulator.http_connections import json_error

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
