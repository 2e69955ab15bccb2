"""An afternoon of `make run`, in its shorter form: hundreds of jobs of ten people through one local
service, each person with a live subscriber, some refused (429), canceled or deleted (bench/soak.py
runs the full 1,000 and prints the curves). It fails on a final event that never reached its
subscriber, on memory that grows with the jobs, and on generate slowing down with the data; and the
service's stream readers say they never stalled.

The bounds are generous for a loaded 2-core machine and hold because they measure growth, not speed:
memory from job 100 to the end (50 MB; on moto, which keeps the data in the service's main process,
that process's growth a job must not rise over 1.5x, and every other process is held to the 50 MB: the
fixed service grows ~0 MB beside moto's ~70 KB a job, the broken one ~2 GB), and the service's CPU time
a job, last 100 against first 100 (1.5x). Wall-clock latency is the bench's to
judge (bench/soak.py): another suite beside this one slows generate 20x and a control read 10x."""

from pathlib import Path

import pytest
import requests

from bench.soak import Driver, Keys, local_service
from tests.conftest import require_dynamodb_local

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("dynamodb", "jobs"), [("moto", 300), ("local", 200)])
def test_hundreds_of_jobs_on_one_service_lose_no_event_and_keep_memory_and_latency_flat(
    dynamodb: str, jobs: int, tmp_path: Path
) -> None:
    if dynamodb == "local":
        require_dynamodb_local()
    keys = Keys(tmp_path)
    with local_service(keys, dynamodb, tmp_path / "service") as service:
        result = Driver(service, keys, people=10, in_flight=4, rate=3.0, seed=jobs).run(jobs)
        result.judge_latency = False
        result.store = dynamodb
        readers = requests.get(f"{service.base}/_local/info", timeout=30).json()["stream_readers"]
    report = "\n".join(result.report())
    print(report)  # the curves, in the test's output

    assert result.problems() == [], report
    assert result.refused > 0, "no generate was refused: the bursts past the cap did not happen"
    assert len(result.jobs) >= jobs - 20, report  # the refused generates are not jobs
    assert readers and all(reader["stalls"] == 0 for reader in readers.values()), readers
    assert sum(reader["delivered"] for reader in readers.values()) > 0, readers
