"""Fixtures of the integration tests."""

from typing import Any

import pytest

from tests.integration.user_route_refusals import Store


@pytest.fixture
def store(lambda_context: Any) -> Store:
    return Store(lambda_context)
