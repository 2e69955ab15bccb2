"""A small fuzz of POST /api/{images,videos}/generate: random JSON-ish bodies get a 2xx or a 4xx, and a
4xx writes nothing."""

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from generate.app import lambda_handler as generate_handler
from mediagen.contract.payloads import MAX_PROMPT, Kind
from mediagen.data.models import Generation, Notification
from tests.integration.user_route_refusals import (
    KINDS,
    USER,
    Response,
    Store,
    assert_refused,
    signed_in,
)
from tests.support import TokenMinter, http_api_event, response_json

pytestmark = pytest.mark.usefixtures("many_jobs_per_user", "aws")


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
        event = http_api_event(
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
