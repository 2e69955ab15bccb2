"""Retention against the local service (`make run` with RETENTION_DAYS, contract "Running it on one
machine"): the setting reaches every function, a finished job carries `expires_at` (its finish plus the
retention), and from then on it is treated as deleted: 404, in no list, a late webhook stores nothing."""

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import LocalService, json_of, own_keys, run_service
from tests.e2e.test_local_service import deliver
from tests.support import TokenMinter, completion_payload

pytestmark = pytest.mark.e2e
RETENTION_DAYS = "0.0002"  # 17.28 s: short enough to watch, long enough to read the job before it
RETENTION = timedelta(days=float(RETENTION_DAYS))
# The expiry is checked at each read against the clock: waiting for the 404 needs only the retention
# itself, plus the slowest read of a loaded 2-core machine (seconds); 120 s bounds both with room.
EXPIRY_WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    yield from run_service(
        tmp_path_factory.mktemp("retention"),
        LOCAL_GENERATOR="off",
        RETENTION_DAYS=RETENTION_DAYS,
        **own_keys(jwks_file),
    )


def test_retention_days_is_honoured_by_the_local_service(service: LocalService, minter: TokenMinter) -> None:
    # Given a finished job of a person
    user, job_id = f"user_ret_{uuid.uuid4().hex[:8]}", f"ret_{uuid.uuid4().hex[:8]}"
    author = minter.auth(user)
    payload = completion_payload(job_id, user_id=user, status="failed", error="model refused")
    assert deliver(service, payload).status_code == 200
    assert "retention:      0.0002 days" in service.output()

    # Then its status carries expires_at, its finish plus the retention, and it is listed until then
    status = json_of(requests.get(f"{service.base}/api/images/{job_id}/status", headers=author, timeout=10))
    finished = datetime.fromisoformat(status["finished_at"])
    assert datetime.fromisoformat(status["expires_at"]) == finished + RETENTION
    listed = json_of(requests.get(f"{service.base}/api/images", headers=author, timeout=10))
    assert [item["job_id"] for item in listed["items"]] == [job_id]
    assert listed["items"][0]["expires_at"] == status["expires_at"]

    # When it expires: treated as deleted (404, in no list, a late webhook stores nothing)
    deadline = time.monotonic() + EXPIRY_WAIT_SECONDS
    while (
        requests.get(f"{service.base}/api/images/{job_id}/status", headers=author, timeout=10).status_code
        != 404
    ):
        assert time.monotonic() < deadline, "the job did not expire"
        time.sleep(0.5)
    listed = json_of(requests.get(f"{service.base}/api/images", headers=author, timeout=10))
    assert listed["items"] == []
    late = deliver(service, completion_payload(job_id, user_id=user))
    assert (late.status_code, json_of(late)["outcome"]) == (200, "deleted")
