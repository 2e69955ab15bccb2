"""What a deploy hands over: the generated webhook secret in the form the backend's library takes, the
guided first deploy, and the template's deployment resources."""

import base64
import json
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from deploy.base.cfn_template import load_template
from deploy.cli import as_whsec, needs_guided, signing_secret
from mediagen.edge.webhook_signature import parse_secret_value, verify_delivery


def generated_secret_string() -> str:
    """What Secrets Manager stores for the template's GenerateSecretString: 40 letters and digits."""
    import secrets

    alphabet = string.ascii_letters + string.digits
    return json.dumps({"secrets": "".join(secrets.choice(alphabet) for _ in range(40))})


def test_the_template_generates_the_webhook_secret_in_a_usable_form() -> None:
    generate = load_template()["Resources"]["WebhookSecrets"]["Properties"]["GenerateSecretString"]
    assert generate["GenerateStringKey"] == "secrets" and generate["ExcludePunctuation"] is True
    assert generate["PasswordLength"] % 4 == 0  # base64 without padding: every character is key
    assert json.loads(generate["SecretStringTemplate"]) == {}


def test_a_delivery_signed_with_the_handed_over_secret_is_accepted() -> None:
    """Given the secret as the stack generates it, the backend signs with what `make webhook-secret`
    prints, and our verification (reading the stored value) accepts it."""
    stored = generated_secret_string()
    handed_over = signing_secret(stored)
    assert handed_over.startswith("whsec_")
    assert len(base64.b64decode(handed_over.removeprefix("whsec_"), validate=True)) == 30
    body = b'{"job_id": "job_1", "status": "processing", "progress": 10}'
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(handed_over).sign("msg_1", now, body.decode()),
    }
    assert verify_delivery(body, headers, parse_secret_value(stored)) == "msg_1"


def test_during_a_rotation_the_first_secret_is_handed_over_and_both_are_accepted() -> None:
    new, old = (
        "whsec_" + base64.b64encode(b"n" * 32).decode(),
        "whsec_" + base64.b64encode(b"o" * 32).decode(),
    )
    stored = json.dumps({"secrets": [new, old]})
    assert signing_secret(stored) == new
    assert parse_secret_value(stored) == (new, old)
    assert as_whsec(new) == new


def test_a_stack_without_active_secret_is_reported() -> None:
    from deploy.cli import DeployError

    with pytest.raises(DeployError):
        signing_secret('{"secrets": []}')


def test_the_first_deploy_of_an_environment_is_guided(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text('version = 0.1\n[dev.deploy.parameters]\nstack_name = "mediagen-dev"\n')
    assert needs_guided("dev", config)
    config.write_text(
        "version = 0.1\n[dev.deploy.parameters]\n"
        'parameter_overrides = "AuthIssuer=\\"https://c.example\\" AuthJwksUrl=\\"https://c.example/j\\" '
        'AuthAuthorizedParties=\\"https://app.example\\" GeneratorUrl=\\"https://g.example\\""\n'
    )
    assert not needs_guided("dev", config)


def test_samconfig_has_a_dev_and_a_prod_environment() -> None:
    for env in ("dev", "prod"):
        assert needs_guided(env)  # nothing deployment-specific is committed


def test_the_media_bucket_is_private_encrypted_and_tls_only() -> None:
    resources = load_template()["Resources"]
    bucket = resources["MediaBucket"]
    assert bucket["Condition"] == "CreateMediaBucket" and bucket["DeletionPolicy"] == "Retain"
    properties = bucket["Properties"]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    statements = resources["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    tls = next(s for s in statements if isinstance(s, dict) and s.get("Sid") == "TlsOnly")
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_outputs_name_what_client_teams_need() -> None:
    outputs = load_template()["Outputs"]
    for name in (
        "ApiUrl",
        "WebhookSecretsArn",
        "GeneratorApiKeyArn",
        "MediaBucketName",
        "GenerationsTableName",
        "NotificationsTableName",
    ):
        assert name in outputs, name


def test_every_parameter_without_default_is_asked_by_the_guided_deploy() -> None:
    from deploy.cli import REQUIRED_PARAMETERS

    parameters = load_template()["Parameters"]
    assert {name for name, p in parameters.items() if "Default" not in p} == set(REQUIRED_PARAMETERS)
