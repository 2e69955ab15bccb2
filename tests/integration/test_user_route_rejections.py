"""The user routes refuse hostile input, through the real handlers against moto.

POST /api/{images,videos}/generate, the cancel, status and result routes, and the notifications routes
answer a request they must refuse with the contract's 4xx (401, 404, 413, 415, 400 or 422) and a small
JSON error body with a string `code` and `message` and no stack trace; never a 5xx. Nothing is written:
both tables hold exactly what the case seeded, unchanged, and the dispatch queue stays empty.

Each route's cases are a table of named cases run as subtests of one test (the moto fixture costs about
half a second per test; a case costs a few milliseconds). A failure names its case, e.g.
`SUBFAILED[prompt_4001_chars] ...::test_generate_refuses_hostile_input_and_writes_nothing[image]`, and
the store is put back as it was after each case, so one failing case cannot make the next one fail.

Three cases found production bugs (fixed since): a trailing newline through `$`, and echoed field names.
"""

import base64
import functools
import hashlib
import hmac
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cancel_generation.app import lambda_handler as cancel_handler
from generate.app import MAX_GENERATE_BYTES
from generate.app import lambda_handler as generate_handler
from generation_result.app import lambda_handler as result_handler
from generation_status.app import lambda_handler as status_handler
from mediagen.models import Generation, Notification
from mediagen.notifications import notification_id
from mediagen.payloads import MAX_PROMPT, Kind
from notifications.app import lambda_handler as notifications_handler
from tests.support import ISSUER, TokenMinter, http_event, response_json

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture(autouse=True)
def many_jobs_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests send one user's generates by the hundred to probe bodies, not the cap of jobs in
    flight (tests/integration/test_jobs_in_flight_cap.py): a 429 there would hide what they probe."""
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT_PER_USER", "10000")


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


@pytest.fixture
def store(lambda_context: Any) -> Store:
    return Store(lambda_context)


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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _good_claims(tokens: TokenMinter) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(tokens.token(USER), options={"verify_signature": False})
    return claims


def alg_none(tokens: TokenMinter) -> dict[str, str]:
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": tokens.kid}).encode())
    payload = _b64url(json.dumps(_good_claims(tokens)).encode())
    return {"authorization": f"Bearer {header}.{payload}."}


def hs256_with_the_public_key(tokens: TokenMinter) -> dict[str, str]:
    """The algorithm-confusion attack: HMAC keyed with the issuer's (public) RSA key."""
    pem = tokens.private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": tokens.kid}).encode())
    payload = _b64url(json.dumps(_good_claims(tokens)).encode())
    signature = _b64url(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return {"authorization": f"Bearer {header}.{payload}.{signature}"}


def claims_changed_after_signing(tokens: TokenMinter) -> dict[str, str]:
    header, _, signature = tokens.token(USER).split(".")
    payload = _b64url(json.dumps(_good_claims(tokens) | {"sub": "user_admin"}).encode())
    return {"authorization": f"Bearer {header}.{payload}.{signature}"}


@functools.cache
def _another_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed_by_another_key(tokens: TokenMinter) -> dict[str, str]:
    return TokenMinter(_another_key(), tokens.kid).auth(USER)


def unknown_kid(tokens: TokenMinter) -> dict[str, str]:
    return TokenMinter(tokens.private_key, "rotated-away").auth(USER)


# --- POST /api/{images,videos}/generate: the case table ------------------------------------------------

VALID = {"prompt": "Un phare breton au coucher du soleil"}


def as_json(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


def fields(**changes: Any) -> str:
    """VALID with some fields set (a body the route must refuse because of them)."""
    return as_json({**VALID, **changes})


def padded_to(size: int) -> str:
    """A valid generate body of exactly `size` bytes (JSON whitespace takes up the room)."""
    head, tail = '{"prompt": "Un phare breton"', "}"
    body = head + " " * (size - len(head) - len(tail)) + tail
    assert len(body.encode()) == size
    return body


@dataclass(frozen=True)
class GenerateCase:
    id: str
    status: int
    code: str
    body: str | bytes | None = as_json(VALID)  # bytes are sent base64-encoded (isBase64Encoded)
    content_type: str | None = "application/json"
    auth: AuthHeaders = signed_in
    kinds: tuple[Kind, ...] = KINDS
    method: str = "POST"
    raw_base64_body: str | None = None  # sent as is, with isBase64Encoded

    def event(self, kind: Kind, tokens: TokenMinter) -> Event:
        headers = self.auth(tokens)
        if self.content_type is not None:
            headers["content-type"] = self.content_type
        path = f"/api/{kind}s/generate"
        if self.raw_base64_body is not None:
            event = http_event(self.method, path, headers=headers)
            event.update(body=self.raw_base64_body, isBase64Encoded=True)
            return event
        return http_event(
            self.method, path, body=self.body, headers=headers, base64_body=isinstance(self.body, bytes)
        )


def unauthorized(case_id: str, auth: AuthHeaders, code: str = "invalid_token", **kw: Any) -> GenerateCase:
    return GenerateCase(case_id, 401, code, auth=auth, **kw)


def wrong_type(case_id: str, content_type: str | None) -> GenerateCase:
    return GenerateCase(case_id, 415, "unsupported_media_type", content_type=content_type)


def malformed(case_id: str, body: str | bytes) -> GenerateCase:
    return GenerateCase(case_id, 400, "malformed_json", body=body)


def invalid(case_id: str, body: str, kinds: tuple[Kind, ...] = KINDS) -> GenerateCase:
    return GenerateCase(case_id, 422, "validation_error", body=body, kinds=kinds)


def too_large(case_id: str, body: str | bytes) -> GenerateCase:
    return GenerateCase(case_id, 413, "payload_too_large", body=body)


EMOJI_PROMPT = "🎨" * (MAX_PROMPT + 1)

GENERATE_CASES: list[GenerateCase] = [
    # Who is calling (checked first, whatever the body)
    unauthorized("no_token", no_token, "missing_token"),
    unauthorized("empty_bearer", authorization("Bearer "), "missing_token"),
    unauthorized("basic_scheme", authorization("Basic dXNlcl9hOnB3"), "missing_token"),
    unauthorized("token_without_scheme", lambda t: {"authorization": t.token(USER)}, "missing_token"),
    unauthorized("expired_token", token_with(expires_in=-60), "token_expired"),
    unauthorized("wrong_issuer", token_with(issuer="https://clerk.evil.dev")),
    unauthorized("issuer_with_trailing_slash", token_with(issuer=ISSUER + "/")),
    unauthorized("not_valid_yet", token_with(not_before=120)),
    unauthorized("foreign_azp", token_with(azp="https://evil.example")),
    unauthorized("empty_sub", lambda t: t.auth("")),
    unauthorized("pending_session", token_with(sts="pending")),
    unauthorized("alg_none", alg_none),
    unauthorized("hs256_signed_with_the_public_key", hs256_with_the_public_key),
    unauthorized("claims_changed_after_signing", claims_changed_after_signing),
    unauthorized("signed_by_another_key", signed_by_another_key),
    unauthorized("unknown_kid", unknown_kid),
    unauthorized("garbage_token", authorization("Bearer not.a.jwt")),
    unauthorized("token_over_8192_chars", authorization("Bearer " + "a" * 9000)),
    unauthorized("no_token_and_malformed_json", no_token, "missing_token", body="{"),
    unauthorized(
        "no_token_and_body_over_64_kib", no_token, "missing_token", body=padded_to(MAX_GENERATE_BYTES + 1)
    ),
    # Method and content type
    GenerateCase("get_method", 404, "not_found", method="GET"),
    GenerateCase("put_method", 404, "not_found", method="PUT"),
    wrong_type("text_plain", "text/plain"),
    wrong_type("no_content_type", None),
    wrong_type("form_urlencoded", "application/x-www-form-urlencoded"),
    wrong_type("multipart", "multipart/form-data; boundary=x"),
    wrong_type("xml", "application/xml"),
    # Not JSON, or JSON we refuse to parse
    malformed("truncated_json", '{"prompt": "Un phare'),
    malformed("empty_body", ""),
    GenerateCase("no_body", 400, "malformed_json", body=None),
    malformed("single_quoted_json", "{'prompt': 'Un phare'}"),
    malformed("trailing_data", as_json(VALID) + " {}"),
    malformed("utf8_bom", "\ufeff" + as_json(VALID)),
    malformed("invalid_utf8_latin1", b'{"prompt": "caf\xe9"}'),
    malformed("invalid_utf8_overlong_slash", b'{"prompt": "\xc0\xaf"}'),
    malformed("invalid_utf8_encoded_surrogate", b'{"prompt": "\xed\xa0\x80"}'),
    malformed("lone_surrogate_in_event_text", '{"prompt": "\ud800"}'),
    GenerateCase("invalid_base64", 400, "malformed_body", raw_base64_body="!!!not base64!!!"),
    malformed("duplicate_keys", '{"prompt": "a", "prompt": "b"}'),
    malformed("duplicate_keys_other_field", '{"prompt": "a", "num_images": 1, "num_images": 8}'),
    malformed("30000_nested_arrays", '{"prompt": "x", "model": ' + "[" * 30_000 + "]" * 30_000 + "}"),
    malformed("10000_nested_objects", '{"a":' * 10_000 + "1" + "}" * 10_000),
    invalid("9000_nested_objects_parse_then_fail_validation", '{"a":' * 9_000 + "1" + "}" * 9_000),
    malformed("nan", '{"prompt": "x", "num_images": NaN}'),
    malformed("infinity", '{"prompt": "x", "duration_seconds": Infinity}'),
    malformed("raw_nul_in_string", '{"prompt": "a\x00b"}'),
    malformed("raw_newline_in_string", '{"prompt": "a\nb"}'),
    malformed("integer_of_5000_digits", '{"prompt": "x", "num_images": ' + "9" * 5000 + "}"),
    # JSON, but not an object
    invalid("array_body", as_json([VALID])),
    invalid("null_body", "null"),
    invalid("string_body", '"Un phare"'),
    invalid("number_body", "42"),
    invalid("true_body", "true"),
    # prompt
    invalid("prompt_missing", as_json({"num_images": 1})),
    invalid("empty_object", "{}"),
    invalid("prompt_empty", fields(prompt="")),
    invalid("prompt_blank", fields(prompt="    ")),
    invalid("prompt_only_whitespace_controls", fields(prompt="\n\t \r")),
    invalid("prompt_4001_chars", fields(prompt="a" * (MAX_PROMPT + 1))),
    invalid("prompt_4001_emoji", fields(prompt=EMOJI_PROMPT)),
    invalid("prompt_number", fields(prompt=42)),
    invalid("prompt_null", fields(prompt=None)),
    invalid("prompt_true", fields(prompt=True)),
    invalid("prompt_list", fields(prompt=["Un phare"])),
    invalid("prompt_object", fields(prompt={"text": "Un phare"})),
    invalid("prompt_nul", fields(prompt="Un phare\x00breton")),
    invalid("prompt_bell", fields(prompt="Un phare\x07")),
    invalid("prompt_escape_sequence", fields(prompt="\x1b[31mUn phare\x1b[0m")),
    invalid("prompt_del", fields(prompt="Un phare\x7f")),
    invalid("prompt_c1_next_line", fields(prompt="Un phare\x85breton")),
    invalid("prompt_lone_surrogate_escape", '{"prompt": "\\ud800 phare"}'),
    invalid("prompt_10000_element_list", fields(prompt=["x"] * 10_000)),
    # job_id
    invalid("job_id_with_slash", fields(job_id="job/other")),
    invalid("job_id_traversal", fields(job_id="../job_seed")),
    invalid("job_id_with_space", fields(job_id="job 1")),
    invalid("job_id_65_chars", fields(job_id="j" * 65)),
    invalid("job_id_non_ascii", fields(job_id="jöb")),
    invalid("job_id_number", fields(job_id=12345)),
    invalid("job_id_empty", fields(job_id="")),
    invalid("job_id_trailing_newline", fields(job_id="job_x\n")),
    invalid("job_id_nul", fields(job_id="job\x00x")),
    invalid("job_id_list", fields(job_id=["job_x"])),
    # num_images
    invalid("num_images_0", fields(num_images=0)),
    invalid("num_images_9", fields(num_images=9)),
    invalid("num_images_minus_1", fields(num_images=-1)),
    invalid("num_images_string", fields(num_images="2")),
    invalid("num_images_float", fields(num_images=2.5)),
    invalid("num_images_float_2_0", fields(num_images=2.0)),
    invalid("num_images_true", fields(num_images=True)),
    invalid("num_images_10_pow_30", fields(num_images=10**30)),
    invalid("num_images_1e999", '{"prompt": "x", "num_images": 1e999}'),
    invalid("num_images_10000_element_list", fields(num_images=[1] * 10_000)),
    invalid("num_images_2_on_a_video", fields(num_images=2), kinds=("video",)),
    invalid("num_images_8_on_a_video", fields(num_images=8), kinds=("video",)),
    # size
    invalid("size_0x0", fields(size="0x0")),
    invalid("size_axb", fields(size="axb")),
    invalid("size_1024", fields(size="1024")),
    invalid("size_99999x1", fields(size="99999x1")),
    invalid("size_minus_5x5", fields(size="-5x5")),
    invalid("size_8193x8193", fields(size="8193x8193")),
    invalid("size_with_spaces", fields(size="1024 x 1024")),
    invalid("size_capital_x", fields(size="1024X1024")),
    invalid("size_three_parts", fields(size="1024x1024x1")),
    invalid("size_fullwidth_digits", fields(size="\uff11\uff10\uff12\uff14x\uff11")),
    invalid("size_empty", fields(size="")),
    invalid("size_number", fields(size=1024)),
    # duration_seconds
    invalid("duration_0", fields(duration_seconds=0)),
    invalid("duration_61", fields(duration_seconds=61)),
    invalid("duration_string", fields(duration_seconds="8")),
    invalid("duration_float", fields(duration_seconds=8.5)),
    invalid("duration_true", fields(duration_seconds=True)),
    invalid("duration_on_an_image", fields(duration_seconds=8), kinds=("image",)),
    # model
    invalid("model_with_spaces", fields(model="gemini 2.5 flash")),
    invalid("model_101_chars", fields(model="m" * 101)),
    invalid("model_empty", fields(model="")),
    invalid("model_non_ascii", fields(model="modèle")),
    invalid("model_trailing_newline", fields(model="gemini\n")),
    invalid("model_number", fields(model=25)),
    # Fields nobody may set, or that do not exist
    invalid("unknown_field", fields(prompt2="x")),
    invalid("author_spoofed_with_user_id", fields(user_id="user_b")),
    invalid("organization_spoofed", fields(organization_id="org_evil")),
    invalid("status_set_by_the_client", fields(status="completed")),
    invalid("author_id_set_by_the_client", fields(author_id="user_b")),
    # Size of the body
    too_large("body_one_byte_over_64_kib", padded_to(MAX_GENERATE_BYTES + 1)),
    too_large("body_one_byte_over_64_kib_base64", padded_to(MAX_GENERATE_BYTES + 1).encode()),
    too_large("body_of_1_mib", fields(prompt="x" * 1024 * 1024)),
    too_large("body_of_100000_element_list", fields(model=list(range(100_000)))),
]


def assert_unique(ids: list[str]) -> None:
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("kind", KINDS)
def test_generate_refuses_hostile_input_and_writes_nothing(
    kind: Kind, subtests: pytest.Subtests, store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    assert_unique([case.id for case in GENERATE_CASES])
    assert store.snapshot() == State({}, {}, 0)
    for case in GENERATE_CASES:
        if kind not in case.kinds:
            continue
        with subtests.test(msg=case.id):
            # Given a request the route must refuse; when it reaches the route; then it is refused with
            # the contract's 4xx, before any AWS request, and nothing is written
            run_refused(
                store,
                aws_requests,
                generate_handler,
                case.event(kind, tokens),
                status=case.status,
                code=case.code,
                case=case.id,
            )


# --- Accepted controls: the boundaries just inside the rules ----------------------------------------


def max_prompt() -> str:
    """Exactly MAX_PROMPT characters (code points), with emoji (astral and ZWJ sequences), precomposed
    and decomposed accents, and newlines: more than MAX_PROMPT bytes of UTF-8."""
    motif = "Un phare breton, été 🌅 — crème brûlée, cafe\u0301 👩\u200d👩\u200d👧 « Ça va ? »\n"
    prompt = (motif * (MAX_PROMPT // len(motif) + 1))[:MAX_PROMPT]
    assert len(prompt) == MAX_PROMPT and len(prompt.encode()) > MAX_PROMPT
    return prompt


@dataclass(frozen=True)
class Accepted:
    id: str
    payload: dict[str, Any]
    kinds: tuple[Kind, ...] = KINDS
    content_type: str = "application/json"
    ensure_ascii: bool = False
    base64_body: bool = False
    raw_body: str | None = None  # sent instead of the payload's JSON (same document)


ACCEPTED_CASES = [
    Accepted("max_prompt_as_utf8", {"prompt": max_prompt()}),
    Accepted("max_prompt_as_ascii_escapes", {"prompt": max_prompt()}, ensure_ascii=True),
    Accepted("max_prompt_in_a_base64_body", {"prompt": max_prompt()}, base64_body=True),
    Accepted(
        "prompt_with_newlines_tabs_and_invisible_chars", {"prompt": "Ligne 1\r\n\tLigne 2 \u200b\u2028"}
    ),
    Accepted("job_id_64_chars", {"prompt": "x", "job_id": "J" * 63}),  # the 64th is the kind's letter
    Accepted("num_images_1", {"prompt": "x", "num_images": 1}),
    Accepted("num_images_8", {"prompt": "x", "num_images": 8}, kinds=("image",)),
    Accepted("duration_1", {"prompt": "x", "duration_seconds": 1}, kinds=("video",)),
    Accepted("duration_60", {"prompt": "x", "duration_seconds": 60}, kinds=("video",)),
    Accepted("size_8192x8192", {"prompt": "x", "size": "8192x8192"}),
    Accepted("size_1x1", {"prompt": "x", "size": "1x1"}),
    Accepted("model_100_chars", {"prompt": "x", "model": "gemini-2.5:flash/image." + "m" * 77}),
    Accepted("explicit_nulls", {"prompt": "x", "job_id": None, "model": None, "size": None}),
    Accepted("content_type_with_charset", {"prompt": "x"}, content_type="application/json; charset=utf-8"),
    Accepted("content_type_upper_case", {"prompt": "x"}, content_type="Application/JSON"),
    Accepted("body_of_exactly_64_kib", {"prompt": "Un phare breton"}, raw_body=padded_to(MAX_GENERATE_BYTES)),
]


@pytest.mark.parametrize("kind", KINDS)
def test_generate_accepts_the_boundaries_and_keeps_the_prompt_byte_for_byte(
    kind: Kind, subtests: pytest.Subtests, store: Store, tokens: TokenMinter, lambda_context: Any
) -> None:
    headers = signed_in(tokens)
    for number, case in enumerate(ACCEPTED_CASES):
        if kind not in case.kinds:
            continue
        with subtests.test(msg=case.id):
            # Given a request just inside every rule (with its own job id when it names one)
            payload = dict(case.payload)
            if "job_id" in payload and payload["job_id"] is not None:
                payload["job_id"] += kind[0]
            body = case.raw_body or json.dumps(payload, ensure_ascii=case.ensure_ascii)
            queued = store.queued()
            event = http_event(
                "POST",
                f"/api/{kind}s/generate",
                body=body.encode() if case.base64_body else body,
                headers={**headers, "content-type": case.content_type},
                base64_body=case.base64_body,
            )

            # When it is posted
            response = generate_handler(event, lambda_context)

            # Then the job is created (202), queued once, with the prompt exactly as sent
            assert response["statusCode"] == 202, f"[{case.id}] {response['body'][:300]}"
            answer = response_json(response)
            if payload.get("job_id"):
                assert answer["job_id"] == payload["job_id"]
            job = Generation.get(answer["job_id"], consistent_read=True)
            assert job.prompt == payload["prompt"]
            assert job.prompt.encode("utf-8") == payload["prompt"].encode("utf-8")
            assert (job.kind, job.author_id, job.organization_id, job.status) == (kind, USER, ORG, "queued")
            assert store.queued() == queued + 1, f"[{case.id}] case {number}: one dispatch message"


# --- Regressions: `re.match` with `$` let a trailing newline through ----------------------------------


def test_size_with_a_trailing_newline_is_refused(
    store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    for kind in KINDS:
        event = GenerateCase("size_trailing_newline", 422, "validation_error").event(kind, tokens)
        event["body"] = fields(size="1024x1024\n")
        run_refused(
            store,
            aws_requests,
            generate_handler,
            event,
            status=422,
            code="validation_error",
            case=f"size_trailing_newline_{kind}",
        )


def test_unknown_field_names_are_not_echoed_back(
    store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    body = as_json({**VALID, **{f"{index:02d}" + "k" * 3000: 1 for index in range(20)}})
    assert len(body) < MAX_GENERATE_BYTES
    event = GenerateCase("unknown_field_names", 422, "validation_error", body=body).event("image", tokens)
    run_refused(
        store,
        aws_requests,
        generate_handler,
        event,
        status=422,
        code="validation_error",
        case="20_unknown_fields_with_3000_char_names",
    )


# --- Cancel, status and result: job ids that cannot exist ---------------------------------------------

SEEDED = {"image": "job_seed_image", "video": "job_seed_video"}

IMPOSSIBLE_JOB_IDS = [
    ("dot_dot", ".."),
    ("single_dot", "."),
    ("dot_dot_url_encoded", "%2E%2E"),
    ("slash_url_encoded", "a%2Fb"),
    ("slash_raw", "a/b"),
    ("seeded_id_then_encoded_traversal", "job_seed_image%2F..%2F..%2Fx"),
    ("65_chars", "j" * 65),
    ("unicode", "jöb"),
    ("unicode_url_encoded", quote("jöb")),
    ("emoji", "🎨"),
    ("nul_url_encoded", "job_seed_image%00"),
    ("newline_url_encoded", "job_seed_image%0A"),
    ("space_url_encoded", "job%20seed"),
    ("quote_and_comment", "job';--"),
    ("braces", "{job_id}"),
]


def seed_jobs() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for kind, job_id in SEEDED.items():
        Generation(
            job_id=job_id,
            kind=kind,
            author_id=USER,
            organization_id=ORG,
            prompt="Un phare",
            num_images=1,
            size="1024x1024",
            status="queued",
            progress=0,
            source="api",
            created_at=now,
            updated_at=now,
        ).save()


ROUTES = [
    pytest.param(cancel_handler, "POST", "cancel", id="cancel"),
    pytest.param(status_handler, "GET", "status", id="status"),
    pytest.param(result_handler, "GET", "result", id="result"),
]


@pytest.mark.parametrize(("handler", "method", "action"), ROUTES)
def test_job_routes_answer_404_for_ids_that_cannot_exist_without_asking_dynamodb(
    handler: Handler,
    method: str,
    action: str,
    subtests: pytest.Subtests,
    store: Store,
    tokens: TokenMinter,
    aws_requests: Any,
) -> None:
    assert_unique([case_id for case_id, _ in IMPOSSIBLE_JOB_IDS])
    seed_jobs()  # a queued job of the caller per kind, which no case may reach or change
    for kind in KINDS:
        for case_id, job_id in IMPOSSIBLE_JOB_IDS:
            with subtests.test(msg=f"{kind}_{case_id}"):
                event = http_event(method, f"/api/{kind}s/{job_id}/{action}", headers=signed_in(tokens))
                run_refused(
                    store,
                    aws_requests,
                    handler,
                    event,
                    status=404,
                    code="not_found",
                    case=f"{kind}_{case_id}",
                )
        for case_id, job_id in [("seeded_job", SEEDED[kind]), ("impossible_id", "..")]:
            with subtests.test(msg=f"{kind}_no_token_{case_id}"):
                event = http_event(method, f"/api/{kind}s/{job_id}/{action}")
                run_refused(
                    store,
                    aws_requests,
                    handler,
                    event,
                    status=401,
                    code="missing_token",
                    case=f"{kind}_no_token_{case_id}",
                )
    assert Generation.get(SEEDED["image"]).status == "queued"


# --- GET /api/notifications and POST /api/notifications/{id}/read --------------------------------------

SEED_TIME = datetime(2026, 1, 1, tzinfo=UTC)
MINE = notification_id(SEED_TIME, "job_mine")
THEIRS = notification_id(SEED_TIME, "job_theirs")


def seed_notifications() -> None:
    for user_id, item_id, job_id in [(USER, MINE, "job_mine"), ("user_b", THEIRS, "job_theirs")]:
        Notification(
            user_id=user_id,
            notification_id=item_id,
            unread_user_id=user_id,
            type="IMAGE_COMPLETED",
            title="🎨 Images générées avec succès",
            message="1 image(s) créée(s).",
            read=False,
            created_at=SEED_TIME,
            generation_id=job_id,
            source="api",
        ).save()


def cursor_of(raw: bytes | str) -> str:
    """An opaque cursor as the route makes them: unpadded URL-safe base64 of JSON."""
    return _b64url(raw.encode() if isinstance(raw, str) else raw)


def list_event(query: dict[str, str], headers: dict[str, str]) -> Event:
    event = http_event("GET", "/api/notifications", headers=headers)
    event["rawQueryString"] = urlencode(query)
    if query:
        event["queryStringParameters"] = query
    return event


def bad_query(case_id: str, query: dict[str, str]) -> tuple[str, dict[str, str], int, str]:
    return (case_id, query, 422, "validation_error")


def bad_cursor(case_id: str, cursor: str) -> tuple[str, dict[str, str], int, str]:
    return (case_id, {"cursor": cursor}, 400, "invalid_cursor")


LIST_CASES = [
    bad_query("limit_0", {"limit": "0"}),
    bad_query("limit_101", {"limit": "101"}),
    bad_query("limit_minus_1", {"limit": "-1"}),
    bad_query("limit_x", {"limit": "x"}),
    bad_query("limit_1_5", {"limit": "1.5"}),
    bad_query("limit_empty", {"limit": ""}),
    bad_query("limit_repeated", {"limit": "5,6"}),  # HTTP API joins repeated parameters with commas
    bad_query("limit_1e2", {"limit": "1e2"}),
    bad_query("limit_huge", {"limit": "9" * 30}),
    bad_query("limit_nan", {"limit": "NaN"}),
    bad_query("unread_yes", {"unread": "yes"}),
    bad_query("unread_1", {"unread": "1"}),
    bad_query("unread_upper_case", {"unread": "TRUE"}),
    bad_query("unread_empty", {"unread": ""}),
    bad_query("unknown_parameter", {"page": "2"}),
    bad_query("user_id_parameter", {"user_id": "user_b"}),
    bad_query("parameter_name_case", {"Limit": "5"}),
    bad_query("cursor_over_512_chars", {"cursor": "A" * 513}),
    bad_query("cursor_empty", {"cursor": ""}),
    bad_cursor("cursor_garbage", "!!!not base64!!!"),
    bad_cursor("cursor_percent_garbage", "%%%%"),
    bad_cursor("cursor_one_char", "A"),
    bad_cursor("cursor_base64_of_binary", cursor_of(b"\xff\xfe\x00\x01garbage")),
    bad_cursor("cursor_base64_of_text", cursor_of("hello")),
    bad_cursor("cursor_json_list", cursor_of(json.dumps([MINE]))),
    bad_cursor("cursor_json_string", cursor_of(json.dumps(MINE))),
    bad_cursor("cursor_json_number", cursor_of("42")),
    bad_cursor("cursor_json_null", cursor_of("null")),
    bad_cursor("cursor_json_nested", cursor_of("[" * 150 + "]" * 150)),
    bad_cursor("cursor_without_after", cursor_of(json.dumps({"before": MINE}))),
    bad_cursor("cursor_after_number", cursor_of(json.dumps({"after": 5}))),
    bad_cursor("cursor_after_infinite", cursor_of('{"after": 1e999}')),
    bad_cursor("cursor_after_null", cursor_of(json.dumps({"after": None}))),
    bad_cursor("cursor_after_not_an_id", cursor_of(json.dumps({"after": "x"}))),
    bad_cursor("cursor_after_dynamodb_value", cursor_of(json.dumps({"after": {"S": MINE}}))),
    bad_cursor("cursor_after_traversal", cursor_of(json.dumps({"after": MINE[:-8] + "../x"}))),
    bad_cursor("cursor_standard_base64_with_padding", base64.b64encode(b'{"after": "x"}').decode()),
]


def test_notifications_list_refuses_bad_queries(
    subtests: pytest.Subtests, store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    assert_unique([case[0] for case in LIST_CASES])
    seed_notifications()
    headers = tokens.auth(USER)
    for case_id, query, status, code in LIST_CASES:
        with subtests.test(msg=case_id):
            run_refused(
                store,
                aws_requests,
                notifications_handler,
                list_event(query, headers),
                status=status,
                code=code,
                case=case_id,
            )
    with subtests.test(msg="no_token"):
        run_refused(
            store,
            aws_requests,
            notifications_handler,
            list_event({"limit": "5"}, {}),
            status=401,
            code="missing_token",
            case="no_token",
        )


def test_a_cursor_naming_an_id_with_a_trailing_newline_is_refused(
    store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    seed_notifications()
    run_refused(
        store,
        aws_requests,
        notifications_handler,
        list_event({"cursor": cursor_of(json.dumps({"after": MINE + "\n"}))}, tokens.auth(USER)),
        status=400,
        code="invalid_cursor",
        case="cursor_after_trailing_newline",
    )


MALFORMED_NOTIFICATION_IDS = [
    ("x", "x"),
    ("dot_dot", ".."),
    ("dot_dot_url_encoded", "%2E%2E"),
    ("slash_url_encoded", "a%2Fb"),
    ("slash_raw", "a/b"),
    ("mine_then_newline", MINE + "%0A"),
    ("mine_then_nul", MINE + "%00"),
    ("mine_then_traversal", MINE + "%2F..%2F" + THEIRS),
    ("mine_lower_case", MINE.lower()),
    ("empty_job_part", notification_id(SEED_TIME, "")),
    ("job_part_65_chars", notification_id(SEED_TIME, "j" * 65)),
    ("iso_timestamp", "2026-01-01T00:00:00Z_job_mine"),
    ("unicode_job_part", notification_id(SEED_TIME, "jöb")),
    ("emoji", "🔔"),
]


def test_marking_a_malformed_or_foreign_notification_read_is_404(
    subtests: pytest.Subtests, store: Store, tokens: TokenMinter, aws_requests: Any
) -> None:
    assert_unique([case_id for case_id, _ in MALFORMED_NOTIFICATION_IDS])
    seed_notifications()  # one unread notification of the caller, one of user_b: neither may change
    headers = tokens.auth(USER)
    for case_id, item_id in MALFORMED_NOTIFICATION_IDS:
        with subtests.test(msg=case_id):
            event = http_event("POST", f"/api/notifications/{item_id}/read", headers=headers)
            run_refused(
                store, aws_requests, notifications_handler, event, status=404, code="not_found", case=case_id
            )
    with subtests.test(msg="another_users_notification"):
        event = http_event("POST", f"/api/notifications/{THEIRS}/read", headers=headers)
        run_refused(
            store,
            aws_requests,
            notifications_handler,
            event,
            status=404,
            code="not_found",
            case="another_users_notification",
            aws_calls_allowed=True,  # a well-formed id: the one conditional update is allowed
        )
    with subtests.test(msg="no_token"):
        event = http_event("POST", f"/api/notifications/{MINE}/read")
        run_refused(
            store,
            aws_requests,
            notifications_handler,
            event,
            status=401,
            code="missing_token",
            case="no_token",
        )
    assert Notification.get(USER, MINE).read is False
    assert Notification.get("user_b", THEIRS).read is False


# --- A small fuzz: random JSON-ish bodies for generate -------------------------------------------------

FUZZ_SEED = 1234
FUZZ_BODIES = 200
CONTROL_CHARS = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]]
ACCENTS = "éèêëàâçîïôöùûüÿœæÉÈÇÀ"
SPECIALS = ["\u200b", "\u2028", "\u2029", "\ufeff", "\uffff", "\u0301", "\u202e", "\\", '"', "/"]


def random_char(rng: random.Random, *, controls: bool) -> str:
    pick = rng.random()
    if controls and pick < 0.1:
        return rng.choice(CONTROL_CHARS)
    if pick < 0.5:
        return chr(rng.randint(0x20, 0x7E))
    if pick < 0.6:
        return rng.choice(ACCENTS)
    if pick < 0.7:
        return rng.choice(SPECIALS)
    if pick < 0.85:
        code = rng.randint(0xA0, 0xFFFD)
        return chr(code) if not 0xD800 <= code <= 0xDFFF else "\u00e9"  # no surrogates
    return chr(rng.randint(0x10000, 0x10FFFF))


def random_text(rng: random.Random, *, controls: bool = True, longest: int = 60) -> str:
    length = rng.choice([0, 1, rng.randint(0, longest), rng.randint(0, longest), MAX_PROMPT, MAX_PROMPT + 1])
    return "".join(random_char(rng, controls=controls) for _ in range(length))


def random_junk(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value: unicode text (control characters included), huge integers, floats (inf and nan
    included: sent as Infinity and NaN), booleans, null, nested lists and objects."""
    choice = rng.randrange(10 if depth < 3 else 7)
    if choice == 0:
        return random_text(rng)
    if choice == 1:
        return rng.choice([-1, 1]) * rng.randint(0, 10 ** rng.randint(1, 4000))
    if choice == 2:
        return rng.randint(-20, 20)
    if choice == 3:
        return rng.choice([rng.uniform(-1e6, 1e6), 1e308, -0.0, 5e-324, 2.0, float("inf"), float("nan")])
    if choice == 4:
        return rng.choice([True, False])
    if choice in (5, 6):
        return None
    if choice == 7:
        return [random_junk(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if choice == 8:
        return {random_text(rng, longest=10): random_junk(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [rng.randint(0, 9)] * rng.randint(10, 10_000)


def random_field(rng: random.Random, absent: float, plausible: Callable[[], Any]) -> Any:
    pick = rng.random()
    if pick < absent:
        return _ABSENT
    if pick < absent + (1 - absent) * 0.75:
        return plausible()
    return random_junk(rng)


_ABSENT = object()


def random_body(rng: random.Random) -> Any:
    if rng.random() < 0.04:
        return random_junk(rng)  # mostly not an object
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    candidates = {
        "prompt": random_field(
            rng, 0.1, lambda: random_text(rng, controls=rng.random() < 0.2, longest=300) or "x"
        ),
        "job_id": random_field(
            rng, 0.5, lambda: "fz" + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 63)))
        ),
        "model": random_field(rng, 0.6, lambda: rng.choice(["gemini-2.5-flash-image", "veo-3", "m" * 101])),
        "num_images": random_field(rng, 0.6, lambda: rng.randint(0, 10)),
        "size": random_field(rng, 0.6, lambda: f"{rng.randint(0, 9000)}x{rng.randint(0, 9000)}"),
        "duration_seconds": random_field(rng, 0.7, lambda: rng.randint(0, 70)),
    }
    body = {name: value for name, value in candidates.items() if value is not _ABSENT}
    if rng.random() < 0.05:
        body[random_text(rng, longest=10)] = random_junk(rng)
    return body


@dataclass
class FuzzLog:
    accepted: dict[str, tuple[Kind, str]] = field(default_factory=dict)  # job id -> (kind, prompt)
    refused: int = 0
    problems: list[str] = field(default_factory=list)


# The requests that can write: a request answered 4xx sends none of them.
WRITE_OPERATIONS = frozenset(
    {
        "dynamodb.PutItem",
        "dynamodb.UpdateItem",
        "dynamodb.DeleteItem",
        "dynamodb.BatchWriteItem",
        "dynamodb.TransactWriteItems",
        "sqs.SendMessage",
        "sqs.SendMessageBatch",
    }
)


def counts(store: Store) -> tuple[int, int, int]:
    """Items in each table and messages on the queue: cheap enough to take around each request (a
    full snapshot of a table growing to dozens of 4,000-character prompts is not)."""
    return Generation.count(), Notification.count(), store.queued()


def test_fuzzed_generate_bodies_get_2xx_or_4xx_and_a_4xx_writes_nothing(
    store: Store, tokens: TokenMinter, lambda_context: Any, aws_requests: Any
) -> None:
    rng = random.Random(FUZZ_SEED)
    headers = signed_in(tokens)
    log = FuzzLog()
    for number in range(FUZZ_BODIES):
        # Given a random body (as UTF-8 or ASCII escapes, sometimes base64-encoded)
        kind: Kind = rng.choice(KINDS)
        document = random_body(rng)
        text = json.dumps(document, ensure_ascii=rng.random() < 0.3)
        encoded = rng.random() < 0.2
        event = http_event(
            "POST",
            f"/api/{kind}s/generate",
            body=text.encode() if encoded else text,
            headers={**headers, "content-type": "application/json"},
            base64_body=encoded,
        )
        before = counts(store)
        aws_requests.clear()

        # When it is posted
        response = generate_handler(event, lambda_context)
        writes = sorted(set(aws_requests.by_operation()) & WRITE_OPERATIONS)

        # Then the answer is 2xx or 4xx, never 5xx; a 2xx job has exactly the prompt sent; a 4xx sends
        # no write request and leaves both tables and the queue as they were
        status = response["statusCode"]
        where = f"body {number} ({kind}, {text[:200]!r}): {status} {response['body'][:200]}"
        if 200 <= status < 300:
            check_accepted(store, before, kind, document, response, where, log)
        elif 400 <= status < 500:
            log.refused += 1
            try:
                # (no size bound here: see test_unknown_field_names_are_not_echoed_back)
                assert_refused(
                    response, status, response_json(response)["code"], f"fuzz {number}", max_body=None
                )
            except (AssertionError, KeyError, TypeError) as exc:
                log.problems.append(f"{where}: bad error body: {exc}")
            if writes or counts(store) != before:
                log.problems.append(f"{where}: 4xx but {writes} sent, counts {before} -> {counts(store)}")
        else:
            log.problems.append(f"{where}: neither 2xx nor 4xx")
    assert not log.problems, "\n".join(log.problems[:10])

    # At the end the table holds exactly the accepted jobs, each with its prompt as sent
    stored = {job.job_id: (job.kind, job.prompt) for job in Generation.scan(consistent_read=True)}
    assert stored == log.accepted
    assert list(Notification.scan()) == []
    # The fuzz exercised both answers
    assert len(log.accepted) >= 20 and log.refused >= 100, (len(log.accepted), log.refused)


def check_accepted(
    store: Store,
    before: tuple[int, int, int],
    kind: Kind,
    document: Any,
    response: Response,
    where: str,
    log: FuzzLog,
) -> None:
    job_id = response_json(response).get("job_id")
    try:
        job = Generation.get(job_id, consistent_read=True)
    except Generation.DoesNotExist:
        log.problems.append(f"{where}: 2xx but job {job_id!r} does not exist")
        return
    if response["statusCode"] == 202:
        expected_prompt = document["prompt"]
        if job_id in log.accepted:
            log.problems.append(f"{where}: 202 for a job id already used")
        generations, notifications, queued = before
        if counts(store) != (generations + 1, notifications, queued + 1):
            log.problems.append(f"{where}: 202 but counts {before} -> {counts(store)}")
        log.accepted[job_id] = (kind, expected_prompt)
    else:  # 200: the same user repeating a job id gets the same job, unchanged
        first_kind, expected_prompt = log.accepted.get(job_id, (kind, "<not accepted before>"))
        if first_kind != kind:
            log.problems.append(f"{where}: 200 for a job of another kind")
    if job.prompt != expected_prompt or job.prompt.encode() != expected_prompt.encode():
        log.problems.append(f"{where}: stored prompt {job.prompt[:80]!r} != sent {expected_prompt[:80]!r}")
    if (job.kind, job.author_id) != (kind, USER):
        log.problems.append(f"{where}: stored as {job.kind}/{job.author_id}")
