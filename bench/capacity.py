"""DynamoDB capacity of one job's life, new flow against old, from the items moto actually stores.

The life (issue 6): create, one processing and one completed webhook with 4 images, 5 status polls,
1 result, the notification read (the front end's notification list). The new flow runs through its
real handlers; the old one through bench/old_flow.py. The dispatcher's writes (the new flow's SQS
consumer, which sends the job to the backend) are not in the issue's list: they are metered and shown
apart.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import old_flow
from bench.meter import Charge, Meter
from bench.stand_in import STAND_IN, quiet_stdout
from bench.stats import table
from bench.world import MODEL, ORGANIZATION, PROMPT, USER, World

WRITE_PRICE = 0.625  # USD per million write request units (on demand)
READ_PRICE = 0.125  # USD per million read request units (on demand)
GOAL_SHARE = 0.60
IMAGES = 4

NEW = "new"
OLD_NOTE = "old (fix note: backend's own id)"
OLD_MATCH = "old (ids match)"
DISPATCH = "dispatch (not in the issue's list)"
# A job the generation backend started itself: created by a `processing` webhook naming its person,
# which puts it in their jobs in flight (the cap) in the same transaction; then completed.
BACKEND_STARTED = "new, started by the backend"


@dataclass
class Totals:
    wcu: float
    rcu: float

    @property
    def cost_per_million_jobs(self) -> float:
        """USD for a million jobs: units per job x price per million units."""
        return self.wcu * WRITE_PRICE + self.rcu * READ_PRICE


@dataclass
class CapacityResult:
    charges: list[Charge]

    def totals(self, flow: str, *, with_dispatch: bool = False) -> Totals:
        rows = [c for c in self.charges if c.flow == flow and (with_dispatch or c.step != DISPATCH)]
        return Totals(sum(c.wcu + c.gsi_wcu for c in rows), sum(c.rcu for c in rows))

    def share(self, *, with_dispatch: bool = False) -> float:
        """The new flow's write units over the old flow's (the cheaper old variant: the harder goal)."""
        old = min(self.totals(OLD_NOTE).wcu, self.totals(OLD_MATCH).wcu)
        return self.totals(NEW, with_dispatch=with_dispatch).wcu / old

    def goal_met(self) -> bool:
        return self.share() <= GOAL_SHARE


def _expect(response: dict[str, Any], status: int, what: str) -> None:
    if response.get("statusCode") != status:
        raise RuntimeError(f"{what}: HTTP {response.get('statusCode')} {response.get('body')}")


def run(world: World) -> CapacityResult:
    from local.harness.parties import completion_payload

    meter = Meter(STAND_IN, world.client)
    STAND_IN.meter = meter

    def step(flow: str, name: str, action: Callable[[], Any]) -> Any:
        meter.flow, meter.step = flow, name
        return action()

    job_id = f"life_{uuid.uuid4().hex[:16]}"
    status_path = f"/api/images/{job_id}/status"

    def webhook(status: str, **options: Any) -> dict[str, Any]:
        payload = completion_payload(
            job_id,
            status=status,
            images=IMAGES,
            user_id=USER,
            organization_id=ORGANIZATION,
            prompt=PROMPT,
            **options,
        )
        return world.deliver(world.webhook_event(payload))

    try:
        with quiet_stdout():
            world.drain_queue()
            _expect(step(NEW, "create", lambda: world.generate(job_id, IMAGES)), 202, "generate")
            answers = step(NEW, DISPATCH, world.run_dispatcher)
            if any(a.get("batchItemFailures") for a in answers) or not world.backend.requests:
                raise RuntimeError(f"dispatch failed: {answers}")
            _expect(
                step(NEW, "status poll 1", lambda: world.get("generation_status", status_path)), 200, "poll"
            )
            _expect(
                step(NEW, "webhook processing", lambda: webhook("processing", progress=50)), 200, "webhook"
            )
            for poll in (2, 3):
                _expect(
                    step(NEW, f"status poll {poll}", lambda: world.get("generation_status", status_path)),
                    200,
                    "poll",
                )
            _expect(
                step(NEW, f"webhook completed ({IMAGES} images)", lambda: webhook("completed")),
                200,
                "webhook",
            )
            for poll in (4, 5):
                _expect(
                    step(NEW, f"status poll {poll}", lambda: world.get("generation_status", status_path)),
                    200,
                    "poll",
                )
            result_path = f"/api/images/{job_id}/result"
            _expect(step(NEW, "result", lambda: world.get("generation_result", result_path)), 200, "result")
            page = step(NEW, "notification read", lambda: world.get("notifications", "/api/notifications"))
            _expect(page, 200, "notifications")
            if not any(
                item["metadata"]["generation_id"] == job_id for item in json.loads(page["body"])["items"]
            ):
                raise RuntimeError("the new flow's notification is missing")
            backend_id = f"backend_{uuid.uuid4().hex[:16]}"

            def started(status: str, **options: Any) -> dict[str, Any]:
                payload = completion_payload(
                    backend_id, status=status, images=IMAGES, user_id=USER, prompt=PROMPT, **options
                )
                return world.deliver(world.webhook_event(payload))

            _expect(
                step(
                    BACKEND_STARTED,
                    "webhook processing (creates)",
                    lambda: started("processing", progress=50),
                ),
                200,
                "webhook",
            )
            _expect(
                step(BACKEND_STARTED, f"webhook completed ({IMAGES} images)", lambda: started("completed")),
                200,
                "webhook",
            )
            for flow, ids_match in ((OLD_NOTE, False), (OLD_MATCH, True)):
                _old_life(world, step, flow, ids_match)
    finally:
        STAND_IN.meter = None
    return CapacityResult(meter.charges)


def _old_life(
    world: World, step: Callable[[str, str, Callable[[], Any]], Any], flow: str, ids_match: bool
) -> None:
    """The old system's requests for one job. With the fix note's backend, the webhooks carry the
    backend's own id: the processing one finds nothing and writes nothing, the completed one creates a
    second generation; the front end polls its own id. With matching ids, both update the generation."""
    from local.harness.parties import completion_payload

    old = world.old
    with STAND_IN.bypass():  # each variant's notification read sees its own notification only
        for item in world.client.scan(TableName=old_flow.NOTIFICATIONS)["Items"]:
            key = {"userId": item["userId"], "id": item["id"]}
            world.client.delete_item(TableName=old_flow.NOTIFICATIONS, Key=key)
    front_id = step(flow, "create", lambda: old.generate(USER, PROMPT, IMAGES, "1024x1024", MODEL))
    webhook_id = front_id if ids_match else str(uuid.uuid4())
    step(flow, "status poll 1", lambda: old.status(USER, front_id))
    processing = json.dumps(completion_payload(webhook_id, status="processing", progress=50))
    step(flow, "webhook processing", lambda: old.image_completion_webhook(processing))
    for poll in (2, 3):
        step(flow, f"status poll {poll}", lambda: old.status(USER, front_id))
    completed = json.dumps(completion_payload(webhook_id, images=IMAGES), ensure_ascii=False)
    step(flow, f"webhook completed ({IMAGES} images)", lambda: old.image_completion_webhook(completed))
    for poll in (4, 5):
        step(flow, f"status poll {poll}", lambda: old.status(USER, front_id))
    step(flow, "result", lambda: old.result(USER, front_id))
    items, _ = step(flow, "notification read", lambda: old.notifications(USER))
    if not any(item["metadata"]["M"]["generationId"]["S"] == webhook_id for item in items):
        raise RuntimeError(f"{flow}: the notification is missing")


def _units(value: float) -> str:
    return "" if value == 0 else (f"{value:g}")


def report(result: CapacityResult) -> list[str]:
    lines: list[str] = []
    for flow in (NEW, BACKEND_STARTED, OLD_NOTE, OLD_MATCH):
        rows = [
            [c.step, c.operation, c.target, c.size, _units(c.wcu), _units(c.gsi_wcu), _units(c.rcu), c.note]
            for c in result.charges
            if c.flow == flow
        ]
        lines.append(f"{flow}:")
        lines += table(
            ["step", "request", "table[/index]", "item bytes", "WCU", "index WCU", "RCU", "note"],
            rows,
            [False, False, False, True, True, True, True, False],
        )
        lines.append("")
    summary = []
    for label, flow, with_dispatch in (
        (NEW, NEW, False),
        ("new + dispatch", NEW, True),
        (BACKEND_STARTED, BACKEND_STARTED, False),
        (OLD_NOTE, OLD_NOTE, False),
        (OLD_MATCH, OLD_MATCH, False),
    ):
        totals = result.totals(flow, with_dispatch=with_dispatch)
        summary.append(
            [
                label,
                f"{totals.wcu:g}",
                f"{totals.rcu:g}",
                f"${totals.wcu * WRITE_PRICE:.3f}",
                f"${totals.rcu * READ_PRICE:.3f}",
                f"${totals.cost_per_million_jobs:.3f}",
            ]
        )
    lines.append("Totals for one job's life, and on-demand cost per million jobs:")
    lines += table(
        ["flow", "WCU", "RCU", "writes $/M jobs", "reads $/M jobs", "total $/M jobs"],
        summary,
        [False, True, True, True, True, True],
    )
    new, note, match = result.totals(NEW), result.totals(OLD_NOTE), result.totals(OLD_MATCH)
    lines.append("")
    lines.append(
        f"New write units over old: {new.wcu:g}/{note.wcu:g} = {new.wcu / note.wcu:.0%} (fix-note flow), "
        f"{new.wcu:g}/{match.wcu:g} = {new.wcu / match.wcu:.0%} (ids match); "
        f"with the dispatcher: {result.share(with_dispatch=True):.0%} of the cheaper old flow."
    )
    return lines
