"""The library's costs (issue 21), measured in one run on moto with the template's tables, through the
real handlers, metered by bench/meter.py (DynamoDB's documented unit rules on the items as stored):

- one job's write units (the capacity bench's life: create, dispatch, processing and completed
  webhooks) with the library indexes, and the same life without them (their index units taken out);
- the completion webhook's DynamoDB requests;
- a list page of 20 and of 100 items: requests, read units, S3 requests (none: previews are signed
  locally);
- a delete: requests and units.

    python -m bench.library          # print
    python -m bench.library --doc    # and write its section of docs/performance.md
"""

import argparse
import json
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.doc import shown, stamp, write_section
from bench.meter import Charge, Meter
from bench.stand_in import STAND_IN, configure_environment, make_workdir, quiet_stdout
from bench.stats import table
from bench.world import ORGANIZATION, PROMPT, USER, World

START = "<!-- library-benchmark:start (written by python -m bench.library --doc) -->"
END = "<!-- library-benchmark:end -->"
LIBRARY_INDEXES = ("library_author", "library_organization")
LISTED_JOBS = 120
# The same life measured on main before this issue (bench.capacity's "new + dispatch" row, 16:40 UTC,
# commit 668589c): no library index, the notification a plain conditional PutItem, the job within 1 KB.
BEFORE_WITH_DISPATCH = "13 (11 without the dispatch's 2)"
IMAGES = 4
# The same life on main before issue 29 (this bench, commit 90561fe): the notification's transaction
# checked the whole job (over 1 KB: 4 units) where its tombstone now stands.
BEFORE_ISSUE_29 = "36 (create 14, dispatch 4, processing 3, completed 15)"


@dataclass
class Measure:
    name: str
    charges: list[Charge]
    requests: Counter[str]

    @property
    def wcu(self) -> float:
        return sum(c.wcu + c.gsi_wcu for c in self.charges)

    @property
    def rcu(self) -> float:
        return sum(c.rcu for c in self.charges)

    def index_wcu(self, names: tuple[str, ...]) -> float:
        return sum(units for c in self.charges for name, units in c.by_index.items() if name in names)


def _measure(world: World, meter: Meter, name: str, action: Any) -> tuple[Measure, Any]:
    meter.charges.clear()
    seen: Counter[str] = Counter()
    import botocore.endpoint

    original = botocore.endpoint.Endpoint._do_get_response  # type: ignore[attr-defined]

    def counting(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        if not STAND_IN.bypassed():
            seen[f"{operation_model.service_model.service_name}.{operation_model.name}"] += 1
        return original(self, request, operation_model, context)

    botocore.endpoint.Endpoint._do_get_response = counting  # type: ignore[attr-defined]
    try:
        with quiet_stdout():
            answer = action()
    finally:
        botocore.endpoint.Endpoint._do_get_response = original  # type: ignore[attr-defined]
    return Measure(name, list(meter.charges), seen), answer


def _ok(response: dict[str, Any], status: int, what: str) -> dict[str, Any]:
    if response.get("statusCode") != status:
        raise RuntimeError(f"{what}: HTTP {response.get('statusCode')} {response.get('body')}")
    return response


def _seed_library(count: int) -> None:
    """`count` completed jobs of the bench's user, as generate and the webhook leave them."""
    from mediagen.data import library_index
    from mediagen.data.models import GeneratedFile, Generation

    start = datetime(2025, 1, 1, tzinfo=UTC)
    for index in range(count):
        stamp = start + timedelta(minutes=index)
        job_id = f"listed_{index:04d}"
        job = Generation(
            job_id=job_id,
            kind="image",
            author_id=USER,
            organization_id=ORGANIZATION,
            prompt=PROMPT,
            model="gemini-2.5-flash-image",
            num_images=IMAGES,
            size="1024x1024",
            status="completed",
            progress=100,
            source="api",
            created_at=stamp,
            updated_at=stamp,
            completed_at=stamp,
            dispatched_at=stamp,
            files=[
                GeneratedFile(
                    s3_key=f"images/{job_id}/{n}.png",
                    size_bytes=1482013,
                    format="png",
                    width=1024,
                    height=1024,
                    aspect_ratio="1024x1024",
                    description=PROMPT,
                    model="gemini-2.5-flash-image",
                    generation_time_seconds=7.8,
                )
                for n in range(IMAGES)
            ],
        )
        library_index.with_library_keys(job).save()


def run(world: World) -> list[Measure]:
    from local.harness.parties import completion_payload

    meter = Meter(STAND_IN, world.client)
    STAND_IN.meter = meter
    measures: list[Measure] = []
    try:
        job_id = f"life_{uuid.uuid4().hex[:12]}"
        world.drain_queue()

        def webhook(status: str, **options: Any) -> dict[str, Any]:
            payload = completion_payload(
                job_id, status=status, images=IMAGES, user_id=USER, organization_id=ORGANIZATION, **options
            )
            return world.deliver(world.webhook_event(payload))

        life = []
        step, _ = _measure(
            world, meter, "create (generate)", lambda: _ok(world.generate(job_id, IMAGES), 202, "generate")
        )
        life.append(step)
        step, _ = _measure(world, meter, "dispatch", world.run_dispatcher)
        life.append(step)
        step, _ = _measure(
            world,
            meter,
            "webhook processing",
            lambda: _ok(webhook("processing", progress=50), 200, "webhook"),
        )
        life.append(step)
        step, _ = _measure(
            world,
            meter,
            f"webhook completed ({IMAGES} images)",
            lambda: _ok(webhook("completed"), 200, "webhook"),
        )
        life.append(step)
        measures += life

        STAND_IN.meter = None
        with quiet_stdout():
            _seed_library(LISTED_JOBS)
        STAND_IN.meter = meter
        for limit in (20, 100):
            step, answer = _measure(
                world,
                meter,
                f"list page of {limit}",
                lambda limit=limit: world.get("library", f"/api/images?limit={limit}"),
            )
            body = json.loads(_ok(answer, 200, "list")["body"])
            if len(body["items"]) != limit or not body["next_cursor"]:
                raise RuntimeError(f"a page of {limit} came back with {len(body['items'])} items")
            measures.append(step)
            cursor = body["next_cursor"]
            step, answer = _measure(
                world,
                meter,
                f"next page of {limit}",
                lambda limit=limit, cursor=cursor: world.get(
                    "library", f"/api/images?limit={limit}&cursor={cursor}"
                ),
            )
            _ok(answer, 200, "next page")
            measures.append(step)

        from deploy.base.lambda_events import http_api_event

        delete_event = http_api_event(
            "DELETE", f"/api/images/{job_id}", headers=world.minter.auth(USER, org=ORGANIZATION)
        )
        step, _ = _measure(
            world,
            meter,
            "delete (completed, notified)",
            lambda: _ok(world.handlers["library"](delete_event, world.context), 200, "delete"),
        )
        measures.append(step)
        step, answer = _measure(world, meter, "webhook for the deleted job", lambda: webhook("completed"))
        if json.loads(_ok(answer, 200, "late webhook")["body"])["outcome"] != "deleted":
            raise RuntimeError("the late webhook was not answered `deleted`")
        measures.append(step)
    finally:
        STAND_IN.meter = None
    return measures


LIFE_STEPS = 4  # run()'s first measures: create, dispatch, the processing and completed webhooks


def life_units(measures: list[Measure]) -> float:
    """The write units of one organization's job's life (table and index writes of its four steps)."""
    return sum(m.wcu for m in measures[:LIFE_STEPS])


def webhook_dynamodb_requests(measures: list[Measure]) -> int:
    """The most DynamoDB requests one completion webhook delivery of the life made."""
    return max(
        sum(v for k, v in m.requests.items() if k.startswith("dynamodb.")) for m in measures[2:LIFE_STEPS]
    )


def report(measures: list[Measure]) -> list[str]:
    rows = []
    for m in measures:
        dynamodb = {k.split(".", 1)[1]: v for k, v in m.requests.items() if k.startswith("dynamodb.")}
        others = {k: v for k, v in m.requests.items() if not k.startswith("dynamodb.")}
        rows.append(
            [
                m.name,
                str(sum(dynamodb.values())),
                ", ".join(f"{k} {v}" for k, v in sorted(dynamodb.items())),
                ", ".join(f"{k} {v}" for k, v in sorted(others.items())) or "-",
                f"{m.wcu:g}",
                f"{m.index_wcu(LIBRARY_INDEXES):g}",
                f"{m.rcu:g}",
            ]
        )
    lines = table(
        [
            "operation",
            "DynamoDB requests",
            "by request",
            "other requests",
            "WCU",
            "of which library idx",
            "RCU",
        ],
        rows,
    )
    life = measures[:LIFE_STEPS]
    total = life_units(measures)
    library = sum(m.index_wcu(LIBRARY_INDEXES) for m in life)
    webhook_requests = webhook_dynamodb_requests(measures)
    notification = sum(
        c.wcu + c.gsi_wcu for m in life[3:4] for c in m.charges if c.operation.startswith("Transact.")
    )
    organization = sum(m.index_wcu(("library_organization",)) for m in life)
    lines += [
        "",
        "Write units per job (create, dispatch, processing and completed webhooks; an organization's job):",
        f" {total:g} with the library indexes, {total - library:g} without them (+{library:g}, the indexes);",
        f" a private job (no library_org) {total - organization:g}. Before issue 21 (main, same life): "
        f"{BEFORE_WITH_DISPATCH};",
        f" before issue 29's notification tombstone: {BEFORE_ISSUE_29}.",
        f"The completion webhook: at most {webhook_requests} DynamoDB requests a delivery to a job generate"
        " made (one more for a create on missing: its transaction checks the id was not erased,",
        " docs/architecture.md); its notification (a transaction: the put, its unread entry, a",
        f" ConditionCheck of the author's erasure record): {notification:g} WCU.",
    ]
    return lines


def write_doc(lines: list[str]) -> Path:
    section = "\n".join(
        [
            START,
            "## 6. A person's library (issue 21)",
            "",
            f"Measured {stamp()}.",
            "",
            "**Method.** `python -m bench.library --doc`: moto in process with the template's tables, the",
            "real handlers, every request counted at botocore's send and metered by `bench/meter.py`",
            "(DynamoDB's documented unit rules on the items as stored). The job's life is the capacity",
            f"bench's (section 3); the list pages read a library of {LISTED_JOBS} completed images with",
            f"{IMAGES} files each; the delete removes the life's completed job (its notification, its place",
            "in the cap when in flight) and queues its files (one SQS message; the worker's S3 requests",
            "are not DynamoDB's).",
            "",
            "```text",
            *lines,
            "```",
            "",
            "Decisions, with these numbers:",
            "",
            "- The webhook stays at two DynamoDB requests: the job's conditional UpdateItem, then the",
            "  notification's put in one TransactWriteItems with a ConditionCheck that its author was not",
            "  erased. Putting the notification into the job item (one request) would make the",
            "  notification list a query of the jobs table (a third sparse index, written on every job",
            "  write) and marking it read a job write; not chosen.",
            "- A delete racing the webhook leaves no notification through a tombstone at the",
            "  notification's own key (issue 29): the delete's transaction strips the notification to its",
            "  key (or writes that key when the webhook has not put it yet), and the webhook's put, whose",
            "  condition is that the key is free, is refused (tests/integration/test_library_races.py).",
            "  Before, the put's transaction checked the whole job, which DynamoDB charges as a write of",
            "  the checked item (over 1 KB with 4 files: 2 units, doubled: 4). The tombstone costs the",
            "  delete nothing more (it replaced the notification's Delete in the same transaction), lists",
            "  skip it (a FilterExpression; the unread index never holds it) and it expires after a day.",
            "  The erasure-record check stays: an erasure leaves nothing keyed by the person in clear, so",
            "  no tombstone can stand in for it.",
            "- Where the rest goes, and why it stays (issue 29 asked for 15): the create is one",
            "  transaction, every item doubled (the cap and the two erasure checks need it all or nothing):",
            "  the checks of the author's and the id's erasure records 2 + 2, the put 2 and its three",
            "  index entries 6 (in-flight for the sweeper, both libraries), the JobsInFlight entry 2. Each",
            "  later write that moves a projected attribute (dispatch's `dispatched_at`, processing's",
            "  status and progress, the completion) writes both library entries: 2 a step, because a list",
            "  page is one Query of full items (KEYS_ONLY indexes and a BatchGetItem of the page would",
            "  make it two requests). The completed job is over 1 KB with 4 files (2 units).",
            "- The library indexes project what a list item shows and not the dispatch lease, so the",
            "  dispatcher's claim writes no library index; a private job carries no `library_org`, so",
            "  only organization jobs pay for the second index (the bench's job is one: the worst case).",
            "- A list page is one Query whatever its depth (the cursor is a key) and signs its previews",
            "  locally: no S3 request. A page of 100 full items reads about 100 KB (12 read units).",
            END,
        ]
    )
    return write_section(START, END, section)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--doc", action="store_true", help="write the section of docs/performance.md")
    # Its figures are counts of one life and of pages of 20 and 100 (seconds: moto's set-up): the quick
    # run is the same run, accepted so that every bench takes --quick (python -m bench.all --quick).
    parser.add_argument("--quick", action="store_true", help="the same run (about 30 s)")
    args = parser.parse_args()
    configure_environment(make_workdir())
    from bench import world as world_module

    stand = world_module.build(make_workdir())
    try:
        lines = report(run(stand))
    finally:
        stand.close()
    print("\n".join(lines))
    if args.doc:
        print(f"Wrote {shown(write_doc(lines))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
