"""Webhook latency with modelled DynamoDB latency: the real completion webhook handler against the old
flow, on the same stand-in, in one run, interleaved (each round runs every variant once, in a rotating
order, so a slow moment of the machine hits all of them alike)."""

import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench.stand_in import STAND_IN, quiet_stdout
from bench.stats import median, p90, table
from bench.world import ORGANIZATION, PROMPT, USER, World

NEW_EXISTING = "new: job exists (normal path)"
NEW_MISSING = "new: job missing, user_id given"
OLD = "old: fix-note flow (job missing)"
VARIANTS = (NEW_EXISTING, NEW_MISSING, OLD)
GOAL_IMAGES = 4
GOAL_RATIO = 4.0


@dataclass
class Sample:
    wall_ms: float  # the handler call, as the clock saw it
    requests: int
    modelled_ms: float  # the DynamoDB time the stand-in modelled (the sum of the request delays)
    served_ms: float  # moto's own time inside it
    overruns: int  # requests that moto served slower than their modelled delay (then not padded)
    excess_ms: float  # what the requests lasted beyond their delays: moto's overruns, sleep overshoot

    @property
    def ms(self) -> float:
        """The call as if every request had lasted exactly its modelled delay. Padded requests nearly
        did; what any request lasted beyond its delay (moto slower than DynamoDB, typically its
        UpdateItem expression parser, or the sleep waking late) is taken back out."""
        return self.wall_ms - self.excess_ms


@dataclass
class LatencyResult:
    samples: dict[tuple[int, str], list[Sample]]
    repetitions: int
    warmup: int

    def median(self, images: int, variant: str) -> float:
        return median([s.ms for s in self.samples[images, variant]])

    def p90(self, images: int, variant: str) -> float:
        return p90([s.ms for s in self.samples[images, variant]])

    def raw_median(self, images: int, variant: str) -> float:
        return median([s.wall_ms for s in self.samples[images, variant]])

    def ratio(self, images: int, new_variant: str) -> float:
        return self.median(images, OLD) / self.median(images, new_variant)

    def goal_met(self) -> bool:
        return min(self.ratio(GOAL_IMAGES, v) for v in (NEW_EXISTING, NEW_MISSING)) >= GOAL_RATIO


def _new_payload(job_id: str, images: int) -> dict[str, Any]:
    """The payload the backend sends under the contract (user, organization, original prompt)."""
    from local.harness.parties import completion_payload

    return completion_payload(
        job_id, images=images, user_id=USER, organization_id=ORGANIZATION, prompt=PROMPT
    )


def _old_body(job_id: str, images: int) -> str:
    """The old backend's payload exactly (no user_id, no original_prompt)."""
    from local.harness.parties import completion_payload

    return json.dumps(completion_payload(job_id, images=images), ensure_ascii=False)


def _timed(call: Callable[[], Any], check: Callable[[Any], bool], label: str) -> Sample:
    STAND_IN.calls.clear()
    STAND_IN.latency = True
    start = time.perf_counter()
    answer = call()
    wall = (time.perf_counter() - start) * 1000
    STAND_IN.latency = False
    if not check(answer):
        raise RuntimeError(f"{label}: unexpected answer {answer!r}")
    calls = list(STAND_IN.calls)
    return Sample(
        wall,
        len(calls),
        sum(c.modelled_ms for c in calls),
        sum(c.served_ms for c in calls),
        sum(1 for c in calls if c.served_ms > c.modelled_ms),
        sum(max(0.0, c.lasted_ms - c.modelled_ms) for c in calls),
    )


def _outcome(response: dict[str, Any], expected: str) -> bool:
    return response.get("statusCode") == 200 and json.loads(response["body"]).get("outcome") == expected


def run(world: World, image_counts: tuple[int, ...], repetitions: int, warmup: int) -> LatencyResult:
    samples: dict[tuple[int, str], list[Sample]] = {(n, v): [] for n in image_counts for v in VARIANTS}
    rounds = warmup + repetitions
    with quiet_stdout():
        # The jobs of the normal path exist before their webhook: created by the generate route.
        for images in image_counts:
            for index in range(rounds):
                response = world.generate(f"bench_{images}_{index}", images)
                if response["statusCode"] != 202:
                    raise RuntimeError(f"generate failed: {response}")
        world.drain_queue()
        for index in range(rounds):
            for images in image_counts:
                runs: dict[str, Callable[[], Sample]] = {
                    NEW_EXISTING: partial(_new, world, f"bench_{images}_{index}", images, "updated"),
                    NEW_MISSING: partial(_new, world, f"missing_{uuid.uuid4().hex[:20]}", images, "created"),
                    OLD: partial(_old, world, str(uuid.uuid4()), images),
                }
                order = VARIANTS[index % 3 :] + VARIANTS[: index % 3]
                for variant in order:
                    sample = runs[variant]()
                    if index >= warmup:
                        samples[images, variant].append(sample)
            if (index + 1) % 10 == 0:
                print(f"  latency: round {index + 1}/{rounds}", file=sys.stderr)
    return LatencyResult(samples, repetitions, warmup)


def _new(world: World, job_id: str, images: int, expected: str) -> Sample:
    event = world.webhook_event(_new_payload(job_id, images))  # signed before the clock starts
    return _timed(lambda: world.deliver(event), lambda r: _outcome(r, expected), f"new webhook {job_id}")


def _old(world: World, job_id: str, images: int) -> Sample:
    body = _old_body(job_id, images)
    return _timed(
        lambda: world.old.image_completion_webhook(body), lambda r: r == {"success": True}, f"old {job_id}"
    )


def report(result: LatencyResult) -> list[str]:
    rows = []
    for images in sorted({n for n, _ in result.samples}):
        for variant in VARIANTS:
            data = result.samples[images, variant]
            med = result.median(images, variant)
            modelled = median([s.modelled_ms for s in data])
            ratio = "" if variant == OLD else f"{result.ratio(images, variant):.2f}x"
            p90_ratio = (
                "" if variant == OLD else f"{result.p90(images, OLD) / result.p90(images, variant):.2f}x"
            )
            rows.append(
                [
                    images,
                    variant,
                    data[0].requests,
                    f"{modelled:.1f}",
                    f"{med:.1f}",
                    f"{result.p90(images, variant):.1f}",
                    f"{med - modelled:.1f}",
                    ratio,
                    p90_ratio,
                    f"{result.raw_median(images, variant):.1f}",
                ]
            )
    lines = table(
        [
            "images",
            "flow",
            "DynamoDB requests",
            "modelled DB ms",
            "median ms",
            "p90 ms",
            "median - DB ms",
            "old/new median",
            "old/new p90",
            "raw median ms",
        ],
        rows,
        [True, False, True, True, True, True, True, True, True, True],
    )
    every = [sample for samples in result.samples.values() for sample in samples]
    served = sum(s.served_ms for s in every) / max(1, sum(s.requests for s in every))
    lines.append("")
    overruns = sum(s.overruns for s in every)
    lines.append(
        f"{result.repetitions} timed deliveries per row, after {result.warmup} warm-up rounds. Times are "
        "the handler call with every DynamoDB request lasting exactly its modelled delay: each request is "
        f"padded to its delay by a sleep, moto's own time ({served:.1f} ms per request on average) being "
        f"inside it; {overruns} of {sum(s.requests for s in every)} requests took moto longer than their "
        "delay, and what a request lasted beyond its delay is taken back out ('raw median' keeps it)."
    )
    return lines
