"""The in-process benchmarks' world (bench/world.py) serves the real handlers a job's whole life: the
capacity bench's, through generate, the webhooks, the status and result routes and the notifications
(issue 30: generate answered 500 there, the world lacked the erased people's table that generate reads).

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
from bench import capacity, world
stand = world.build(make_workdir())
try:
    result = capacity.run(stand)  # raises on any answer other than the one the life expects
finally:
    stand.close()
print(json.dumps({flow: result.totals(flow).wcu for flow in {c.flow for c in result.charges}}))
"""
# moto, the handlers' imports and one life of each flow: about 10 s on an idle 2-core machine; the bound
# is for the same machine running the rest of the suite beside it.
TIMEOUT_SECONDS = 300


def test_the_capacity_bench_runs_a_job_life_through_every_handler() -> None:
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
    units = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"new", "old (fix note: backend's own id)", "old (ids match)"} <= set(units)
    assert all(value > 0 for value in units.values()), units  # every flow wrote
