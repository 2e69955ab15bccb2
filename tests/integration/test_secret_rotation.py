"""A rotated secret is seen by every function within 5 minutes, and not read again before: the four
readers of the stack's secrets (the webhook signatures, the backend's key, the erasure's key, the
library's cursor key) go through mediagen.outbound.secrets, whose clock the tests move (no sleeps)."""

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from mediagen.core.errors import MalformedRequest
from mediagen.outbound import secrets

pytestmark = pytest.mark.usefixtures("aws")
KEY_A = "Zx4Qm9TfK2wLr7Yb1NcV8pHs3DgJ6uAe5RkWqE0i"
KEY_B = "Pq7Lm2VbX9cR4tYw8NzH1sKd6FgJ3aUe5QoWiE0r"


class Clock:
    """The monotonic clock the reader ages its values with, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(secrets, "monotonic", fake)
    return fake


@pytest.fixture
def reads() -> list[str]:
    """The GetSecretValue calls this process's reader makes (the secret ids)."""
    made: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        made.append(params["SecretId"])

    secrets._client().meta.events.register("before-parameter-build.secretsmanager.GetSecretValue", record)
    return made


def stored(name: str, value: str) -> str:
    arn: str = boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
    return arn


def rotate(arn: str, value: str) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value)


def webhook_secrets() -> object:
    from mediagen.edge.webhook_signature import active_secrets

    return active_secrets()


def backend_key() -> object:
    from mediagen.outbound.backend import api_key

    return api_key()


def erased_person() -> object:
    from mediagen.rules.erasure import person_hash

    return person_hash("user_gone")


def erasure_hash(key: str) -> str:
    """The HMAC the erasure must keep under `key` (its context, then the user id)."""
    from mediagen.rules.erasure import HASH_CONTEXT

    return hmac.new(key.encode(), HASH_CONTEXT + b"user_gone", hashlib.sha256).hexdigest()


# (plain variable, ARN variable, what the function reads, what it must see for a stored value)
READERS: dict[str, tuple[str, str, Callable[[], object], Callable[[str], object]]] = {
    "webhook signatures": (
        "WEBHOOK_SECRETS",
        "WEBHOOK_SECRETS_ARN",
        webhook_secrets,
        lambda key: (f"whsec_{key}",),
    ),
    "backend key": ("GENERATOR_API_KEY", "GENERATOR_API_KEY_ARN", backend_key, lambda key: key),
    "erasure key": ("ERASURE_HASH_KEY", "ERASURE_HASH_KEY_ARN", erased_person, erasure_hash),
}


def stored_form(reader: str, key: str) -> str:
    return f'{{"secrets": ["whsec_{key}"]}}' if reader == "webhook signatures" else key


@pytest.mark.parametrize("reader", list(READERS))
def test_a_rotated_secret_is_seen_after_five_minutes_and_read_once_before(
    reader: str, monkeypatch: pytest.MonkeyPatch, clock: Clock, reads: list[str]
) -> None:
    plain, by_arn, read, seen_for = READERS[reader]
    arn = stored(reader.replace(" ", "-"), stored_form(reader, KEY_A))
    monkeypatch.setenv(plain, "")
    monkeypatch.setenv(by_arn, arn)
    assert read() == seen_for(KEY_A)

    rotate(arn, stored_form(reader, KEY_B))
    clock.now += secrets.MAX_AGE_SECONDS - 1
    assert read() == seen_for(KEY_A)  # kept: the value read 299 s ago
    assert reads == [arn]
    clock.now += 1
    assert read() == seen_for(KEY_B)  # 300 s: read again, the rotation is seen
    assert read() == seen_for(KEY_B)
    assert reads == [arn, arn]


def test_a_rotated_cursor_key_refuses_the_cursors_of_the_old_key_within_five_minutes(
    monkeypatch: pytest.MonkeyPatch, clock: Clock, reads: list[str]
) -> None:
    """The library's key was kept for the sandbox's life: a rotation was never seen before a cold
    start. Now a cursor of the old key is accepted while the old key is kept, refused after."""
    from mediagen.rules.library import CursorScope, make_cursor, read_cursor

    arn = stored("LibraryCursorKey", KEY_A)
    monkeypatch.setenv("LIBRARY_CURSOR_KEY", "")
    monkeypatch.setenv("LIBRARY_CURSOR_KEY_ARN", arn)
    bound = CursorScope("user_a", "image", "mine", None, None)
    sort_key = "image#2026-12-08T01:00:00.000000Z#job_rotation"
    old_cursor = make_cursor(sort_key, bound)

    rotate(arn, KEY_B)
    clock.now += secrets.MAX_AGE_SECONDS - 1
    assert read_cursor(old_cursor, bound) == sort_key
    clock.now += 1
    with pytest.raises(MalformedRequest) as refused:
        read_cursor(old_cursor, bound)
    assert refused.value.code == "invalid_cursor"
    new_cursor = make_cursor(sort_key, bound)
    assert new_cursor != old_cursor
    assert read_cursor(new_cursor, bound) == sort_key
    assert reads == [arn, arn]
