"""The unit suite's condition evaluator (tests/conditions.py) agrees with a DynamoDB implementation:
a sample of the rules' conditions against item states, each sent as a real conditional UpdateItem."""

import itertools
from typing import Any

import boto3
import pytest

from mediagen.data import deliveries, dispatch_lease, jobs
from mediagen.data.models import Generation
from tests.conditions import evaluate
from tests.unit.test_job_rules import DELIVERIES, KINDS, NOW, STATES

pytestmark = pytest.mark.usefixtures("aws")


def dynamodb_accepts(condition: Any, state: dict[str, Any]) -> bool:
    client = boto3.client("dynamodb")
    table = Generation.Meta.table_name
    client.delete_item(TableName=table, Key={"job_id": {"S": "job_1"}})
    if state:
        client.put_item(TableName=table, Item=state)
    request = Generation("job_1").get_update_kwargs_from_instance([Generation.updated_at.set(NOW)], condition)
    try:
        client.update_item(**request)
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def test_the_evaluator_agrees_with_moto_on_a_sample_of_every_rule() -> None:
    cases: list[tuple[Any, dict[str, Any]]] = []
    combinations = list(itertools.product(DELIVERIES, STATES, KINDS))
    for webhook, current, kind in combinations[::13]:  # a spread sample: every status, kind, author
        cases.append((deliveries.delivery_condition(kind, webhook), current.serialize()))
    for webhook, kind in itertools.product(DELIVERIES[::3], KINDS):
        cases.append((deliveries.delivery_condition(kind, webhook), {}))
    for current in STATES[::5]:
        cases.append((jobs.fail_condition(STATES[0]), current.serialize()))
        cases.append((jobs.cancel_condition("image", "user_a"), current.serialize()))
        cases.append((dispatch_lease.claim_condition(NOW), current.serialize()))
    assert len(cases) > 100
    disagreements = [
        (repr(condition), state)
        for condition, state in cases
        if evaluate(condition, state) is not dynamodb_accepts(condition, state)
    ]
    assert disagreements == []
    outcomes = {evaluate(condition, state) for condition, state in cases}
    assert outcomes == {True, False}  # the sample exercises both answers
