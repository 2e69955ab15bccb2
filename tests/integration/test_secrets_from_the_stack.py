"""The secrets as a deployed stack gives them: by ARN (WEBHOOK_SECRETS_ARN, GENERATOR_API_KEY_ARN), in
Secrets Manager, in the form the template generates them; the plain variables empty, as in AWS. The
other tests set the secrets directly; these prove the deployed path (and record its GetSecretValue
calls for tests/integration/test_permissions.py)."""

import json
import os
from typing import Any

import boto3
import pytest

from completion_webhook.app import lambda_handler as webhook_handler
from deploy.cli import signing_secret
from generate.app import lambda_handler as generate_handler
from tests.support import completion_payload, http_api_event, response_json, webhook_event

pytestmark = pytest.mark.usefixtures("aws")
# What Secrets Manager generates for the template's GenerateSecretString: 40 letters and digits.
GENERATED = "Zx4Qm9TfK2wLr7Yb1NcV8pHs3DgJ6uAe5RkWqE0i"


def stored_secret(name: str, value: str) -> str:
    arn: str = boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
    return arn


def test_a_webhook_signed_with_the_handed_over_secret_is_accepted_by_arn(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    stored = json.dumps({"secrets": GENERATED})
    monkeypatch.setenv("WEBHOOK_SECRETS", "")
    monkeypatch.setenv("WEBHOOK_SECRETS_ARN", stored_secret("WebhookSecrets", stored))
    event = webhook_event(completion_payload("job_arn_1", user_id="user_a"), secret=signing_secret(stored))
    response = webhook_handler(event, lambda_context)
    assert response["statusCode"] == 200, response["body"]
    assert response_json(response)["outcome"] == "created"
    unsigned = webhook_event(completion_payload("job_arn_2", user_id="user_a"), secret="whsec_" + "A" * 40)
    assert webhook_handler(unsigned, lambda_context)["statusCode"] == 401


def test_the_dispatcher_presents_the_generated_key_read_by_arn(
    monkeypatch: pytest.MonkeyPatch, tokens: Any, lambda_context: Any, fake_backend: Any, run_dispatcher: Any
) -> None:
    monkeypatch.setenv("GENERATOR_API_KEY", "")
    monkeypatch.setenv("GENERATOR_API_KEY_ARN", stored_secret("GeneratorApiKey", GENERATED))
    event = http_api_event(
        "POST",
        "/api/images/generate",
        body=json.dumps({"prompt": "Un phare", "job_id": "job_arn_3"}),
        headers={"content-type": "application/json", **tokens.auth("user_a")},
    )
    assert generate_handler(event, lambda_context)["statusCode"] == 202
    run_dispatcher()
    assert [request["job_id"] for request in fake_backend.requests] == ["job_arn_3"]
    assert fake_backend.headers[0]["authorization"] == f"Bearer {GENERATED}"
    assert os.environ["GENERATOR_API_KEY_ARN"].startswith("arn:aws:secretsmanager:")


def test_library_cursors_are_signed_with_the_generated_key_read_by_arn(
    monkeypatch: pytest.MonkeyPatch, tokens: Any, lambda_context: Any
) -> None:
    """Two jobs, pages of one: the first page's cursor, signed with the key read from Secrets Manager,
    opens the second page."""
    from library.app import lambda_handler as library_handler

    monkeypatch.setenv("LIBRARY_CURSOR_KEY", "")
    monkeypatch.setenv("LIBRARY_CURSOR_KEY_ARN", stored_secret("LibraryCursorKey", GENERATED + "abcdefgh"))
    headers = tokens.auth("user_a")
    for job_id in ("job_arn_4", "job_arn_5"):
        event = http_api_event(
            "POST",
            "/api/images/generate",
            body=json.dumps({"prompt": "Un phare", "job_id": job_id}),
            headers={"content-type": "application/json", **headers},
        )
        assert generate_handler(event, lambda_context)["statusCode"] == 202

    def page(cursor: str | None) -> dict[str, Any]:
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        event = http_api_event("GET", "/api/images", headers=headers)
        event["rawQueryString"] = "&".join(f"{key}={value}" for key, value in query.items())
        event["queryStringParameters"] = query
        response = library_handler(event, lambda_context)
        assert response["statusCode"] == 200, response["body"]
        answer: dict[str, Any] = response_json(response)
        return answer

    first = page(None)
    second = page(first["next_cursor"])
    assert [item["job_id"] for item in first["items"] + second["items"]] == ["job_arn_5", "job_arn_4"]


def cold_start() -> None:
    """What a function's cold start has not read yet: the secrets (in AWS each function reads its
    secrets itself; in one test process they would be shared)."""
    from mediagen.outbound import secrets

    secrets.forget()


def test_clerk_and_the_erasure_read_their_secrets_by_arn(
    monkeypatch: pytest.MonkeyPatch, tokens: Any, lambda_context: Any
) -> None:
    """Clerk's signing secret as `make clerk-webhook-secret` stores it, the erasure's hash key as the
    stack generates it: generate, the completion webhook, the Clerk webhook and the erasure worker read
    them by ARN (the plain variables empty, as in AWS)."""
    from clerk_webhook.app import lambda_handler as clerk_handler
    from deploy.cli import clerk_secret_value
    from erasure.app import lambda_handler as erasure_worker
    from local.harness.parties import CLERK_WEBHOOK_SECRET, clerk_event, clerk_payload
    from local.harness.sources import SqsEventSource
    from mediagen.data.models import Generation
    from mediagen.rules import erasure

    handed_over = clerk_secret_value(CLERK_WEBHOOK_SECRET, json.dumps({"secrets": GENERATED}), False)
    monkeypatch.setenv("CLERK_WEBHOOK_SECRETS", "")
    monkeypatch.setenv("CLERK_WEBHOOK_SECRETS_ARN", stored_secret("ClerkWebhookSecrets", handed_over))
    monkeypatch.setenv("ERASURE_HASH_KEY", "")
    monkeypatch.setenv("ERASURE_HASH_KEY_ARN", stored_secret("ErasureHashKey", GENERATED + GENERATED[:24]))
    monkeypatch.setenv("ERASURE_FINAL_PASS_DELAY_SECONDS", "0")
    event = http_api_event(
        "POST",
        "/api/images/generate",
        body=json.dumps({"prompt": "Un phare", "job_id": "job_arn_6"}),
        headers={"content-type": "application/json", **tokens.auth("user_gone")},
    )
    assert generate_handler(event, lambda_context)["statusCode"] == 202
    cold_start()  # each function reads the key at its own cold start in AWS
    delivered = webhook_handler(
        webhook_event(completion_payload("job_arn_6", user_id="user_gone")), lambda_context
    )
    assert response_json(delivered)["outcome"] == "updated"

    cold_start()
    deletion = clerk_handler(clerk_event(clerk_payload("user.deleted", "user_gone")), lambda_context)
    assert (deletion["statusCode"], response_json(deletion)["outcome"]) == (200, "erasing")
    queue = os.environ["ERASURE_QUEUE_URL"]
    cold_start()
    SqsEventSource(boto3.client("sqs"), queue, lambda e: erasure_worker(e, lambda_context)).drain(5)

    # No item under the erased job's id: its erased record, keyed by the stack's key
    assert Generation.count("job_arn_6") == 0
    assert Generation.get(erasure.erased_job_key("job_arn_6")).status == "erased"
    late = webhook_handler(
        webhook_event(completion_payload("job_arn_7", user_id="user_gone")), lambda_context
    )
    assert response_json(late)["outcome"] == "erased"
    assert generate_handler(event, lambda_context)["statusCode"] == 401
    forged = clerk_handler(
        clerk_event(clerk_payload("user.deleted", "user_x"), secret=GENERATED_WHSEC), lambda_context
    )
    assert forged["statusCode"] == 401  # the generated placeholder is no longer active


GENERATED_WHSEC = "whsec_" + GENERATED
