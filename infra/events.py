"""events/<Function>.json: one real event per function of template.yaml, for
`sam local invoke <Function> -e events/<Function>.json` (wherever Docker is). `make events` writes them;
a test checks that they are current and feeds each to its handler.

HTTP events have the shape of `sam local generate-event apigateway http-api-proxy`, as API Gateway sends
them for our routes (no authorizer, no client certificate); SQS and Schedule events that of
`sam local generate-event sqs receive-message` and `cloudwatch scheduled-event`. The bearer token and the
webhook signature are placeholders: they show the shape, and the handlers answer them with a 401.
"""

import json
import re
from pathlib import Path
from typing import Any

from infra.cfn_functions import FunctionSpec, HttpRoute, functions

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "events"
ACCOUNT, REGION = "123456789012", "us-east-1"
JOB_ID = "cmh3h35780001gg0lwosk26du"
TIME, EPOCH_MS = "24/Nov/2026:04:00:00 +0000", 1795579200000
PROMPT = "Un phare breton au coucher du soleil"


def example_body(path: str) -> dict[str, Any] | None:
    """The contract's example body of a route, if it takes one."""
    if path.endswith("/generate"):
        return {"prompt": PROMPT, "num_images": 1, "size": "1024x1024"}
    webhook = re.search(r"/api/webhooks/(image|video)-completion$", path)
    if not webhook:
        return None
    kind = webhook.group(1)
    media: dict[str, Any] = {
        "file_path": f"{kind}s/{JOB_ID}/0.png",
        "url": f"https://bucket.s3.amazonaws.com/{kind}s/{JOB_ID}/0.png",
        "size_bytes": 1482013,
        "format": "png",
        "dimensions": "1024x1024",
        "description": PROMPT,
    }
    if kind == "video":
        media.update(
            file_path=f"videos/{JOB_ID}/0.mp4", format="mp4", dimensions="1280x720", duration_seconds=8
        )
        media["url"] = f"https://bucket.s3.amazonaws.com/videos/{JOB_ID}/0.mp4"
    return {
        "job_id": JOB_ID,
        "user_id": "user_2abc",
        "status": "completed",
        "progress": 100,
        "data": {
            "original_prompt": PROMPT,
            f"{kind}s": [media],
            "metadata": {"model_name": "gemini-2.5-flash-image", "generation_time_seconds": 7.8},
        },
    }


def http_event(route: HttpRoute) -> dict[str, Any]:
    parameters = {
        name: JOB_ID if name == "job_id" else f"example_{name}"
        for name in re.findall(r"\{(\w+)\}", route.path)
    }
    path = route.path.format(**parameters)
    body = example_body(route.path)
    headers = {
        "accept": "application/json",
        "host": f"abc123.execute-api.{REGION}.amazonaws.com",
        "user-agent": "Mozilla/5.0",
        "x-amzn-trace-id": "Root=1-6742a000-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if "webhooks" in route.path:
        headers.update(
            {
                "webhook-id": "msg_2abcExample",
                "webhook-timestamp": "1795579200",
                "webhook-signature": "v1,placeholderSignatureOfTheGenerationBackend=",
            }
        )
    else:
        headers["authorization"] = "Bearer <a Clerk session token>"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "domainName": headers["host"],
            "domainPrefix": "abc123",
            "http": {
                "method": route.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "Mozilla/5.0",
            },
            "requestId": "C0ffEeExAmPlE=",
            "routeKey": route.route_key,
            "stage": "$default",
            "time": TIME,
            "timeEpoch": EPOCH_MS,
        },
        "isBase64Encoded": False,
    }
    if parameters:
        event["pathParameters"] = parameters
    if body is not None:
        text = json.dumps(body, ensure_ascii=False)
        headers.update({"content-type": "application/json", "content-length": str(len(text.encode()))})
        event["body"] = text
    return event


def sqs_event(queue: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": json.dumps({"job_id": JOB_ID}),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(EPOCH_MS),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": str(EPOCH_MS + 2),
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
                "awsRegion": REGION,
            }
        ]
    }


def scheduled_event(function: str) -> dict[str, Any]:
    return {
        "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-24T04:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{function}"],
        "detail": {},
        "version": "0",
    }


def event_for(spec: FunctionSpec) -> dict[str, Any]:
    """The first event source of the function: an HTTP route, an SQS queue, or a schedule."""
    for source in spec.events.values():
        properties = source.get("Properties") or {}
        if source["Type"] == "HttpApi":
            return http_event(
                HttpRoute(str(properties["Method"]).upper(), str(properties["Path"]), spec.logical_id)
            )
        if source["Type"] == "SQS":
            queue = properties["Queue"]
            return sqs_event(
                queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue).rsplit(":", 1)[-1]
            )
        if source["Type"] in ("Schedule", "ScheduleV2"):
            return scheduled_event(spec.logical_id)
    raise ValueError(f"{spec.logical_id} has no HttpApi, SQS or Schedule event")


def render_all() -> dict[str, str]:
    """File name -> content, for every function."""
    return {
        f"{spec.logical_id}.json": json.dumps(event_for(spec), indent=2, ensure_ascii=False) + "\n"
        for spec in functions()
    }


if __name__ == "__main__":
    FOLDER.mkdir(exist_ok=True)
    files = render_all()
    for stale in set(path.name for path in FOLDER.glob("*.json")) - set(files):
        (FOLDER / stale).unlink()
    for name, content in files.items():
        (FOLDER / name).write_text(content, encoding="utf-8")
    print(f"wrote {len(files)} events in {FOLDER.relative_to(ROOT)}/")
