"""The PynamoDB models agree with the tables of template.yaml."""

from deploy.base.cfn_template import resources_of_type, table_definitions
from mediagen.data.models import Generation, Notification


def _keys(definition: dict) -> dict[str, str]:
    return {key["AttributeName"]: key["KeyType"] for key in definition["KeySchema"]}


def test_generation_model_matches_template() -> None:
    assert _keys(table_definitions()["GenerationsTable"]) == {"job_id": "HASH"}
    assert Generation._hash_keyname == "job_id"


def test_notification_model_matches_template() -> None:
    assert _keys(table_definitions()["NotificationsTable"]) == {"user_id": "HASH", "notification_id": "RANGE"}
    assert Notification._hash_keyname == "user_id"
    assert Notification._range_keyname == "notification_id"


def test_tables_are_on_demand_with_point_in_time_recovery() -> None:
    for table in resources_of_type("AWS::DynamoDB::Table").values():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
