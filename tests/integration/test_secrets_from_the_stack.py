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
