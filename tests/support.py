"""Test helpers: API Gateway events, signed webhooks, Clerk-like tokens, request counting."""

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from standardwebhooks.webhooks import Webhook

ISSUER = "https://clerk.test.mediagen.dev"
FRONT_END = "https://app.mediagen.dev"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RETIRED_SECRET = "whsec_dGhlIHJldGlyZWQgc2VjcmV0IG9mIGxhc3QgeWVhcg=="
MEDIA_BUCKET = "mediagen-test-media"


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: float = 60.0  # a fake's own budget; each invocation is given all of it
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self.timeout_seconds - (time.monotonic() - self.started)) * 1000)


def http_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as AWS sends it."""
    import base64

    body_text: str | None
    if isinstance(body, bytes):
        body_text = base64.b64encode(body).decode() if base64_body else body.decode("utf-8")
    else:
        body_text = base64.b64encode(body.encode()).decode() if base64_body and body is not None else body
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "t",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:04:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body_text,
        "isBase64Encoded": base64_body,
    }


def signed_headers(
    body: str,
    *,
    secret: str = WEBHOOK_SECRET,
    webhook_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = timestamp or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, timestamp, body),
    }


def webhook_event(payload: dict[str, Any] | str, kind: str = "image", **sign_options: Any) -> dict[str, Any]:
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return http_event(
        "POST", f"/api/webhooks/{kind}-completion", body=body, headers=signed_headers(body, **sign_options)
    )


def completion_payload(
    job_id: str,
    *,
    status: str = "completed",
    images: int = 4,
    user_id: str | None = None,
    organization_id: str | None = None,
    prompt: str | None = None,
    progress: int | None = None,
    error: Any = None,
) -> dict[str, Any]:
    """The backend's payload; without user_id and prompt it is the old payload exactly."""
    payload: dict[str, Any] = {"job_id": job_id, "status": status}
    if user_id:
        payload["user_id"] = user_id
    if organization_id:
        payload["organization_id"] = organization_id
    if progress is not None:
        payload["progress"] = progress
    if error is not None:
        payload["error"] = error
    if status == "completed":
        payload["data"] = {
            "images": [
                {
                    "file_path": f"images/{job_id}/{index}.png",
                    "url": f"https://bucket.s3.amazonaws.com/images/{job_id}/{index}.png",
                    "size_bytes": 1482013 + index,
                    "format": "png",
                    "dimensions": "1024x1024",
                    "description": prompt or "Un phare breton au coucher du soleil",
                }
                for index in range(images)
            ],
            "metadata": {"model_name": "gemini-2.5-flash-image", "generation_time_seconds": 7.8},
        }
        if prompt:
            payload["data"]["original_prompt"] = prompt
    return payload


class TokenMinter:
    """Signs Clerk-like session tokens with a test RSA key published in a JWKS file."""

    def __init__(self, private_key: Any, kid: str) -> None:
        self.private_key = private_key
        self.kid = kid

    def token(
        self,
        sub: str,
        *,
        org: str | None = None,
        org_claim: str = "v2",
        expires_in: int = 300,
        not_before: int = -5,
        issuer: str = ISSUER,
        azp: str | None = FRONT_END,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": sub,
            "iss": issuer,
            "iat": now,
            "nbf": now + not_before,
            "exp": now + expires_in,
        }
        if azp is not None:
            body["azp"] = azp
        if org and org_claim == "v2":
            body["o"] = {"id": org, "rol": "member"}
        elif org:
            body["org_id"] = org
        body.update(claims)
        return jwt.encode(
            body, self.private_key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})}
        )

    def auth(self, sub: str, **options: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(sub, **options)}"}


class RequestLog:
    """Every HTTP request botocore sends (retries included), by (service, operation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls.append((service, operation))

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def count(self, service: str | None = None) -> int:
        return sum(1 for s, _ in self.calls if service is None or s == service)

    def by_operation(self) -> Counter[str]:
        return Counter(f"{s}.{o}" for s, o in self.calls)


def response_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event for messages received from a queue (as the event source mapping sends)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": message.get("Attributes", {}).get(
                        "ApproximateReceiveCount", "1"
                    ),
                    "SentTimestamp": message.get("Attributes", {}).get("SentTimestamp", "0"),
                    "SenderId": "test",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


class FakeBackend:
    """A stand-in generation backend on a loopback port: records each dispatch, answers as scripted."""

    def __init__(self) -> None:
        import http.server

        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answers: list[tuple[int, dict[str, Any] | None]] = []
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                backend.requests.append(json.loads(self.rfile.read(length)))
                backend.headers.append({k.lower(): v for k, v in self.headers.items()})
                status, body = backend.answers.pop(0) if backend.answers else (202, None)
                payload = json.dumps(body if body is not None else {"job_id": backend.requests[-1]["job_id"]})
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/jobs"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Seeds and races shared by the moto and dynalite suites ---------------------------------------


def seed_notifications(user_id: str, count: int, *, read_every: int = 0) -> list[str]:
    """`count` notifications of `user_id`, one a minute; every `read_every`-th one already read."""
    from datetime import timedelta

    from mediagen.models import Notification
    from mediagen.notifications import notification_id

    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    with Notification.batch_write() as batch:
        for index in range(count):
            created = start + timedelta(minutes=index)
            read = bool(read_every) and index % read_every == 0
            item_id = notification_id(created, f"job_{index:05d}")
            ids.append(item_id)
            batch.save(
                Notification(
                    user_id=user_id,
                    notification_id=item_id,
                    unread_user_id=None if read else user_id,
                    type="IMAGE_COMPLETED",
                    title="🎨 Images générées avec succès",
                    message="1 image(s) créée(s).",
                    read=read,
                    created_at=created,
                    generation_id=f"job_{index:05d}",
                    source="api",
                )
            )
    return ids


def seed_job(
    job_id: str, *, status: str = "queued", minutes_ago: int = 20, author: str | None = "user_a"
) -> None:
    """An image job created `minutes_ago`, in the in-flight index while queued or processing."""
    from datetime import timedelta

    from mediagen.models import Generation, in_flight_shard

    stamp = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    Generation(
        job_id=job_id,
        kind="image",
        author_id=author,
        prompt="Un phare",
        status=status,
        progress=0,
        source="api",
        created_at=stamp,
        updated_at=stamp,
        in_flight=in_flight_shard(job_id) if status in ("queued", "processing") else None,
    ).save()


def deliver_all_at_once(handler: str, events: list[dict[str, Any]], sandboxes: int = 10) -> list[Any]:
    """Every event to `handler` ("module.attribute") in its own sandbox process (up to `sandboxes`; the
    rest queue behind them), all released at the same instant, as Lambda runs concurrent invocations:
    a real race between processes, through the AWS endpoints of this test's environment (a moto or
    DynamoDB server over HTTP). The answers in the order of `events`; a function error is returned as
    its InvocationError."""
    import os

    from infra.local.sandbox import Function, SandboxPool

    function = Function("function-under-test", handler)
    with SandboxPool([function], dict(os.environ), min(len(events), sandboxes)) as pool:
        return pool.invoke_all_at_once(function.name, events)
