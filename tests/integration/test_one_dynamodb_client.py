"""A sandbox creates one DynamoDB client, whatever tables and transactions its requests touch.

PynamoDB gives each model a connection, and each connection a botocore session of its own that parses
DynamoDB's service model again (~10 MB and a client's creation each): a sandbox that met the four
tables and a transaction held five. In the soak, that was a sandbox growing 20 MB the first time a
rarer path reached it (docs/performance.md, "A thousand jobs on one make run")."""

import json
from typing import Any

import botocore.session
import pytest

from cancel_generation.app import lambda_handler as cancel_handler
from completion_webhook.app import lambda_handler as webhook_handler
from generate.app import lambda_handler as generate_handler
from mediagen.data.models import ErasedPerson, Generation, Notification, UserJobsInFlight
from notifications.app import lambda_handler as notifications_handler
from tests.support import completion_payload, http_api_event, webhook_event


@pytest.fixture
def dynamodb_clients(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DynamoDB clients botocore creates from now on (their region, one entry each)."""
    created: list[str] = []
    original = botocore.session.Session.create_client

    def counted(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name == "dynamodb":
            created.append(str(args[0] if args else kwargs.get("region_name")))
        return original(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    return created


@pytest.mark.usefixtures("aws")
def test_every_table_and_transaction_of_a_sandbox_share_one_client(
    tokens: Any, lambda_context: Any, dynamodb_clients: list[str]
) -> None:
    headers = tokens.auth("user_a", org="org_1")
    json_headers = {"content-type": "application/json", **headers}

    # A generate (the erased-people check and the in-flight cap's transaction), a cancel, a completion
    # webhook of another job (the notification's transaction), and the notifications list
    for job in ("job_one_a", "job_one_b"):
        body = json.dumps({"prompt": "Un phare", "job_id": job})
        event = http_api_event("POST", "/api/images/generate", body=body, headers=json_headers)
        assert generate_handler(event, lambda_context)["statusCode"] == 202
    canceled = cancel_handler(
        http_api_event("POST", "/api/images/job_one_a/cancel", headers=headers), lambda_context
    )
    assert canceled["statusCode"] == 200
    delivered = webhook_handler(
        webhook_event(completion_payload("job_one_b", user_id="user_a")), lambda_context
    )
    assert delivered["statusCode"] == 200
    listed = notifications_handler(
        http_api_event("GET", "/api/notifications", headers=headers), lambda_context
    )
    assert listed["statusCode"] == 200

    # Every model reached its table, through one client
    assert Generation.get("job_one_b").status == "completed"
    assert Notification.count() > 0
    UserJobsInFlight.count()  # a Scan through the model (its counts are the cap tests')
    assert ErasedPerson.count() == 0
    assert len(dynamodb_clients) == 1, dynamodb_clients
    clients = {
        id(model._get_connection().connection.client)
        for model in (Generation, Notification, UserJobsInFlight, ErasedPerson)
    }
    assert len(clients) == 1
