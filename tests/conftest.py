"""Shared fixtures. The environment is set before any mediagen module is imported: the PynamoDB models
read their table names at import time, as they do in Lambda."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "GENERATIONS_TABLE": "test-generations",
        "NOTIFICATIONS_TABLE": "test-notifications",
        "POWERTOOLS_SERVICE_NAME": "mediagen",
        "POWERTOOLS_METRICS_NAMESPACE": "MediagenTest",
        # What each function checks at cold start (import); the fixtures below set the real values.
        "AUTH_ISSUER": "https://clerk.test.mediagen.dev",
        "AUTH_JWKS_URL": "file:///nonexistent/jwks.json",
        "MEDIA_BUCKET": "mediagen-test-media",
        "WEBHOOK_SECRETS": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "DISPATCH_QUEUE_URL": "http://127.0.0.1:9/queue/not-started",
        "GENERATOR_URL": "http://127.0.0.1:9/generator-not-started",
    }
)
for variable in (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
):
    os.environ.pop(variable, None)

import botocore.endpoint  # noqa: E402
import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from infra.cfn_functions import functions  # noqa: E402
from infra.cfn_template import TABLE_ENV, create_queues, create_tables  # noqa: E402
from infra.local.sandbox import preload  # noqa: E402
from tests.support import (  # noqa: E402
    FRONT_END,
    ISSUER,
    MEDIA_BUCKET,
    WEBHOOK_SECRET,
    FakeLambdaContext,
    RequestLog,
    TokenMinter,
)

TABLE_NAMES = {logical_id: os.environ[variable] for logical_id, variable in TABLE_ENV.items()}
# The concurrency tests run handlers in sandbox processes forked from a forkserver that has imported
# them once, with this environment (the table names above).
preload(spec.module for spec in functions())


@pytest.fixture(scope="session")
def signing_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory: pytest.TempPathFactory, signing_key: Any) -> Path:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update({"kid": "test-key-1", "alg": "RS256", "use": "sig"})
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return path


@pytest.fixture
def tokens(signing_key: Any) -> TokenMinter:
    return TokenMinter(signing_key, "test-key-1")


@pytest.fixture(autouse=True)
def service_env(monkeypatch: pytest.MonkeyPatch, jwks_file: Path) -> Iterator[None]:
    """The settings a deployed function gets, and no cached state from another test."""
    monkeypatch.setenv("AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("AUTH_JWKS_URL", jwks_file.as_uri())
    monkeypatch.setenv("AUTH_AUTHORIZED_PARTIES", f"{FRONT_END},http://localhost:3001")
    monkeypatch.setenv("WEBHOOK_SECRETS", WEBHOOK_SECRET)
    monkeypatch.setenv("MEDIA_BUCKET", MEDIA_BUCKET)
    reset_process_state()
    yield
    reset_process_state()


def reset_process_state() -> None:
    """What a new Lambda sandbox would not have: cached settings, clients and connections."""
    from mediagen import auth, dispatch_queue, generations, media, settings, webhook_signature
    from mediagen.models import Generation, Notification

    settings.reset_settings()
    generations.reset_connection()
    media._s3_client.cache_clear()
    dispatch_queue._sqs.cache_clear()
    webhook_signature._verifiers.cache_clear()
    auth.reset_key_cache()
    Generation._connection = None
    Notification._connection = None


@pytest.fixture
def aws() -> Iterator[None]:
    """In-process moto with the tables of template.yaml and the media bucket."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        create_tables(boto3.client("dynamodb"), TABLE_NAMES)
        boto3.client("s3").create_bucket(Bucket=MEDIA_BUCKET)
        queues = create_queues(boto3.client("sqs"))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DISPATCH_QUEUE_URL", queues["DispatchQueue"])
            yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto HTTP server on a loopback port, for deliveries that race over the network."""
    from moto.server import ThreadedMotoServer

    from infra.moto_atomic import make_moto_writes_atomic

    make_moto_writes_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_server(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The moto server, emptied, with fresh tables; every client of the code under test points at it."""
    import boto3
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    reset_process_state()
    create_tables(boto3.client("dynamodb", endpoint_url=moto_server), TABLE_NAMES)
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket=MEDIA_BUCKET)
    queues = create_queues(boto3.client("sqs", endpoint_url=moto_server))
    monkeypatch.setenv("DISPATCH_QUEUE_URL", queues["DispatchQueue"])
    yield moto_server


@pytest.fixture
def aws_requests(monkeypatch: pytest.MonkeyPatch) -> RequestLog:
    """Counts every request botocore sends (each attempt), by service and operation."""
    log = RequestLog()
    original = botocore.endpoint.Endpoint._do_get_response  # type: ignore[attr-defined]

    def counted(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        log.record(operation_model.service_model.service_name, operation_model.name)
        return original(self, request, operation_model, context)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_do_get_response", counted)
    return log


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from tests.support import FakeBackend

    backend = FakeBackend()
    monkeypatch.setenv("GENERATOR_URL", backend.url)
    monkeypatch.setenv("GENERATOR_API_KEY", "test-generator-key")
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.mediagen.test")
    yield backend
    backend.stop()


@pytest.fixture
def run_dispatcher(lambda_context: Any) -> Any:
    """Receive what is on the dispatch queue and hand it to the dispatcher, as the event source
    mapping does; returns the dispatcher's answers (batch item failures)."""
    import boto3

    from dispatch.app import lambda_handler
    from tests.support import sqs_event

    def run(max_rounds: int = 1) -> list[Any]:
        sqs = boto3.client("sqs")
        url = os.environ["DISPATCH_QUEUE_URL"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        answers = []
        for _ in range(max_rounds):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
                "Messages", []
            )
            if not messages:
                break
            answer = lambda_handler(sqs_event(messages, arn), lambda_context)
            failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
            for message in messages:  # the event source mapping deletes what succeeded
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            answers.append(answer)
        return answers

    return run
