"""Publishing to the AppSync Events API over HTTP: `POST https://<http domain>/event` with
`{"channel": ..., "events": [<JSON text>, ...]}` (at most 5 events a request), signed with the
function's own role (SigV4, service `appsync`), as AWS documents "Publish events via HTTP".

A publish that fails for a reason a retry can cure (a connection error, a timeout, 429, 5xx, an event
AppSync lists as failed) is retried here `EVENTS_PUBLISH_ATTEMPTS` times with a short backoff; after
that PublishFailed is raised and the stream consumer reports the record as failed, so Lambda retries
it from there (nothing is lost that the table holds: status reads stay the truth).
"""

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from mediagen.core.observability import MetricName, count, logger
from mediagen.core.settings import settings

MAX_EVENTS_PER_PUBLISH = 5  # AppSync Events: at most 5 events in one publish
BACKOFF_SECONDS = (0.05, 0.2, 0.5, 1.0)
_local = threading.local()


class PublishFailed(Exception):
    """The events could not be published after every attempt."""


def publish(channel: str, events: Sequence[str]) -> int:
    """Publish `events` (JSON texts, in order) to `channel`; the number of requests made."""
    requests = 0
    for start in range(0, len(events), MAX_EVENTS_PER_PUBLISH):
        _post(channel, list(events[start : start + MAX_EVENTS_PER_PUBLISH]))
        requests += 1
    return requests


def _post(channel: str, events: list[str]) -> None:
    import urllib3

    config = settings()
    url = config.require("events_http_endpoint")
    body = json.dumps({"channel": channel, "events": events}).encode()
    problem = "not tried"
    for attempt in range(config.events_publish_attempts):
        if attempt:
            count(MetricName.LIVE_PUBLISH_RETRIED)
            time.sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
        try:
            response = _pool().request(
                "POST",
                url,
                body=body,
                headers=_signed_headers(url, body),
                timeout=urllib3.Timeout(connect=2, read=3),
                retries=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        if response.status == 200:
            failed = _failed_events(response.data)
            if not failed:
                count(MetricName.LIVE_EVENT_PUBLISHED, len(events))
                return
            problem = f"AppSync refused {len(failed)} of {len(events)} events: {str(failed)[:200]}"
            continue
        problem = f"HTTP {response.status}: {response.data[:200]!r}"
        if response.status != 429 and response.status < 500:
            break  # our request is wrong (signature, permissions, channel): a retry cannot cure it
    count(MetricName.LIVE_PUBLISH_FAILED)
    logger.warning("Live progress publish failed", extra={"channel": channel, "problem": problem})
    raise PublishFailed(problem)


def _failed_events(data: bytes) -> list[Any]:
    try:
        answer = json.loads(data)
    except ValueError:
        return ["unreadable answer"]
    failed = answer.get("failed") if isinstance(answer, dict) else None
    return list(failed) if isinstance(failed, list) else []


def _signed_headers(url: str, body: bytes) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="POST", url=url, data=body, headers={"content-type": "application/json"})
    SigV4Auth(_credentials(), "appsync", settings().region).add_auth(request)
    return dict(request.headers.items())


def _credentials() -> Any:
    """The function's role credentials (Lambda's environment), refreshed by botocore when they expire."""
    credentials = getattr(_local, "credentials", None)
    if credentials is None:
        import boto3

        credentials = _local.credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        raise PublishFailed("no AWS credentials in this environment")
    return credentials.get_frozen_credentials()


def _pool() -> Any:
    """One connection pool per process: the publish reuses the TLS connection of the previous one."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        import urllib3

        ca_bundle = settings().events_ca_bundle
        pool = _local.pool = urllib3.PoolManager(maxsize=4, ca_certs=ca_bundle)
    return pool


def reset_connection() -> None:
    """Forget the pool and credentials (a test that changes the endpoint or the CA bundle)."""
    _local.__dict__.clear()
