"""Everything the in-process benchmarks run against: moto with the template's tables (and the old
flow's), the media bucket, the dispatch queue, a stand-in generation backend, a token issuer, and the
real Lambda handlers. Build it after stand_in.configure_environment()."""

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import old_flow
from bench.stand_in import install_hook
from deploy.base.lambda_events import LambdaContext, http_api_event
from local.harness.parties import (
    FRONT_END,
    ISSUER,
    MEDIA_BUCKET,
    MODEL,
    PROMPT,
    WEBHOOK_SECRET,
    FakeBackend,
    TokenMinter,
    webhook_event,
)
from local.harness.sources import SqsEventSource

USER = "user_2benchAuthor"
ORGANIZATION = "org_2benchTeam"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class World:
    workdir: Path
    mock: Any
    client: Any  # boto3 DynamoDB client (the old flow's, and the meter's)
    old: old_flow.OldSystem
    minter: Any
    context: Any
    backend: Any
    queue_url: str
    handlers: dict[str, Handler]

    # --- the new flow's routes, as API Gateway calls them ----------------------------------------------

    def generate(self, job_id: str, num_images: int) -> dict[str, Any]:
        body = json.dumps(
            {
                "prompt": PROMPT,
                "job_id": job_id,
                "num_images": num_images,
                "size": "1024x1024",
                "model": MODEL,
            },
            ensure_ascii=False,
        )
        headers = {"content-type": "application/json", **self.minter.auth(USER, org=ORGANIZATION)}
        return self.handlers["generate"](
            http_api_event("POST", "/api/images/generate", body=body, headers=headers), self.context
        )

    def webhook_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        return webhook_event(payload)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.handlers["completion_webhook"](event, self.context)

    def get(self, handler: str, path: str) -> dict[str, Any]:
        event = http_api_event("GET", path, headers=self.minter.auth(USER, org=ORGANIZATION))
        return self.handlers[handler](event, self.context)

    def run_dispatcher(self) -> list[Any]:
        """Hand the dispatch queue's messages to the dispatcher, as the event source mapping does."""
        import boto3

        source = SqsEventSource(
            boto3.client("sqs"), self.queue_url, lambda event: self.handlers["dispatch"](event, self.context)
        )
        return source.drain()

    def drain_queue(self) -> None:
        """Drop what generate queued (PurgeQueue is allowed once a minute only)."""
        import boto3

        sqs = boto3.client("sqs")
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for message in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def close(self) -> None:
        self.backend.stop()
        self.mock.stop()


def build(workdir: Path) -> World:
    import boto3
    from moto import mock_aws

    from deploy.base.cfn_template import TABLE_ENV, create_queues, create_tables
    from deploy.placeholder_settings import apply_placeholders

    jwks = workdir / "jwks.json"
    minter = TokenMinter.with_new_key(jwks, kid="bench-key-1")
    backend = FakeBackend()
    # Every setting a handler checks at its cold start, from the one list of every tool that imports
    # them (a handler added with a new setting needs nothing here); then the world's own, which it
    # serves: its issuer's keys, its backend, its queues below.
    apply_placeholders()
    os.environ.update(
        {
            "AUTH_ISSUER": ISSUER,
            "AUTH_JWKS_URL": jwks.as_uri(),
            "AUTH_AUTHORIZED_PARTIES": FRONT_END,
            "WEBHOOK_SECRETS": WEBHOOK_SECRET,
            "MEDIA_BUCKET": MEDIA_BUCKET,
            "GENERATOR_URL": backend.url,
            "GENERATOR_API_KEY": "bench-generator-key",
            "PUBLIC_API_URL": "https://api.mediagen.bench",
        }
    )
    mock = mock_aws()
    mock.start()
    install_hook()
    client = boto3.client("dynamodb")
    # Every table of the template, under the names the functions were given (stand_in): generate reads
    # the erased people's table, for one.
    create_tables(client, {logical_id: os.environ[variable] for logical_id, variable in TABLE_ENV.items()})
    old_flow.create_tables(client)
    boto3.client("s3").create_bucket(Bucket=MEDIA_BUCKET)
    queues = create_queues(boto3.client("sqs"), prefix="bench-")
    queue_url = queues["DispatchQueue"]
    os.environ["DISPATCH_QUEUE_URL"] = queue_url
    os.environ["FILE_REMOVAL_QUEUE_URL"] = queues["FileRemovalQueue"]
    os.environ["ERASURE_QUEUE_URL"] = queues["ErasureQueue"]
    os.environ["LIBRARY_CURSOR_KEY"] = "bench-library-cursor-key"
    handlers = {
        name: importlib.import_module(f"{name}.app").lambda_handler
        for name in (
            "generate",
            "completion_webhook",
            "generation_status",
            "generation_result",
            "notifications",
            "dispatch",
            "library",
        )
    }
    old = old_flow.OldSystem(client)
    # The author is the oldest user, so the old flow's "first user" is right here: its notification
    # reaches the user who reads it, as in the new flow, and the reads compare like for like.
    old.seed_user(USER, "author@example.com", ORGANIZATION)
    for index in range(49):
        old.seed_user(f"user_2other{index:03d}", f"other{index}@example.com", None)
    return World(
        workdir=workdir,
        mock=mock,
        client=client,
        old=old,
        minter=minter,
        context=LambdaContext(function_name="bench"),
        backend=backend,
        queue_url=queue_url,
        handlers=handlers,
    )
