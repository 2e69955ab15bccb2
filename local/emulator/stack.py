"""The embedded AWS of the local service: moto's server, in this process, on a loopback port, holding
the DynamoDB tables, SQS queues, S3 buckets and secrets of template.yaml, and the functions'
environment resolved to them."""

import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

from deploy.base.cfn_functions import functions
from deploy.base.cfn_template import create_tables, load_template, resources_of_type, table_definitions
from deploy.base.intrinsics import ACCOUNT_ID, REGION, Resolver
from local.emulator.moto_dynamodb import make_moto_behave_as_dynamodb
from local.harness.environment import FAKE_CREDENTIALS

log = logging.getLogger("local-stack")

# The CreateQueue attributes a template's queue properties map to (SQS wants them as strings).
QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "ContentBasedDeduplication",
)


@dataclass(frozen=True)
class Queue:
    logical_id: str
    url: str
    arn: str


AWS_MAX_BODY_BYTES = 64 * 1024 * 1024  # the stand-in's images and clips are far smaller


def aws_guard(application: Any) -> Any:
    """moto's application as the embedded AWS serves it: for the service and its tools only. A
    browser's request (any `Origin`: a page of another site, or a form it posts) is refused before
    moto sees it, moto's own API (`/moto-api/`: its dashboard, the data dump, reset) is not served,
    and no answer carries CORS headers, so nothing it answers can be read by another site. (The
    images of signed URLs still load in an <img> or <video>: those send no Origin.)"""

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO") or ""
        refusal = None
        if environ.get("HTTP_ORIGIN") is not None:
            refusal = (403, "origin_not_allowed", "The embedded AWS answers the local service and its tools.")
        elif path.startswith("/moto-api") or path == "/favicon.ico":
            refusal = (404, "not_found", "moto's own API is not served by the local service.")
        if refusal is not None:
            status, code, message = refusal
            body = json.dumps({"code": code, "message": message}).encode()
            phrase = "Forbidden" if status == 403 else "Not Found"
            start_response(
                f"{status} {phrase}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]

        def without_cors(status: str, headers: list[tuple[str, str]], *info: Any) -> Any:
            kept = [
                (name, value) for name, value in headers if not name.lower().startswith("access-control-")
            ]
            return start_response(status, kept, *info)

        return application(environ, without_cors)

    return guarded


def aws_port(env: Mapping[str, str]) -> int:
    """LOCAL_AWS_PORT: the embedded AWS's port (default 0: a free one)."""
    text = (env.get("LOCAL_AWS_PORT") or "").strip()
    if not text:
        return 0
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SystemExit(f"LOCAL_AWS_PORT must be a port number, not {text!r}")
    return int(text)


@dataclass
class EmbeddedAws:
    """moto, in this process, on 127.0.0.1 (`port`, 0: a free one), served by the local service's
    hardened HTTP server (`http_server.HttpServer`: Host check, bounded reads, deadlines, a connection
    budget) behind `aws_guard`: it stops with the process. DynamoDB is moto's too, or AWS's DynamoDB
    Local (a Java process this one starts and stops) when asked, in memory or with its data kept in a
    folder between runs."""

    endpoint: str = ""
    dynamodb_endpoint: str = ""
    port: int = 0
    _server: Any = field(default=None, repr=False)
    _session: Any = field(default=None, repr=False)
    _dynamodb_local: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def bind(self) -> int:
        """Bind the port at once (OSError when it is taken); served after `start()`."""
        import os

        from local.emulator.http_server import HttpLimits, HttpServer

        os.environ.setdefault("MOTO_DISABLE_GLOBAL_CORS", "true")  # read when moto is imported
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        make_moto_behave_as_dynamodb()
        limits = HttpLimits(max_body_bytes=AWS_MAX_BODY_BYTES)
        application = aws_guard(DomainDispatcherApplication(create_backend_app))
        self._server = HttpServer(None, self.port, limits, name="embedded-aws", wsgi=application)
        self.port = self._server.port
        self.endpoint = self.dynamodb_endpoint = f"http://127.0.0.1:{self.port}"
        return self.port

    def start(self, dynamodb_local: bool = False, dynamodb_data: Path | None = None) -> str:
        if self._server is None:
            self.bind()
        self._server.start()
        if dynamodb_local:
            from local.services import dynamodb_local as server

            self.dynamodb_endpoint = self._dynamodb_local.enter_context(server.running(db_path=dynamodb_data))
        return self.endpoint

    def endpoints(self) -> dict[str, str]:
        """AWS_ENDPOINT_URL* for the functions: every service here, DynamoDB where it runs."""
        urls = {f"AWS_ENDPOINT_URL{s}": self.endpoint for s in ("", "_S3", "_SQS", "_SECRETSMANAGER")}
        return {**urls, "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint}

    def stop(self) -> None:
        self._dynamodb_local.close()
        if self._server is not None:
            self._server.close()
            self._server = None

    def client(self, service: str) -> Any:
        import boto3

        if self._session is None:  # one session: the service models are loaded once
            self._session = boto3.session.Session(
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=REGION,
            )
        return self._session.client(
            service,
            endpoint_url=self.dynamodb_endpoint
            if service in ("dynamodb", "dynamodbstreams")
            else self.endpoint,
        )


@dataclass
class Stack:
    """What was created, and how the template's intrinsics resolve to it."""

    resolver: Resolver
    queues: dict[str, Queue]
    buckets: list[str]

    def queue_with_arn(self, arn: str) -> Queue:
        return next(queue for queue in self.queues.values() if queue.arn == arn)

    def environment(self) -> dict[str, str]:
        """Globals.Function.Environment.Variables plus every function's own, resolved. The functions
        share this process, so they share one environment: the union (a conflict is reported)."""
        merged: dict[str, str] = {}
        for spec in functions():
            for name, value in self.resolver(spec.environment).items():
                text = value if isinstance(value, str) else json.dumps(value)
                if merged.setdefault(name, text) != text:
                    log.warning("%s differs between functions; the local stack uses %r", name, merged[name])
        return merged


def parameter_values(local: Mapping[str, str]) -> dict[str, str]:
    """Each template parameter: the local value given, else its Default, else empty (reported)."""
    values = {}
    for name, definition in load_template().get("Parameters", {}).items():
        value = local.get(name, definition.get("Default"))
        if value is None:
            log.warning("Parameter %s has no local value and no Default: it is empty", name)
        values[name] = "" if value is None else str(value)
    return values


def provision(aws: EmbeddedAws, parameters: Mapping[str, str], events_host: str = "127.0.0.1") -> Stack:
    """Create the template's tables, queues, secrets and buckets in the embedded AWS. An AppSync Events
    API is the local service's own endpoint on `events_host` (host:port), for its HTTP and real-time
    domains alike."""
    refs: dict[str, Any] = dict(parameters)
    attributes: dict[str, Any] = {}
    template = load_template()
    resolver = Resolver(refs, attributes, template.get("Conditions") or {})
    for logical_id, resource in template["Resources"].items():
        refs[logical_id] = logical_id  # functions, layers, the API: a name is enough locally
        attributes[f"{logical_id}.Arn"] = (
            f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{resource['Type']}/{logical_id}"
        )

    for logical_id in resources_of_type("AWS::AppSync::Api"):
        attributes.update(
            {
                f"{logical_id}.Dns.Http": events_host,
                f"{logical_id}.Dns.Realtime": events_host,
                f"{logical_id}.ApiId": logical_id,
                f"{logical_id}.ApiArn": f"arn:aws:appsync:{REGION}:{ACCOUNT_ID}:apis/{logical_id}",
            }
        )

    names = {logical_id: logical_id for logical_id in table_definitions()}
    dynamodb = aws.client("dynamodb")
    create_tables(dynamodb, names, keep_existing=True)  # DynamoDB Local's kept data
    for logical_id, name in names.items():
        attributes[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        stream_arn = dynamodb.describe_table(TableName=name)["Table"].get("LatestStreamArn")
        if stream_arn:
            attributes[f"{logical_id}.StreamArn"] = stream_arn

    queues = _create_queues(aws.client("sqs"), resolver, refs, attributes)

    secrets_manager = aws.client("secretsmanager")
    for logical_id, resource in resources_of_type("AWS::SecretsManager::Secret").items():
        properties = resolver(resource.get("Properties") or {})
        value = properties.get("SecretString") or token_urlsafe(30)  # GenerateSecretString: a random one
        secret = secrets_manager.create_secret(Name=logical_id, SecretString=value)
        refs[logical_id] = secret["ARN"]

    buckets = [parameters[name] for name in ("MediaBucketName",) if parameters.get(name)]
    for logical_id, resource in resources_of_type("AWS::S3::Bucket").items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue  # e.g. MediaBucket, made only when no existing bucket is named
        bucket = resolver((resource.get("Properties") or {}).get("BucketName")) or logical_id.lower()
        refs[logical_id] = bucket
        attributes[f"{logical_id}.Arn"] = f"arn:aws:s3:::{bucket}"
        buckets.append(bucket)
    s3 = aws.client("s3")
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    return Stack(resolver=resolver, queues=queues, buckets=buckets)


def _create_queues(
    sqs: Any, resolver: Resolver, refs: dict[str, Any], attributes: dict[str, Any]
) -> dict[str, Queue]:
    """First every queue (so a redrive policy can name any other), then their attributes."""
    queues = {}
    definitions = resources_of_type("AWS::SQS::Queue")
    for logical_id, resource in definitions.items():
        properties = resource.get("Properties") or {}
        fifo = bool(properties.get("FifoQueue"))
        name = resolver(properties.get("QueueName")) or (f"{logical_id}.fifo" if fifo else logical_id)
        url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[logical_id] = Queue(logical_id, url, arn)
        refs[logical_id] = url  # Ref of a queue is its URL
        attributes.update({f"{logical_id}.Arn": arn, f"{logical_id}.QueueUrl": url})
        attributes[f"{logical_id}.QueueName"] = name
    for logical_id, resource in definitions.items():
        properties = resolver(resource.get("Properties") or {})
        wanted = {
            key: json.dumps(value)
            if isinstance(value, dict)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for key, value in properties.items()
            if key in QUEUE_ATTRIBUTES
        }
        if wanted:
            sqs.set_queue_attributes(QueueUrl=queues[logical_id].url, Attributes=wanted)
    return queues
