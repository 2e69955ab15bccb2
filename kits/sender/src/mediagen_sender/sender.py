"""Signing (Standard Webhooks) and delivery with retries.

Retry policy, as mediagen expects of its sender:
- 429, 5xx, timeouts and connection errors are retried with exponential backoff and full jitter
  (`base_delay * 2**n`, capped at `max_delay`, a random share of it), and never sooner than the
  answer's `Retry-After` (seconds or an HTTP date);
- any other 4xx is final: the payload or the signature is wrong, sending it again cannot help;
- every attempt of one event carries the same `webhook-id` (mediagen applies an id once: a retry of a
  delivery that did land changes nothing and answers 2xx again) and is signed afresh, so a late retry
  is never refused for its timestamp; each new event gets a new id.
"""

import email.utils
import hmac
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from mediagen_sender.models import CompletionEvent

log = logging.getLogger("mediagen_sender")
RETRYABLE_STATUSES = frozenset({429}) | frozenset(range(500, 600))


class DeliveryError(Exception):
    """A delivery that did not land. `code` is the contract's error code from mediagen's answer
    (`invalid_signature`, `validation_error`, `conflict`, `service_unavailable`...), or
    `connection_error` when no answer came; `status` is the HTTP status (None without an answer)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None,
        webhook_id: str,
        attempts: int,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status
        self.webhook_id, self.attempts, self.body = webhook_id, attempts, body

    @property
    def retryable(self) -> bool:
        """True when the last answer was one a later try may cure (the retries ran out)."""
        return self.status is None or self.status in RETRYABLE_STATUSES


@dataclass(frozen=True)
class Delivery:
    """A delivery that landed: mediagen's answer (`{"job_id", "outcome"}`) and how it took."""

    webhook_id: str
    status: int
    job_id: str
    outcome: str  # created, updated, duplicate, stale
    attempts: int


class Signer:
    """Standard Webhooks signatures with every active secret (several during a rotation: the receiver
    accepts a message signed by any secret it holds)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._webhooks = [Webhook(secret.strip()) for secret in secrets if secret.strip()]
        if not self._webhooks:
            raise ValueError("at least one whsec_ secret is needed")

    def headers(self, webhook_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
        now = now or datetime.now(UTC)
        signatures = " ".join(webhook.sign(webhook_id, now, body) for webhook in self._webhooks)
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures,
        }


class WebhookSender:
    """Sends completion events to mediagen, signed, with retries. Thread-safe; reuse one per process.

    sender = WebhookSender(secrets=["whsec_..."])
    sender.send(dispatch.webhook_url, completed(job_id, images=[...]))
    """

    def __init__(
        self,
        secrets: Iterable[str],
        *,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        max_retry_after: float = 300.0,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.signer = Signer(secrets)
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.max_retry_after = max_retry_after
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "WebhookSender":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, webhook_url: str, event: CompletionEvent, *, webhook_id: str | None = None) -> Delivery:
        """Deliver one event (a new `webhook-id` unless given) and return mediagen's answer; raise
        `DeliveryError` on a final refusal or when the retries run out."""
        webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
        body = event.to_json()
        for attempt in range(1, self.max_attempts + 1):
            headers = self.signer.headers(webhook_id, body)
            try:
                answer = self._client.post(webhook_url, content=body.encode(), headers=headers)
            except httpx.TransportError as exc:  # refused, reset, timed out: no answer
                failure = DeliveryError(
                    f"no answer from {webhook_url}: {type(exc).__name__}: {exc}",
                    code="connection_error",
                    status=None,
                    webhook_id=webhook_id,
                    attempts=attempt,
                )
                wait = self._backoff(attempt)
            else:
                if 200 <= answer.status_code < 300:
                    document = _json(answer)
                    return Delivery(
                        webhook_id=webhook_id,
                        status=answer.status_code,
                        job_id=str(document.get("job_id", event.job_id)),
                        outcome=str(document.get("outcome", "")),
                        attempts=attempt,
                    )
                failure = _refusal(answer, webhook_id, attempt)
                if answer.status_code not in RETRYABLE_STATUSES:
                    raise failure
                retry_after = parse_retry_after(answer.headers.get("retry-after"))
                if retry_after is not None and retry_after > self.max_retry_after:
                    raise failure
                wait = max(self._backoff(attempt), retry_after or 0.0)
            if attempt == self.max_attempts:
                raise failure
            log.warning(
                "webhook %s for job %s: %s (attempt %d), retrying in %.1f s",
                webhook_id,
                event.job_id,
                failure.status or failure.code,
                attempt,
                wait,
            )
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a random delay up to the exponential ceiling of this attempt."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _refusal(answer: httpx.Response, webhook_id: str, attempt: int) -> DeliveryError:
    document = _json(answer)
    code = str(document.get("code") or f"http_{answer.status_code}")
    message = str(document.get("message") or answer.reason_phrase)
    return DeliveryError(
        f"mediagen answered {answer.status_code} {code}: {message}",
        code=code,
        status=answer.status_code,
        webhook_id=webhook_id,
        attempts=attempt,
        body=document or answer.text[:2000],
    )


def bearer_matches(authorization: str | None, api_keys: Iterable[str]) -> bool:
    """The dispatch's `Authorization: Bearer <key>` against the backend's active keys (several during a
    rotation), compared in constant time."""
    if not authorization or not authorization.startswith("Bearer "):
        return False
    presented = authorization[len("Bearer ") :].strip().encode()
    return any(hmac.compare_digest(presented, key.strip().encode()) for key in api_keys if key.strip())
