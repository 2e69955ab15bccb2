"""What the webhook refusal tests share: building signed (and mis-signed) deliveries, and the checks
of a refusal. The cases are in test_image_webhook_signature_rejections.py and
test_image_webhook_body_rejections.py."""

import base64
import hashlib
import hmac
import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from mediagen.data.models import Generation, Notification
from tests.support import (
    WEBHOOK_SECRET,
    completion_payload,
    http_api_event,
    response_json,
    signed_headers,
)

PATH = "/api/webhooks/image-completion"
JOB = "job_rejected"
UNKNOWN_SECRET = "whsec_" + base64.b64encode(b"a secret the backend was never given").decode()
DROP = object()  # marks a field to remove from a payload

Event = dict[str, Any]


# --- Building deliveries ---------------------------------------------------------------------------


def payload_with(**fields: Any) -> dict[str, Any]:
    """A valid completion of JOB for user_a, with top-level fields replaced (or dropped with DROP)."""
    payload = completion_payload(JOB, user_id="user_a")
    for name, value in fields.items():
        if value is DROP:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def image_with(**fields: Any) -> dict[str, Any]:
    """A valid completion of JOB whose first image has some fields replaced."""
    payload = completion_payload(JOB, user_id="user_a")
    payload["data"]["images"][0].update(fields)
    return payload


def data_with(**fields: Any) -> dict[str, Any]:
    """A valid completion of JOB whose `data` has some fields replaced (or dropped with DROP)."""
    payload = completion_payload(JOB, user_id="user_a")
    for name, value in fields.items():
        if value is DROP:
            payload["data"].pop(name, None)
        else:
            payload["data"][name] = value
    return payload


def as_json(payload: Any, **dumps_options: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, **dumps_options)


GOOD_BODY = as_json(completion_payload(JOB, user_id="user_a", prompt="Un phare breton, été 🌅"))


def sign_bytes(
    body: bytes, *, secret: str = WEBHOOK_SECRET, webhook_id: str = "msg_raw", at: int | None = None
) -> dict[str, str]:
    """Standard Webhooks headers computed over raw bytes (which need not be UTF-8), by hand."""
    timestamp = str(at if at is not None else int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def seconds_from_now(seconds: int, *, beyond_tolerance: bool) -> datetime:
    """A whole-second timestamp `seconds` away from now, rounded away from now when it must stay beyond
    the 300 s tolerance and towards now when it must stay within, so the time the call itself takes
    (under a second) cannot change the verdict."""
    now = time.time()
    away_from_now = (seconds > 0) == beyond_tolerance
    return datetime.fromtimestamp((math.ceil(now) if away_from_now else math.floor(now)) + seconds, UTC)


def delivery(body: str, headers: dict[str, str]) -> Event:
    return http_api_event("POST", PATH, body=body, headers=headers)


def signed_then(**header_changes: str) -> Event:
    """GOOD_BODY correctly signed, then some webhook headers replaced (underscores for dashes)."""
    headers = signed_headers(GOOD_BODY)
    headers.update({name.replace("_", "-"): value for name, value in header_changes.items()})
    return delivery(GOOD_BODY, headers)


def good_signature() -> str:
    return signed_headers(GOOD_BODY, webhook_id="msg_fixed", timestamp=datetime.now(UTC))["webhook-signature"]


def with_signature_header(signature: str) -> Event:
    """GOOD_BODY signed as msg_fixed now, sent with the given webhook-signature header."""
    headers = signed_headers(GOOD_BODY, webhook_id="msg_fixed", timestamp=datetime.now(UTC))
    headers["webhook-signature"] = signature
    return delivery(GOOD_BODY, headers)


def wrong_signature() -> str:
    """Well-formed (v1, 32 bytes of base64), but not the HMAC of this message."""
    return "v1," + base64.b64encode(b"\x00" * 32).decode()


def body_changed_after_signing() -> Event:
    headers = signed_headers(GOOD_BODY)
    tampered = GOOD_BODY.replace("1482013", "1482014", 1)
    assert (
        len(tampered) == len(GOOD_BODY) and sum(a != b for a, b in zip(tampered, GOOD_BODY, strict=True)) == 1
    )
    return delivery(tampered, headers)


def reserialised_after_signing(**dumps_options: Any) -> Event:
    """Signed over one serialisation of the payload, sent as another serialisation of the same JSON."""
    payload = json.loads(GOOD_BODY)
    sent = json.dumps(payload, **{"ensure_ascii": False, **dumps_options})
    assert json.loads(sent) == payload and sent != GOOD_BODY
    return delivery(sent, signed_headers(GOOD_BODY))


# --- Assertions -------------------------------------------------------------------------------------


def assert_refused(response: dict[str, Any], status: int, code: str) -> None:
    """The contract's error answer: the status, a JSON body with a string code and message, no trace."""
    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["Content-Type"] == "application/json"
    body = response_json(response)
    assert isinstance(body["code"], str) and body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response["body"]


def assert_nothing_written() -> None:
    assert list(Generation.scan()) == []
    assert list(Notification.scan()) == []


def assert_created(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200, response["body"]
    assert response_json(response) == {"job_id": JOB, "outcome": "created"}
    assert Generation.get(JOB, consistent_read=True).author_id == "user_a"
