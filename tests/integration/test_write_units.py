"""What one job costs DynamoDB, so that it cannot grow back unnoticed (issue 29): the write units of an
organization's job's life (create, dispatch, the processing and completed webhooks) and the DynamoDB
requests of one completion webhook delivery, measured by bench/library.py through the real handlers and
metered by bench/meter.py (DynamoDB's documented unit rules on the items as stored): counts, not
timings.

In a fresh process, as `make bench` runs it: the bench sets its own environment before anything imports
mediagen, which this session has imported already with the tests' settings.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from local.harness import aws_calls

ROOT = Path(__file__).resolve().parents[2]
LIFE = """
import json
from bench.stand_in import configure_environment, make_workdir
configure_environment(make_workdir())
from bench import library, world
stand = world.build(make_workdir())
try:
    measures = library.run(stand)  # raises on any answer other than the one the life expects
finally:
    stand.close()
print(json.dumps({
    "units": library.life_units(measures),
    "webhook_requests": library.webhook_dynamodb_requests(measures),
    "steps": {m.name: m.wcu for m in measures[: library.LIFE_STEPS]},
}))
"""
# docs/performance.md, section 6: 36 before issue 29 (the notification's transaction checked the whole
# job, over 1 KB: 4 units); its tombstone took that check out. Where the rest goes is written there.
WRITE_UNITS_PER_ORGANIZATION_JOB = 32
WEBHOOK_DYNAMODB_REQUESTS = 2  # the job's conditional update, then its notification's
# moto, the handlers' imports, one life and a library of 120 jobs to list: about 20 s on an idle 2-core
# machine; the bound is for the same machine running the rest of the suite beside it.
TIMEOUT_SECONDS = 300


def test_an_organization_jobs_life_stays_within_its_write_units_and_webhook_requests() -> None:
    environment = {k: v for k, v in os.environ.items() if k != aws_calls.VARIABLE}  # not this session's
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", LIFE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["units"] <= WRITE_UNITS_PER_ORGANIZATION_JOB, measured["steps"]
    assert measured["webhook_requests"] <= WEBHOOK_DYNAMODB_REQUESTS, measured
