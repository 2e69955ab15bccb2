"""TARGET=aws: the tables come from the stack's outputs (template.yaml declares them), the bucket from
its MediaBucketName parameter; a missing stack, output or table is one clear TargetError."""

import json
from collections.abc import Iterator

import boto3
import pytest

from deploy.base.cfn_template import TABLE_ENV, create_tables, load_template
from migration.target import STACK_OUTPUTS, TargetError, aws_target, bind_models, check_tables


def test_the_template_declares_the_outputs_the_migration_reads() -> None:
    outputs = load_template()["Outputs"]
    assert outputs[STACK_OUTPUTS["generations"]]["Value"] == {"Ref": "GenerationsTable"}
    assert outputs[STACK_OUTPUTS["notifications"]]["Value"] == {"Ref": "NotificationsTable"}
    # Every table the migration fills; JobsInFlight starts empty (migrated jobs take no place in a cap),
    # and so does ErasedPeople (nobody was erased by the old system).
    assert set(TABLE_ENV) - {"JobsInFlightTable", "ErasedPeopleTable"} == {
        "GenerationsTable",
        "NotificationsTable",
    }


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A stack (moto) whose outputs name two tables made from template.yaml."""
    from mediagen.data.models import Generation, Notification

    names = {"GenerationsTable": "prod-generations", "NotificationsTable": "prod-notifications"}
    create_tables(boto3.client("dynamodb"), names)
    body = {
        "Parameters": {"MediaBucketName": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            STACK_OUTPUTS["generations"]: {"Value": names["GenerationsTable"]},
            STACK_OUTPUTS["notifications"]: {"Value": names["NotificationsTable"]},
        },
    }
    boto3.client("cloudformation").create_stack(
        StackName="mediagen-prod",
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": "MediaBucketName", "ParameterValue": "old-system-bucket"}],
    )
    saved = {
        model: (model.Meta.table_name, getattr(model.Meta, "host", None))
        for model in (Generation, Notification)
    }
    yield "mediagen-prod"
    for model, (table, host) in saved.items():  # the models are the service's: leave them as found
        model.Meta.table_name = table
        setattr(model.Meta, "host", host)  # noqa: B010
        model._connection = None


def test_a_stack_gives_its_tables_and_bucket(stack: str) -> None:
    target = aws_target(stack, None, None)
    assert (target.generations_table, target.notifications_table) == (
        "prod-generations",
        "prod-notifications",
    )
    assert target.media_bucket == "old-system-bucket"
    bind_models(target)
    check_tables(target)  # both exist, with the service's keys


def test_a_missing_stack_output_or_table_is_one_clear_error(stack: str) -> None:
    with pytest.raises(TargetError, match="cannot read stack 'nope'"):
        aws_target("nope", None, None)
    with pytest.raises(TargetError, match="needs STACK"):
        aws_target(None, "only-one", None)
    target = aws_target(None, "prod-generations", "not-a-table")
    bind_models(target)
    with pytest.raises(TargetError, match="not-a-table"):
        check_tables(target)
    swapped = aws_target(None, "prod-notifications", "prod-generations")
    bind_models(swapped)
    with pytest.raises(TargetError, match="keys"):
        check_tables(swapped)
