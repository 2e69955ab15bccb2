"""events/<Function>.json: one real event per function of template.yaml, and events/env.json, for

    sam local invoke <Function> -e events/<Function>.json --env-vars events/env.json
    sam local start-api --env-vars events/env.json

(wherever Docker is). `make events` writes them (`make events TABLES_FROM=dev` also points env.json at
the dev stack's tables and bucket). The tokens are signed with the local development key of `.local/`
(valid 8 hours) and the webhook signatures with its development secret, at the time they are written:
Standard Webhooks refuses a timestamp more than 5 minutes off, so write them again before invoking a
webhook event. env.json carries that key's JWKS as a `data:` URL (a container reaches neither the
host's files nor its network) and that secret, in the variables the template declares for this.

Built by deploy/base/lambda_events.py, as the local service builds them. HTTP events have the shape
of `sam local generate-event apigateway http-api-proxy`, as API Gateway sends them for our routes (no
authorizer, no client certificate); SQS and Schedule events that of `sam local generate-event sqs
receive-message` and `cloudwatch scheduled-event`. Invoked in the order of `ANSWERS` against empty
tables, each gets the answer written there (tests/integration/test_events.py).
"""

import argparse
import base64
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.base.cfn_functions import FunctionSpec, HttpRoute, channel_namespaces, functions, http_route
from deploy.base.lambda_events import (
    ACCOUNT_ID,
    REGION,
    appsync_subscribe_event,
    dynamodb_stream_event,
    http_api_event,
    scheduled_event,
    sqs_event,
)

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "events"
JOB_ID = "cmh3h35780001gg0lwosk26du"
PROMPT = "Un phare breton au coucher du soleil"
USER = "user_2abc"  # the tokens' `sub` and the webhooks' `user_id`
UNKNOWN_PATH = "/api/unknown-route"  # what the `$default` route's event asks for
ENV_FILE = "env.json"

# What each event gets from its handler when invoked in this order against empty tables (the
# documented answers of docs/deploy.md): generate creates the job, the webhook completes it, ...
ANSWERS: dict[str, str] = {
    "GenerateFunction": "202: the job is created, queued",
    "DispatchFunction": "no batch item failure: the job is sent to GENERATOR_URL",
    "CompletionWebhookFunction": "200, outcome updated: the job is completed, its author notified",
    "GenerationStatusFunction": "200, status completed",
    "GenerationResultFunction": "200, one image with a signed URL",
    "CancelGenerationFunction": "409: the job is already completed",
    "NotificationsFunction": "200, the job's notification",
    "LibraryFunction": "200, the person's library: the job, with a signed preview URL",
    "RemoveFilesFunction": "no batch item failure: the job's folder is emptied",
    "StuckJobSweeperFunction": "no job to time out",
    "UnknownRouteFunction": "404, code not_found",
    "LiveSubscribeFunction": "null: user_2abc may subscribe to its channel /jobs/users/user-2abc",
    "LivePublisherFunction": "the record reported failed (batchItemFailures): sam local reaches no "
    "AppSync Events API, so the stream would give it again",
    "ClerkWebhookFunction": "200, outcome ignored: a user.created event, nothing stored",
    "ErasureFunction": "no batch item failure: the final pass for a person who has nothing left",
}
ERASED_EXAMPLE = "user_2erased"  # the person the erasure worker's example message names


class Credentials:
    """What the events are signed with: the local development key and webhook secret (.local/)."""

    def __init__(self, now: float | None = None) -> None:
        from deploy.base import devkeys

        self.now = int(time.time() if now is None else now)
        self.token = devkeys.mint_token(USER, hours=8)
        self.secret = devkeys.dev_webhook_secret()
        self.clerk_secret = devkeys.dev_clerk_webhook_secret()
        self.erasure_hash_key = devkeys.dev_erasure_hash_key()
        self.issuer = devkeys.DEV_ISSUER
        jwks = Path(devkeys.dev_jwks_url().removeprefix("file://")).read_bytes()
        self.jwks_data_url = "data:application/json;base64," + base64.b64encode(jwks).decode()

    def webhook_headers(self, body: str, secret: str | None = None) -> dict[str, str]:
        from standardwebhooks.webhooks import Webhook

        message_id = f"msg_event_{self.now}"
        signature = Webhook(secret or self.secret).sign(
            message_id, datetime.fromtimestamp(self.now, UTC), body
        )
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(self.now),
            "webhook-signature": signature,
        }


def example_body(path: str) -> dict[str, Any] | None:
    """The contract's example body of a route, if it takes one."""
    if path.endswith("/webhooks/clerk"):  # an event the service ignores: the example erases nobody
        return {
            "type": "user.created",
            "object": "event",
            "timestamp": 1764525600000,
            "data": {"id": USER, "object": "user"},
        }
    if path.endswith("/generate"):
        return {"prompt": PROMPT, "job_id": JOB_ID, "num_images": 1, "size": "1024x1024"}
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
        "user_id": USER,
        "status": "completed",
        "progress": 100,
        "data": {
            "original_prompt": PROMPT,
            f"{kind}s": [media],
            "metadata": {"model_name": "gemini-2.5-flash-image", "generation_time_seconds": 7.8},
        },
    }


def example_http_event(route: HttpRoute, credentials: Credentials) -> dict[str, Any]:
    parameters = {
        name: JOB_ID if name == "job_id" else f"example_{name}"
        for name in re.findall(r"\{(\w+)\}", route.path)
    }
    path = UNKNOWN_PATH if route.is_default else route.path.format(**parameters)
    method = "GET" if route.is_default else route.method
    body = example_body(route.path)
    text = None if body is None else json.dumps(body, ensure_ascii=False)
    headers = {
        "accept": "application/json",
        "host": f"abc123.execute-api.{REGION}.amazonaws.com",
        "user-agent": "Mozilla/5.0",
        "x-amzn-trace-id": "Root=1-6742a000-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if route.path.endswith("/webhooks/clerk"):  # Svix signs with the Clerk secret (webhook-* names too)
        headers.update(credentials.webhook_headers(text or "", credentials.clerk_secret))
    elif "webhooks" in route.path:
        headers.update(credentials.webhook_headers(text or ""))
    elif not route.is_default:
        headers["authorization"] = f"Bearer {credentials.token}"
    if text is not None:
        headers.update({"content-type": "application/json", "content-length": str(len(text.encode()))})
    return http_api_event(
        method,
        path,
        headers=headers,
        body=text,
        route_key=route.route_key,
        path_parameters=parameters,
        source_ip="203.0.113.10",
        api_id="abc123",
        request_id="C0ffEeExAmPlE=",
        at=datetime.fromtimestamp(credentials.now, UTC),
    )


def example_sqs_event(queue: str, now: int) -> dict[str, Any]:
    epoch_ms = now * 1000
    body = {"user_id": ERASED_EXAMPLE, "final_pass": True} if queue == "ErasureQueue" else {"job_id": JOB_ID}
    message = {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "Body": json.dumps(body),
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(epoch_ms),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(epoch_ms + 2),
        },
    }
    return sqs_event([message], f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue}")


def example_stream_event(now: int) -> dict[str, Any]:
    """A change of the example job as the generations table's stream records it (completed)."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000+0000")
    image = {
        "job_id": {"S": JOB_ID},
        "kind": {"S": "image"},
        "author_id": {"S": USER},
        "organization_id": {"S": "-"},
        "status": {"S": "completed"},
        "progress": {"N": "100"},
        "source": {"S": "api"},
        "created_at": {"S": stamp},
        "updated_at": {"S": stamp},
    }
    old = {**image, "status": {"S": "processing"}, "progress": {"N": "60"}}
    record = {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": now,
            "Keys": {"job_id": {"S": JOB_ID}},
            "NewImage": image,
            "OldImage": old,
            "SequenceNumber": "111100000000000000000001",
            "SizeBytes": 300,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/mediagen-generations/stream/2026-01-01T00:00:00.000"
    return dynamodb_stream_event([record], arn)


def event_for(spec: FunctionSpec, credentials: Credentials) -> dict[str, Any]:
    """The first event source of the function: an HTTP route, an SQS queue, a schedule, a DynamoDB
    stream; or, for a channel namespace's onSubscribe handler, AppSync's subscribe event."""
    for namespace, function in channel_namespaces().items():
        if function == spec.logical_id:
            claims = {"sub": USER, "iss": credentials.issuer, "exp": credentials.now + 3600}
            return appsync_subscribe_event(f"/{namespace}/users/{USER.replace('_', '-')}", claims)
    for source in spec.events.values():
        properties = source.get("Properties") or {}
        if source["Type"] == "HttpApi":
            return example_http_event(http_route(properties, spec.logical_id), credentials)
        if source["Type"] == "SQS":
            queue = properties["Queue"]
            return example_sqs_event(
                queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue).rsplit(":", 1)[-1],
                credentials.now,
            )
        if source["Type"] == "DynamoDB":
            return example_stream_event(credentials.now)
        if source["Type"] in ("Schedule", "ScheduleV2"):
            return scheduled_event(
                spec.logical_id,
                event_id="cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
                at=datetime.fromtimestamp(credentials.now, UTC),
            )
    raise ValueError(f"{spec.logical_id} has no HttpApi, SQS or Schedule event")


def environment(credentials: Credentials, stack_outputs: dict[str, str] | None = None) -> dict[str, Any]:
    """`--env-vars` for sam local: every function trusts the development key and secret. With a stack's
    outputs, the functions use that stack's tables and bucket (their names, from the outputs)."""
    variables = {
        "AUTH_ISSUER": credentials.issuer,
        "AUTH_JWKS_URL": credentials.jwks_data_url,
        "AUTH_AUTHORIZED_PARTIES": "",
        "WEBHOOK_SECRETS": credentials.secret,
        "CLERK_WEBHOOK_SECRETS": credentials.clerk_secret,
        "ERASURE_HASH_KEY": credentials.erasure_hash_key,
        # The library's cursors are signed with a key of their own (a secret's ARN when deployed).
        "LIBRARY_CURSOR_KEY": "sam-local-" + credentials.secret.removeprefix("whsec_"),
    }
    if stack_outputs:
        variables.update(
            {
                "GENERATIONS_TABLE": stack_outputs["GenerationsTableName"],
                "NOTIFICATIONS_TABLE": stack_outputs["NotificationsTableName"],
                "MEDIA_BUCKET": stack_outputs["MediaBucketName"],
            }
        )
    return {"Parameters": variables}


def render_all(
    credentials: Credentials | None = None, stack_outputs: dict[str, str] | None = None
) -> dict[str, str]:
    """File name -> content, for every function, and env.json."""
    credentials = credentials or Credentials()
    files = {
        f"{spec.logical_id}.json": json.dumps(event_for(spec, credentials), indent=2, ensure_ascii=False)
        + "\n"
        for spec in functions()
    }
    files[ENV_FILE] = json.dumps(environment(credentials, stack_outputs), indent=2) + "\n"
    return files


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in {path.name for path in folder.glob("*.json")} - set(files):
        (folder / stale).unlink()
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--tables-from", default="", help="a samconfig.toml environment (dev, prod)")
    arguments = parser.parse_args(argv)
    outputs = None
    if arguments.tables_from:
        from deploy.cli import Stack

        outputs = Stack(arguments.tables_from).outputs()
    files = render_all(stack_outputs=outputs)
    write(FOLDER, files)
    print(f"wrote {len(files) - 1} events and {ENV_FILE} in {FOLDER.relative_to(ROOT)}/")
    print("webhook events are valid for 5 minutes, tokens for 8 hours: `make events` again after that.")
    print("  sam local invoke <Function> -e events/<Function>.json --env-vars events/env.json")


if __name__ == "__main__":
    main()
