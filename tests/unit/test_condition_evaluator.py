"""The condition evaluator itself (tests/conditions.py): DynamoDB's semantics on small cases."""

import pytest
from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.expressions.condition import size
from pynamodb.models import Model

from tests.conditions import evaluate


class Thing(Model):
    class Meta:
        table_name = "things"
        region = "us-east-1"

    key = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    amount = NumberAttribute(null=True, attr_name="count")
    tags = UnicodeSetAttribute(null=True)


ITEM = {"key": {"S": "k"}, "name": {"S": "éa"}, "count": {"N": "10"}, "tags": {"SS": ["a", "b"]}}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (Thing.key.exists(), True),
        (Thing.key.does_not_exist(), False),
        (Thing.name == "éa", True),
        (Thing.name != "éa", False),
        (Thing.name == "a", False),
        (Thing.amount < 11, True),
        (Thing.amount < 10, False),
        (Thing.amount <= 10, True),
        (Thing.amount > 9.5, True),
        (Thing.amount >= 11, False),
        (Thing.amount.between(10, 12), True),
        (Thing.amount.between(11, 12), False),
        (Thing.name.is_in("x", "éa"), True),
        (Thing.name.is_in("x", "y"), False),
        (Thing.name.startswith("é"), True),
        (Thing.name.startswith("a"), False),
        (Thing.name.contains("a"), True),
        (Thing.tags.contains("a"), True),
        (Thing.tags.contains("c"), False),
        (size(Thing.tags) < 3, True),
        (size(Thing.tags) < 2, False),
        (size(Thing.name) == 3, True),  # bytes of UTF-8: é is two
        (~(Thing.amount < 5), True),
        ((Thing.amount < 5) | (Thing.name == "éa"), True),
        ((Thing.amount < 5) & (Thing.name == "éa"), False),
    ],
)
def test_conditions_on_an_item(condition: object, expected: bool) -> None:
    assert evaluate(condition, ITEM) is expected  # type: ignore[arg-type]


def test_an_absent_attribute_makes_every_comparison_false_but_not_exists() -> None:
    # DynamoDB: a comparison with an absent attribute is false, whichever the operator.
    item = {"key": {"S": "k"}}
    for condition in (Thing.amount < 1, Thing.amount > 1, Thing.amount == 1, Thing.name.is_in("a")):
        assert evaluate(condition, item) is False
    assert evaluate(Thing.amount.does_not_exist(), item) is True
    assert evaluate(Thing.key.does_not_exist(), {}) is True  # a missing item: an empty one


def test_different_types_are_never_equal_nor_ordered() -> None:
    item = {"key": {"S": "k"}, "count": {"S": "10"}}
    assert evaluate(Thing.amount < 11, item) is False
    assert evaluate(Thing.amount == 10, item) is False
    assert evaluate(Thing.amount != 10, item) is True


def test_numbers_compare_as_numbers_and_strings_by_bytes() -> None:
    assert evaluate(Thing.amount < 9, {"count": {"N": "10"}}) is False  # not as text ("10" < "9")
    assert evaluate(Thing.name < "b", {"name": {"S": "a"}}) is True
    assert evaluate(Thing.name < "é", {"name": {"S": "z"}}) is True  # UTF-8 bytes: z (0x7a) < é (0xc3)
