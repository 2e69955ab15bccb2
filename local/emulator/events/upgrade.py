"""The WebSocket upgrade of `GET /event/realtime`. The WebSocket itself is the `websockets` library's
(handshake, frames, ping, close, the message size bound): the HTTP port hands a request that asks for
it, bytes unchanged, to that library's server on a private Unix socket (`tunnel`). Its handshake
requires AppSync Events' sub-protocol and the `header-<base64url JSON>` sub-protocol that carries the
connection's authorization, and refuses in the contract's JSON, like every other refusal of the local
service."""

import asyncio
import base64
import binascii
import contextlib
import http
import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, unix_serve
from websockets.datastructures import Headers
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from local.emulator.events.limits import MAX_MESSAGE_BYTES

PROTOCOL = "aws-appsync-event-ws"


async def websocket_server(handler: Callable[[ServerConnection], Awaitable[None]], unix_path: str) -> Server:
    """The `websockets` server on the private Unix socket, each connection given to `handler`."""
    return await unix_serve(
        handler,
        unix_path,
        subprotocols=[PROTOCOL],
        select_subprotocol=_select_subprotocol,
        process_request=_process_handshake,
        create_connection=_JsonRefusalsConnection,
        max_size=MAX_MESSAGE_BYTES,
        max_queue=16,
        ping_interval=20,
        ping_timeout=20,
        close_timeout=2,
        server_header=None,
    )


async def tunnel(
    unix_path: str, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """The WebSocket request, bytes unchanged, to the websockets server; both ways until one closes."""
    inner_reader, inner_writer = await asyncio.open_unix_connection(unix_path)
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


def auth_header(request: WsRequest) -> dict[str, Any] | None:
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


def _select_subprotocol(_connection: ServerConnection, offered: Any) -> Any:
    return PROTOCOL if PROTOCOL in offered else None


def _process_handshake(connection: ServerConnection, request: WsRequest) -> WsResponse | None:
    """Refuse, in JSON, a handshake without the protocol or its authorization header."""
    offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
    if PROTOCOL not in offered:
        return _json_response(400, "protocol_required", f"The {PROTOCOL} sub-protocol is required.")
    if auth_header(request) is None:
        return _json_response(
            401, "authorization_required", "The header-<base64url JSON> sub-protocol is required."
        )
    return None


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
