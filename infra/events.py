"""events/<Function>.json: one real event per function of template.yaml, for
`sam local invoke <Function> -e events/<Function>.json` (wherever Docker is). `make events` writes them;
a test checks that they are current and feeds each to its handler.

Built by the harness (infra/harness/events.py) with fixed ids and times. HTTP events have the shape
of `sam local generate-event apigateway http-api-proxy`, as API Gateway sends them for our routes (no
authorizer, no client certificate); SQS and Schedule events that of `sam local generate-event sqs
receive-message` and `cloudwatch scheduled-event`. The bearer token and the
webhook signature are placeholders: they show the shape, and the handlers answer them with a 401.
"""

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.cfn_functions import FunctionSpec, HttpRoute, functions
from infra.harness.events import ACCOUNT_ID, REGION, http_api_event, scheduled_event, sqs_event

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "events"
JOB_ID = "cmh3h35780001gg0lwosk26du"
AT = datetime(2026, 11, 24, 4, 0, 0, tzinfo=UTC)
EPOCH_MS = int(AT.timestamp() * 1000)
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


def example_http_event(route: HttpRoute) -> dict[str, Any]:
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
                "webhook-timestamp": str(int(AT.timestamp())),
                "webhook-signature": "v1,placeholderSignatureOfTheGenerationBackend=",
            }
        )
    else:
        headers["authorization"] = "Bearer <a Clerk session token>"
    text = None
    if body is not None:
        text = json.dumps(body, ensure_ascii=False)
        headers.update({"content-type": "application/json", "content-length": str(len(text.encode()))})
    return http_api_event(
        route.method,
        path,
        headers=headers,
        body=text,
        route_key=route.route_key,
        path_parameters=parameters,
        source_ip="203.0.113.10",
        api_id="abc123",
        request_id="C0ffEeExAmPlE=",
        at=AT,
    )


def example_sqs_event(queue: str) -> dict[str, Any]:
    message = {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "Body": json.dumps({"job_id": JOB_ID}),
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(EPOCH_MS),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(EPOCH_MS + 2),
        },
    }
    return sqs_event([message], f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue}")


def event_for(spec: FunctionSpec) -> dict[str, Any]:
    """The first event source of the function: an HTTP route, an SQS queue, or a schedule."""
    for source in spec.events.values():
        properties = source.get("Properties") or {}
        if source["Type"] == "HttpApi":
            return example_http_event(
                HttpRoute(str(properties["Method"]).upper(), str(properties["Path"]), spec.logical_id)
            )
        if source["Type"] == "SQS":
            queue = properties["Queue"]
            return example_sqs_event(
                queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue).rsplit(":", 1)[-1]
            )
        if source["Type"] in ("Schedule", "ScheduleV2"):
            return scheduled_event(spec.logical_id, event_id="cdc73f9d-aea9-11e3-9d5a-835b769c0d9c", at=AT)
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
