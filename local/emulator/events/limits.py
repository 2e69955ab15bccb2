"""Every bound of the events endpoint, in one place (docs/local-service.md states them): what a request,
a message, a connection and a person may take of it, and how long each wait lasts."""

from dataclasses import dataclass

MAX_HEAD_BYTES = 16 * 1024
MAX_PUBLISH_BYTES = 1_300_000  # 5 events of AppSync's 240 KB, and the envelope
MAX_MESSAGE_BYTES = 240 * 1024  # AppSync Events: a WebSocket message
MAX_EVENTS_PER_PUBLISH = 5
MAX_SUBSCRIPTIONS = 100  # per connection
MAX_REFUSALS = 50  # refused subscriptions on one connection before it is closed
MAX_ERRORS = 20  # unreadable or unknown messages on one connection before it is closed
OUTBOX = 1000  # messages waiting for a slow client before it is closed
MAX_CONNECTIONS = 1000  # past this, the quietest connection is closed (endpoint.py, `_make_room`)
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
# A TLS handshake complete within this of the connection: its own bound, not LOCAL_EVENTS_INIT_SECONDS
# (the wait for connection_init once the socket is open), which a test sets to 2 s to see a silent
# socket closed: a handshake held to 2 s on a loaded machine was cut and its client read no answer.
TLS_HANDSHAKE_SECONDS = 10.0
STOP_SECONDS = 3.0  # the endpoint's share of the service's stop: its tasks end within this


@dataclass(frozen=True)
class EventsLimits:
    idle_seconds: float = 30.0  # an HTTP connection with no request for this long is closed
    init_seconds: float = 10.0  # a socket that sends no connection_init in this time is closed
    keepalive_seconds: float = 60.0  # between two `ka`
    erasure_seconds: float = 2.0  # between two looks for the erased people among those connected
