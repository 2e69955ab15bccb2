"""The contract's races, run for real against the local service: concurrent HTTP requests, each
invocation in a sandbox process of its function (several per function), sharing the embedded AWS."""

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import LocalService, has_route, json_of, own_keys, run_service
from tests.support import TokenMinter, completion_payload, signed_headers

pytestmark = pytest.mark.e2e
SANDBOXES = 6
TIMEOUT = 120  # a loaded 2-core machine is slow; no answer in this time is a hang


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    yield from run_service(
        tmp_path_factory.mktemp("races"),
        LOCAL_GENERATOR="off",
        LOCAL_SANDBOXES=str(SANDBOXES),
        **own_keys(jwks_file),
    )


def all_at_once(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Every call from its own thread, released together; the answers in order (a failure raises)."""
    barrier = threading.Barrier(len(calls))
    answers: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            answers[index] = calls[index]()
        except requests.RequestException as error:
            answers[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [a for a in answers if not isinstance(a, requests.Response)]
    assert failures == [], Counter(map(repr, failures))
    return answers


def delivery(
    service: LocalService, payload: dict[str, Any], webhook_id: str | None = None
) -> Callable[[], Any]:
    body = json.dumps(payload)
    headers = signed_headers(body, webhook_id=webhook_id)

    def send() -> requests.Response:
        return requests.post(
            f"{service.base}/api/webhooks/image-completion", data=body, headers=headers, timeout=TIMEOUT
        )

    return send


def notifications_of(service: LocalService, auth: dict[str, str]) -> list[dict[str, Any]]:
    if not has_route("GET /api/notifications"):
        pytest.skip("no notifications route")
    items: list[dict[str, Any]] = json_of(
        requests.get(f"{service.base}/api/notifications", headers=auth, timeout=TIMEOUT)
    )["items"]
    return items


def test_the_same_delivery_a_hundred_times_at_once(service: LocalService, minter: TokenMinter) -> None:
    # Given one signed completion for a job the service has never seen
    job_id = f"race_{uuid.uuid4().hex[:10]}"
    send = delivery(service, completion_payload(job_id, user_id="user_race"), webhook_id=f"msg_{job_id}")

    # When it arrives 100 times at the same moment
    answers = all_at_once([send] * 100)

    # Then every copy is acknowledged, one created the job, and the user is notified once
    assert Counter(a.status_code for a in answers) == {200: 100}
    assert Counter(json_of(a)["outcome"] for a in answers) == {"created": 1, "duplicate": 99}
    auth = minter.auth("user_race")
    status = json_of(
        requests.get(f"{service.base}/api/images/{job_id}/status", headers=auth, timeout=TIMEOUT)
    )
    assert status["status"] == "completed"
    assert [n["metadata"]["generation_id"] for n in notifications_of(service, auth)] == [job_id]


def test_two_users_racing_to_generate_with_one_job_id(service: LocalService, minter: TokenMinter) -> None:
    if not has_route("POST /api/images/generate"):
        pytest.skip("no generate route")
    job_id = f"race_{uuid.uuid4().hex[:10]}"
    users = [f"user_gen_{i % 2}" for i in range(20)]

    def generate(user: str) -> Callable[[], requests.Response]:
        body = {"prompt": f"prompt of {user}", "job_id": job_id}
        auth = minter.auth(user)
        return lambda: requests.post(
            f"{service.base}/api/images/generate", json=body, headers=auth, timeout=TIMEOUT
        )

    answers = all_at_once([generate(user) for user in users])

    by_user: dict[str, list[int]] = {}
    for user, answer in zip(users, answers, strict=True):
        by_user.setdefault(user, []).append(answer.status_code)
    [winner] = [user for user, codes in by_user.items() if 202 in codes]
    loser = next(user for user in by_user if user != winner)
    assert sorted(by_user[winner]) == [200] * 9 + [202]
    assert by_user[loser] == [409] * 10
    path = f"{service.base}/api/images/{job_id}/status"
    assert requests.get(path, headers=minter.auth(winner), timeout=TIMEOUT).status_code == 200
    assert requests.get(path, headers=minter.auth(loser), timeout=TIMEOUT).status_code == 404


def test_cancel_racing_completion_one_of_them_wins_entirely(
    service: LocalService, minter: TokenMinter
) -> None:
    if not (has_route("POST /api/images/generate") and has_route("POST /api/images/{job_id}/cancel")):
        pytest.skip("no generate or cancel route")
    author = "user_cancel"
    auth = minter.auth(author)
    for _ in range(3):
        # Given a queued job (the stand-in generator is off)
        job_id = f"race_{uuid.uuid4().hex[:10]}"
        created = requests.post(
            f"{service.base}/api/images/generate",
            json={"prompt": "Un phare", "job_id": job_id},
            headers=auth,
            timeout=TIMEOUT,
        )
        assert created.status_code == 202, created.text

        # When its author cancels it 10 times while its completion arrives 10 times
        def cancel(job_id: str = job_id) -> requests.Response:
            return requests.post(f"{service.base}/api/images/{job_id}/cancel", headers=auth, timeout=TIMEOUT)

        completion = delivery(service, completion_payload(job_id, user_id=author), webhook_id=f"msg_{job_id}")
        answers = all_at_once([cancel, completion] * 10)
        cancels, completions = answers[0::2], answers[1::2]

        # Then one of them won, entirely: the final state, the answers and the notifications agree
        status = json_of(
            requests.get(f"{service.base}/api/images/{job_id}/status", headers=auth, timeout=TIMEOUT)
        )
        outcomes = Counter(json_of(a)["outcome"] for a in completions)
        assert all(a.status_code == 200 for a in completions)
        notified = [n for n in notifications_of(service, auth) if n["metadata"]["generation_id"] == job_id]
        if status["status"] == "canceled":
            assert all(a.status_code == 200 and json_of(a)["status"] == "canceled" for a in cancels)
            assert outcomes == {"stale": 10}
            assert notified == []
        else:
            assert status["status"] == "completed"
            assert all(a.status_code == 409 and json_of(a)["status"] == "completed" for a in cancels)
            assert outcomes == {"updated": 1, "duplicate": 9}
            assert len(notified) == 1
