"""Fixtures of the integration tests."""

from typing import Any

import pytest

from tests.integration.user_route_refusals import Store


@pytest.fixture
def store(lambda_context: Any) -> Store:
    return Store(lambda_context)


@pytest.fixture
def many_jobs_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user-route refusal tests send one user's generates by the hundred to probe bodies, not the
    cap of jobs in flight (tests/integration/test_jobs_in_flight_cap.py): a 429 there would hide what
    they probe."""
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT_PER_USER", "10000")
