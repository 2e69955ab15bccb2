"""POST /api/{images,videos}/generate refuses hostile input, through the real handler against moto, and
accepts the boundaries just inside the rules.

It answers a request it must refuse with the contract's 4xx (401, 404, 413, 415, 400 or 422) and a small
JSON error body with a string `code` and `message` and no stack trace; never a 5xx. Nothing is written:
both tables hold exactly what the case seeded, unchanged, and the dispatch queue stays empty.

Each route's cases are a table of named cases run as subtests of one test (the moto fixture costs about
half a second per test; a case costs a few milliseconds). A failure names its case, e.g.
`SUBFAILED[prompt_4001_chars] ...::test_generate_refuses_hostile_input_and_writes_nothing[image]`, and
the store is put back as it was after each case, so one failing case cannot make the next one fail.

Three cases found production bugs (fixed since): a trailing newline through `$`, and echoed field names.
"""

import json
from dataclasses import dataclass
from typing import Any

import pytest

from generate.app import MAX_GENERATE_BYTES
from generate.app import lambda_handler as generate_handler
from mediagen.contract.payloads import MAX_PROMPT, Kind
from mediagen.data.models import Generation
from tests.integration.user_route_refusals import (
    KINDS,
    ORG,
    USER,
    AuthHeaders,
    Event,
    State,
    Store,
    alg_none,
    assert_unique,
    authorization,
    claims_changed_after_signing,
    hs256_with_the_public_key,
    no_token,
    run_refused,
    signed_by_another_key,
    signed_in,
    token_with,
    unknown_kid,
)
from tests.support import ISSUER, TokenMinter, http_api_event, response_json

pytestmark = pytest.mark.usefixtures("many_jobs_per_user", "aws")


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
            event = http_api_event(self.method, path, headers=headers)
            event.update(body=self.raw_base64_body, isBase64Encoded=True)
            return event
        return http_api_event(
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
            event = http_api_event(
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
