"""Standard Webhooks verification against every active secret (several during a rotation)."""

import base64
import binascii
import functools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mediagen.core.errors import NotAuthenticated, NotConfigured
from mediagen.core.observability import logger
from mediagen.core.settings import settings
from mediagen.outbound.secrets import secret_value

if TYPE_CHECKING:
    from standardwebhooks.webhooks import Webhook


def active_secrets() -> tuple[str, ...]:
    """The active `whsec_...` secrets: WEBHOOK_SECRETS (local runs, tests) or Secrets Manager (cached)."""
    current = settings()
    return secrets_from(current.webhook_secrets, current.webhook_secrets_arn)


def clerk_secrets() -> tuple[str, ...]:
    """The signing secrets of Clerk's endpoint (Svix): CLERK_WEBHOOK_SECRETS or Secrets Manager."""
    current = settings()
    return secrets_from(current.clerk_webhook_secrets, current.clerk_webhook_secrets_arn)


def secrets_from(values: tuple[str, ...], secret_id: str | None) -> tuple[str, ...]:
    """`values` when set (local runs, tests), else the secret `secret_id` (mediagen.outbound.secrets:
    a rotation is seen within 5 minutes)."""
    if values:
        return values
    if not secret_id:
        raise NotConfigured("Webhook verification is not configured.")
    return parse_secret_value(secret_value(secret_id))


def parse_secret_value(raw: str) -> tuple[str, ...]:
    """The secret holds `{"secrets": ["whsec_..", ...]}` or a comma-separated list. As the stack
    generates it, `{"secrets": "<40 letters and digits>"}`: one secret, a valid base64 key that
    Standard Webhooks takes as it is or with the `whsec_` prefix (docs/deploy.md)."""
    text = raw.strip()
    if text.startswith("{"):
        try:
            values = json.loads(text).get("secrets", [])
        except (ValueError, AttributeError):
            values = []
        if isinstance(values, str):
            values = [values]
        return tuple(str(v).strip() for v in values if str(v).strip())
    return tuple(item.strip() for item in text.split(",") if item.strip())


@functools.lru_cache(maxsize=8)
def _verifiers(secrets: tuple[str, ...]) -> tuple["Webhook", ...]:
    from standardwebhooks.webhooks import Webhook

    verifiers = []
    for secret in secrets:
        try:
            verifiers.append(Webhook(secret))
        except Exception:
            logger.error("An active webhook secret is malformed and is ignored")
    return tuple(verifiers)


def verify_delivery(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> str:
    """Return the delivery's `webhook-id` when some active secret signed it; raise NotAuthenticated
    otherwise.

    Checks the signature on the raw bytes, before anything is parsed.
    """
    from standardwebhooks.webhooks import WebhookVerificationError

    verifiers = _verifiers(tuple(secrets))
    if not verifiers:
        raise NotConfigured("Webhook verification is not configured.")
    wanted = standard_headers(headers)
    if not all(wanted.values()):
        raise NotAuthenticated("Missing webhook signature headers.", code="invalid_signature")
    if len(wanted["webhook-id"]) > 256 or len(wanted["webhook-signature"]) > 4096:
        raise NotAuthenticated("Malformed webhook signature headers.", code="invalid_signature")
    # Any valid signature of the list is enough (Standard Webhooks): the library stops at the first
    # malformed entry, so only well-formed v1 entries are handed to it.
    wanted["webhook-signature"] = " ".join(_v1_signatures(wanted["webhook-signature"]))
    if not wanted["webhook-signature"]:
        raise NotAuthenticated("Invalid webhook signature: no v1 signature.", code="invalid_signature")
    reason = "no active secret signed this delivery"
    for verifier in verifiers:
        try:
            verifier.verify(body, wanted, json_parse=False)
            return wanted["webhook-id"]
        except WebhookVerificationError as exc:
            reason = str(exc)
        except (ValueError, binascii.Error, TypeError):
            # standardwebhooks raises these, not its own error, on a malformed signature header.
            reason = "malformed signature header"
    raise NotAuthenticated(f"Invalid webhook signature: {reason}.", code="invalid_signature")


SVIX_NAMES = {
    "webhook-id": "svix-id",
    "webhook-timestamp": "svix-timestamp",
    "webhook-signature": "svix-signature",
}


def standard_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The three Standard Webhooks headers of a delivery, under their own names or under Svix's
    (`svix-id`, ...: what Clerk sends). One naming is taken whole, never a mix: the `webhook-*` set
    when it has an id, else the `svix-*` set."""
    if headers.get("webhook-id") or not headers.get("svix-id"):
        return {name: headers.get(name, "") for name in SVIX_NAMES}
    return {name: headers.get(svix, "") for name, svix in SVIX_NAMES.items()}


def _v1_signatures(header: str) -> list[str]:
    """The `v1,<base64>` entries of a space-separated signature list; other versions and malformed
    entries are left out."""
    entries = []
    for entry in header.split(" "):
        version, comma, signature = entry.partition(",")
        if version != "v1" or not comma or not signature:
            continue
        try:
            base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            continue
        entries.append(entry)
    return entries
