"""Every AWS API call a function makes, recorded while the tests run (issue 24: permissions proven).

`install()` hooks botocore's `before-parameter-build` event on every client made afterwards (PynamoDB's,
boto3's, Powertools'): it fires for each API call and for each presigned URL (a signed URL carries the
function's identity, so its action must be allowed too). A call is the function's when a frame of the
stack is code of a function's own folder (`functions/<dir>/...`): the handler that is running; calls of
test set-up and of the local service itself are not recorded.

Each call becomes the IAM actions it needs on the resources it names (a TransactWriteItems needs each
item's PutItem/UpdateItem/ConditionCheckItem...), the resources named by logical id (deploy/base/arns.py
`resource_arn`) through the environment variable that carried the physical name (`GENERATIONS_TABLE`
holds the table's name; the template says `GENERATIONS_TABLE: !Ref GenerationsTable`). A name no such
variable carries is kept as it is: no policy grants it, and the check says which.

The metrics the functions emit are recorded too (tests/integration/test_alarms.py): each EMF record
Powertools prints, as (namespace, metric name, dimension set with values), wherever it is emitted.

Cheap by design: the stack walk and a set lookup per call; each distinct (function, action, resource)
or metric is written once per process, to `$MEDIAGEN_AWS_CALLS/<pid>.jsonl` (the test session, each
sandbox process of the local service). `recorded()` and `metrics_recorded()` read them all back.
"""

import functools
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

VARIABLE = "MEDIAGEN_AWS_CALLS"
_FUNCTION_FILE = re.compile(r"[/\\]functions[/\\]([^/\\]+)[/\\][^/\\]+\.py$")
_state: dict[str, Any] = {"installed": False, "pid": None, "seen": set()}
_lock = threading.Lock()


@functools.cache
def _templates() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(code folder -> function logical id, env variable -> the resource it names, logical id -> type)."""
    from deploy.base.cfn_functions import functions
    from deploy.base.cfn_template import load_template

    resources = load_template()["Resources"]
    types = {name: resource["Type"] for name, resource in resources.items()}
    folders = {spec.code_dir: spec.logical_id for spec in functions()}
    variables: dict[str, str] = {}
    for spec in functions():
        for name, value in spec.environment.items():
            target = _named_resource(value, types)
            if target:
                variables[name] = target
    return folders, variables, types


def _named_resource(value: Any, types: dict[str, str]) -> str | None:
    """The resource an environment value's intrinsic names (`!Ref X`, `!GetAtt X.Y`, either branch of
    an `!If`), if any."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    [(key, argument)] = value.items()
    if key == "Ref" and argument in types:
        return str(argument)
    if key == "Fn::GetAtt":
        name = argument[0] if isinstance(argument, list) else str(argument).split(".", 1)[0]
        return name if name in types else None
    if key == "Fn::If":
        for branch in argument[1:]:
            found = _named_resource(branch, types)
            if found:
                return found
    if key == "Fn::Sub":  # `https://${EventsApi.Dns.Http}/event`: the first resource it names
        text = argument if isinstance(argument, str) else argument[0]
        for name in re.findall(r"\$\{([A-Za-z0-9]+)", str(text)):
            if name in types:
                return name
    return None


def _function_of_stack() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        match = _FUNCTION_FILE.search(frame.f_code.co_filename)
        if match:
            return _templates()[0].get(match.group(1))
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _logical(value: str) -> str | None:
    """The logical id of the resource whose physical name (or URL, ARN) is `value` in this process's
    environment."""
    for variable, logical_id in _templates()[1].items():
        if os.environ.get(variable) == value and value:
            return logical_id
    return None


def _arn(resource_type: str, value: str, suffix: str = "") -> str:
    from deploy.base.arns import resource_arn

    logical_id = _logical(value)
    if logical_id is None:
        return f"(not named by the function's environment: {value}){suffix}"
    return resource_arn(resource_type, logical_id) + suffix


def _s3_object(bucket: str, key: str) -> str:
    """An object's ARN with its key reduced to its first folder: `images/<key>` (one entry per folder)."""
    folder = key.split("/", 1)[0] if "/" in key else ""
    return _arn("AWS::S3::Bucket", bucket, f"/{folder}/<key>" if folder else "/<key>")


_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def needs(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs one API call needs."""
    table = "AWS::DynamoDB::Table"
    if service == "dynamodb":
        if operation in ("TransactWriteItems", "TransactGetItems"):
            return [
                (f"dynamodb:{_TRANSACT[kind]}", _arn(table, body["TableName"]))
                for item in params.get("TransactItems", [])
                for kind, body in item.items()
            ]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", _arn(table, name)) for name in params.get("RequestItems", {})]
        if "TableName" in params:
            index = params.get("IndexName")
            return [
                (
                    f"dynamodb:{operation}",
                    _arn(table, params["TableName"], f"/index/{index}" if index else ""),
                )
            ]
    if service == "s3" and "Bucket" in params:
        bucket = params["Bucket"]
        if operation in ("ListObjectsV2", "ListObjects", "HeadBucket"):
            return [("s3:ListBucket", _arn("AWS::S3::Bucket", bucket))]
        if operation == "DeleteObjects":
            keys = {item["Key"] for item in params.get("Delete", {}).get("Objects", [])}
            return sorted({("s3:DeleteObject", _s3_object(bucket, key)) for key in keys})
        if "Key" in params:
            action = "s3:GetObject" if operation == "HeadObject" else f"s3:{operation}"
            return [(action, _s3_object(bucket, params["Key"]))]
        return [(f"s3:{operation}", _arn("AWS::S3::Bucket", bucket))]
    if service == "sqs" and "QueueUrl" in params:
        return [(f"sqs:{_SQS_BATCH.get(operation, operation)}", _arn("AWS::SQS::Queue", params["QueueUrl"]))]
    if service == "secretsmanager" and "SecretId" in params:
        return [(f"secretsmanager:{operation}", _arn("AWS::SecretsManager::Secret", params["SecretId"]))]
    return [(f"{service}:{operation}", "*")]


def _write(entries: list[tuple[Any, ...]], line: Any) -> None:
    """Append the entries not yet written by this process to its file."""
    directory = os.environ.get(VARIABLE) or _state.get("directory")
    if not directory:
        return
    with _lock:
        if _state["pid"] != os.getpid():  # a forked process writes its own file
            _state.update(pid=os.getpid(), seen=set())
        new = [entry for entry in entries if entry not in _state["seen"]]
        if not new:
            return
        _state["seen"].update(new)
        with (Path(directory) / f"{os.getpid()}.jsonl").open("a", encoding="utf-8") as log:
            for entry in new:
                log.write(json.dumps(line(entry)) + "\n")


def _record(params: dict[str, Any], model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
    function = _function_of_stack()
    if function is None:
        return
    service = model.service_model.signing_name or model.service_model.endpoint_prefix
    entries = [
        (function, action, resource, model.name) for action, resource in needs(service, model.name, params)
    ]
    _write(
        entries,
        lambda entry: {"function": entry[0], "action": entry[1], "resource": entry[2], "operation": entry[3]},
    )


def _record_signed(auth: Any, request: Any) -> None:
    """A request the code signs itself (SigV4Auth.add_auth), not a botocore API call: AppSync Events'
    HTTP publish (POST <endpoint>/event, {"channel": "/<namespace>/...", "events": [...]})."""
    if getattr(auth, "_service_name", None) != "appsync":
        return  # botocore's own signing of every API call: recorded by `_record` already
    function = _function_of_stack()
    if function is None:
        return
    from deploy.base.arns import resource_arn

    try:
        channel = str(json.loads(request.data or b"{}").get("channel", ""))
    except (ValueError, AttributeError):
        channel = ""
    namespace = channel.strip("/").split("/", 1)[0] or "<none>"
    endpoint = str(request.url).rsplit("/event", 1)[0]
    api = next((_logical(value) for value in (str(request.url), endpoint) if _logical(value)), None)
    resource = (
        f"{resource_arn('AWS::AppSync::Api', api)}/channelNamespace/{namespace}"
        if api
        else f"(not named by the function's environment: {request.url})"
    )
    _write(
        [(function, "appsync:EventPublish", resource, "EventPublish (HTTP)")],
        lambda entry: {"function": entry[0], "action": entry[1], "resource": entry[2], "operation": entry[3]},
    )


def emf_metrics(document: dict[str, Any]) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric name, ((dimension, value), ...)) of each metric of one EMF document."""
    found = []
    for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
        for dimension_set in directive.get("Dimensions", []):
            dimensions = tuple(sorted((name, str(document.get(name))) for name in dimension_set))
            for metric in directive.get("Metrics", []):
                found.append((str(directive["Namespace"]), str(metric["Name"]), dimensions))
    return found


def _record_metrics(document: dict[str, Any]) -> None:
    entries = [("metric", *entry) for entry in emf_metrics(document)]
    _write(
        entries,
        lambda entry: {"namespace": entry[1], "metric": entry[2], "dimensions": [list(d) for d in entry[3]]},
    )


def install(directory: str | Path | None = None) -> None:
    """Record from now on, in this process (and the processes it forks), to `directory` (default: the
    `MEDIAGEN_AWS_CALLS` directory). Idempotent."""
    import botocore.session

    if directory is not None:
        _state["directory"] = str(directory)
    if _state["installed"]:
        return
    original = botocore.session.Session.create_client

    @functools.wraps(original)
    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", _record)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    serialize = AmazonCloudWatchEMFProvider.serialize_metric_set

    @functools.wraps(serialize)
    def serialize_and_record(self: Any, *args: Any, **kwargs: Any) -> Any:
        document = serialize(self, *args, **kwargs)
        _record_metrics(dict(document))
        return document

    AmazonCloudWatchEMFProvider.serialize_metric_set = serialize_and_record  # type: ignore[method-assign]

    from botocore.auth import SigV4Auth

    add_auth = SigV4Auth.add_auth

    @functools.wraps(add_auth)
    def add_auth_and_record(self: Any, request: Any) -> Any:
        _record_signed(self, request)
        return add_auth(self, request)

    SigV4Auth.add_auth = add_auth_and_record  # type: ignore[method-assign]
    _state["installed"] = True


def install_from_environment() -> None:
    """In a sandbox process: record when the environment names a directory (the tests do)."""
    directory = os.environ.get(VARIABLE)
    if directory:
        install(directory)


def _lines(directory: str | Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in Path(directory).glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def recorded(directory: str | Path) -> list[dict[str, str]]:
    """Every distinct AWS call recorded under `directory`, by every process."""
    calls = {
        (entry["function"], entry["action"], entry["resource"], entry["operation"])
        for entry in _lines(directory)
        if "function" in entry
    }
    return [{"function": f, "action": a, "resource": r, "operation": o} for f, a, r, o in sorted(calls)]


def metrics_recorded(directory: str | Path) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Every distinct (namespace, metric, dimensions) emitted as EMF under `directory`."""
    return {
        (entry["namespace"], entry["metric"], tuple(tuple(pair) for pair in entry["dimensions"]))
        for entry in _lines(directory)
        if "metric" in entry
    }
