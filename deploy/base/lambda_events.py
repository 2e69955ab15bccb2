"""The events AWS hands a function, built as AWS builds them: the API Gateway HTTP API event (payload
format 2.0), the SQS event of the event source mapping, the EventBridge scheduled event; and the context
object Lambda passes along. The local service, the tests, the benchmarks and `events/` all use these."""

import base64
import contextlib
import hashlib
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# Bodies API Gateway passes as text; anything else reaches the function base64-encoded.
_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))"
)

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def http_api_event(
    method: str,
    target: str,
    *,
    headers: Headers | None = None,
    body: bytes | str | None = None,
    route_key: str = "$default",
    path_parameters: Mapping[str, str] | None = None,
    base64_body: bool | None = None,
    source_ip: str = "127.0.0.1",
    api_id: str = "local",
    request_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API event (payload format 2.0) for a request of `method` on `target` (path
    and query string, as received). Header names are lower-cased and repeated ones joined with commas;
    `cookie` headers become `cookies`. A body is passed as text when its content type is textual (as
    API Gateway does), else base64-encoded; `base64_body` forces one or the other."""
    split = urlsplit(target)
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        key = name.lower()
        if key == "cookie":
            cookies += [cookie.strip() for cookie in value.split(";") if cookie.strip()]
        else:
            merged[key] = f"{merged[key]},{value}" if key in merged else value
    host = merged.get("host", "127.0.0.1")
    merged.setdefault("x-forwarded-for", source_ip)
    merged.setdefault("x-forwarded-proto", "http")
    merged.setdefault("x-forwarded-port", host.rpartition(":")[2] if ":" in host else "80")
    at = at or datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id or base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("="),
            "routeKey": route_key,
            "stage": "$default",
            "time": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(at.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if split.query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        textual = base64_body is False or (
            base64_body is None and bool(_TEXT_TYPES.match(merged.get("content-type", "").lower()))
        )
        if isinstance(body, str) and textual:
            event["body"] = body  # as given, even text that is not valid UTF-8 (hostile-input tests)
        elif isinstance(body, bytes) and base64_body is False:
            event["body"] = body.decode("utf-8")
        elif isinstance(body, bytes) and textual:
            with contextlib.suppress(UnicodeDecodeError):
                event["body"] = body.decode("utf-8")
        if "body" not in event:
            data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
            event["body"] = base64.b64encode(data).decode()
            event["isBase64Encoded"] = True
    return event


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of the SQS event Lambda sends, for a message as ReceiveMessage returns it."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", ""),
            "SenderId": attributes.get("SenderId", ACCOUNT_ID),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", ""),
            **{k: v for k, v in attributes.items() if k in ("MessageGroupId", "MessageDeduplicationId")},
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The SQS event of the event source mapping, for messages received from the queue `queue_arn`."""
    return {"Records": [sqs_record(message, queue_arn) for message in messages]}


def dynamodb_stream_event(records: Iterable[Mapping[str, Any]], stream_arn: str) -> dict[str, Any]:
    """The DynamoDB Streams event of the event source mapping, for records GetRecords returned (boto3's
    parsed shape: its datetime back to the epoch seconds Lambda sends)."""
    return {"Records": [dynamodb_stream_record(record, stream_arn) for record in records]}


def dynamodb_stream_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    stream = dict(record.get("dynamodb") or {})
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record.get("eventID") or uuid.uuid4().hex,
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion") or "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion") or REGION,
        "dynamodb": stream,
        "eventSourceARN": stream_arn,
    }


def appsync_subscribe_event(
    channel: str, claims: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What AppSync Events gives a channel namespace's onSubscribe handler (direct Lambda integration)
    for a subscription authorized with OPENID_CONNECT: the token's claims as the identity, the channel,
    and the request's headers (the authorization itself left out)."""
    identity = (
        None
        if claims is None
        else {"sub": claims.get("sub"), "issuer": claims.get("iss"), "claims": dict(claims)}
    )
    return {
        "identity": identity,
        "result": None,
        "request": {
            "headers": {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"},
            "domainName": None,
        },
        "info": {
            "channel": {"path": channel, "segments": channel.strip("/").split("/")},
            "channelNamespace": {"name": channel.split("/")[1] if channel.count("/") else ""},
            "operation": "SUBSCRIBE",
        },
        "error": None,
        "prev": None,
        "stash": {},
        "outErrors": [],
        "events": None,
    }


def scheduled_event(rule: str, *, event_id: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    """The EventBridge event of a schedule rule named `rule`."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


class LambdaContext:
    """The context object Lambda passes to a handler: names, memory, and the time left (`timeout`
    seconds from its creation; by default Lambda's longest, so that nothing runs short of time unless a
    test asks for it)."""

    def __init__(self, function_name: str = "test-function", memory: int = 512, timeout: float = 900) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
