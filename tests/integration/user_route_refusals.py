"""What the user-route refusal tests share: the store (what was written, and putting it back), the
check of a refusal, and the hostile tokens. The cases themselves are in test_generate_rejections.py,
test_generate_fuzz.py and test_job_and_notification_rejections.py."""

import base64
import functools
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mediagen.contract.payloads import Kind
from mediagen.data.models import Generation, Notification
from tests.support import TokenMinter, response_json

USER = "user_a"
ORG = "org_1"
KINDS: tuple[Kind, ...] = ("image", "video")
MAX_ERROR_BODY = 4096  # an error body never echoes a hostile input back

Event = dict[str, Any]
Response = dict[str, Any]
Handler = Callable[[Event, Any], Response]
AuthHeaders = Callable[[TokenMinter], dict[str, str]]


# --- The store: what was written, and putting it back ------------------------------------------------


@dataclass(frozen=True)
class State:
    generations: dict[str, Any]
    notifications: dict[tuple[str, str], Any]
    queued: int


class Store:
    """Both tables and the dispatch queue, read in full (strongly consistent), with one SQS client."""

    def __init__(self, lambda_context: Any) -> None:
        self.lambda_context = lambda_context
        self.sqs = boto3.client("sqs")
        self.queue_url = os.environ["DISPATCH_QUEUE_URL"]

    def queued(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def snapshot(self) -> State:
        return State(
            generations={item.job_id: item.serialize() for item in Generation.scan(consistent_read=True)},
            notifications={
                (item.user_id, item.notification_id): item.serialize()
                for item in Notification.scan(consistent_read=True)
            },
            queued=self.queued(),
        )

    def writes_since(self, before: State) -> list[str]:
        """What changed since `before` (empty when nothing did); puts everything back as it was."""
        after = self.snapshot()
        changes: list[str] = []
        for job_id in sorted(before.generations.keys() | after.generations.keys()):
            was, now = before.generations.get(job_id), after.generations.get(job_id)
            if was == now:
                continue
            if was is None:
                changes.append(f"generation {job_id!r} created")
                Generation(job_id).delete()
            else:
                changes.append(f"generation {job_id!r} {'deleted' if now is None else 'changed'}")
                Generation.from_raw_data(was).save()
        for key in sorted(before.notifications.keys() | after.notifications.keys()):
            was, now = before.notifications.get(key), after.notifications.get(key)
            if was == now:
                continue
            if was is None:
                changes.append(f"notification {key!r} created")
                Notification(*key).delete()
            else:
                changes.append(f"notification {key!r} {'deleted' if now is None else 'changed'}")
                Notification.from_raw_data(was).save()
        if after.queued != before.queued:
            changes.append(f"{after.queued - before.queued} dispatch message(s) queued")
            self.sqs.purge_queue(QueueUrl=self.queue_url)
        return changes


# --- Answers ----------------------------------------------------------------------------------------


def assert_refused(
    response: Response, status: int, code: str, case: str, *, max_body: int | None = MAX_ERROR_BODY
) -> None:
    """The contract's error answer: the status, a small JSON body with a string code and message."""
    where = f"[{case}] {response['statusCode']} {str(response.get('body'))[:300]}"
    assert response["statusCode"] < 500, f"5xx: {where}"
    assert response["statusCode"] == status, where
    assert response["headers"]["Content-Type"] == "application/json", where
    body = response_json(response)
    assert isinstance(body, dict), where
    assert isinstance(body.get("code"), str) and body["code"] == code, where
    assert isinstance(body.get("message"), str) and body["message"], where
    assert "Traceback" not in response["body"] and 'File "' not in response["body"], where
    if max_body is not None:
        assert len(response["body"]) < max_body, f"[{case}] error body of {len(response['body'])} chars"
    if status == 401:
        assert response["headers"].get("WWW-Authenticate") == "Bearer", where


def run_refused(
    store: Store,
    aws_requests: Any,
    handler: Handler,
    event: Event,
    *,
    status: int,
    code: str,
    case: str,
    aws_calls_allowed: bool = False,
) -> None:
    """Send `event`; it is refused as expected, nothing is written, and (unless allowed) no AWS request
    is sent at all. The store is put back afterwards, whatever happened."""
    before = store.snapshot()
    aws_requests.clear()
    try:
        response = handler(event, store.lambda_context)
        calls = aws_requests.by_operation()
        queued = store.queued()
    finally:
        writes = store.writes_since(before)
    assert_refused(response, status, code, case)
    assert not writes, f"[{case}] written: {writes}"
    assert queued == 0, f"[{case}] {queued} message(s) on the dispatch queue"
    if not aws_calls_allowed:
        assert not calls, f"[{case}] AWS called: {dict(calls)}"


# --- Tokens -----------------------------------------------------------------------------------------


def signed_in(tokens: TokenMinter) -> dict[str, str]:
    return tokens.auth(USER, org=ORG)


def no_token(_: TokenMinter) -> dict[str, str]:
    return {}


def authorization(value: str) -> AuthHeaders:
    return lambda _: {"authorization": value}


def token_with(**options: Any) -> AuthHeaders:
    return lambda tokens: tokens.auth(USER, **options)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _good_claims(tokens: TokenMinter) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(tokens.token(USER), options={"verify_signature": False})
    return claims


def alg_none(tokens: TokenMinter) -> dict[str, str]:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": tokens.kid}).encode())
    payload = b64url(json.dumps(_good_claims(tokens)).encode())
    return {"authorization": f"Bearer {header}.{payload}."}


def hs256_with_the_public_key(tokens: TokenMinter) -> dict[str, str]:
    """The algorithm-confusion attack: HMAC keyed with the issuer's (public) RSA key."""
    pem = tokens.private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": tokens.kid}).encode())
    payload = b64url(json.dumps(_good_claims(tokens)).encode())
    signature = b64url(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return {"authorization": f"Bearer {header}.{payload}.{signature}"}


def claims_changed_after_signing(tokens: TokenMinter) -> dict[str, str]:
    header, _, signature = tokens.token(USER).split(".")
    payload = b64url(json.dumps(_good_claims(tokens) | {"sub": "user_admin"}).encode())
    return {"authorization": f"Bearer {header}.{payload}.{signature}"}


@functools.cache
def _another_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed_by_another_key(tokens: TokenMinter) -> dict[str, str]:
    return TokenMinter(_another_key(), tokens.kid).auth(USER)


def unknown_kid(tokens: TokenMinter) -> dict[str, str]:
    return TokenMinter(tokens.private_key, "rotated-away").auth(USER)


def assert_unique(ids: list[str]) -> None:
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
