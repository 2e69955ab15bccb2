"""A small evaluator of PynamoDB condition objects over a DynamoDB item, with DynamoDB's semantics, so
the rules the data-access module builds are evaluated in milliseconds without AWS. Checked against
moto in tests/integration/test_condition_evaluator.py, and on its own in tests/unit.

An item is a dict of attribute name -> AttributeValue (`{"S": ...}`, `{"N": "3"}`, ...), as
`Model.serialize()` gives it; a missing item is `{}` (DynamoDB evaluates a condition on a missing key
against an empty item).
"""

from decimal import Decimal
from typing import Any

from pynamodb.expressions.condition import (
    And,
    BeginsWith,
    Between,
    Comparison,
    Condition,
    Contains,
    Exists,
    In,
    IsType,
    Not,
    NotExists,
    Or,
)
from pynamodb.expressions.operand import Path, Value, _Size

Item = dict[str, dict[str, Any]]
SCALARS = ("S", "N", "B")


def evaluate(condition: Condition, item: Item) -> bool:
    """Whether DynamoDB would accept a write with `condition` on `item`."""
    match condition:
        case And():
            return evaluate(condition.values[0], item) and evaluate(condition.values[1], item)
        case Or():
            return evaluate(condition.values[0], item) or evaluate(condition.values[1], item)
        case Not():
            return not evaluate(condition.values[0], item)
        case Exists():
            return operand(condition.values[0], item) is not None
        case NotExists():
            return operand(condition.values[0], item) is None
        case Comparison():
            return compare(
                condition.operator, operand(condition.values[0], item), operand(condition.values[1], item)
            )
        case In():
            left = operand(condition.values[0], item)
            return any(compare("=", left, operand(value, item)) for value in condition.values[1:])
        case Between():
            value, lower, upper = (operand(v, item) for v in condition.values)
            return compare(">=", value, lower) and compare("<=", value, upper)
        case BeginsWith():
            value, prefix = (operand(v, item) for v in condition.values)
            if value is None or prefix is None or not _same_type(value, prefix):
                return False
            return _type(value) in ("S", "B") and bool(_raw(value).startswith(_raw(prefix)))
        case Contains():
            return _contains(operand(condition.values[0], item), operand(condition.values[1], item))
        case IsType():
            value = operand(condition.values[0], item)
            wanted = operand(condition.values[1], item)
            return value is not None and wanted is not None and _type(value) == wanted["S"]
    raise NotImplementedError(f"no evaluation for {type(condition).__name__}: {condition!r}")


def operand(value: Any, item: Item) -> dict[str, Any] | None:
    """The AttributeValue an operand denotes in `item` (None: the attribute is absent)."""
    if isinstance(value, Value):
        return dict(value.value)
    if isinstance(value, _Size):
        inner = operand(value.values[0], item)
        if inner is None:
            return None
        kind, raw = next(iter(inner.items()))
        if kind == "N" or kind == "BOOL" or kind == "NULL":
            return None  # size() of a number or boolean is an error in DynamoDB: the condition fails
        return {"N": str(len(raw.encode() if kind == "S" else raw))}
    if isinstance(value, Path):
        current: Any = item
        for segment in value.path:
            if isinstance(current, dict) and "M" in current and len(current) == 1:
                current = current["M"]
            if not isinstance(current, dict) or segment not in current:
                return None
            current = current[segment]
        return dict(current)
    raise NotImplementedError(f"no operand {type(value).__name__}")


def compare(operator: str, left: dict[str, Any] | None, right: dict[str, Any] | None) -> bool:
    """DynamoDB's comparison: an absent operand makes it false; operands of different types are never
    equal and never ordered; numbers compare as numbers, strings and binaries by their bytes."""
    if left is None or right is None:
        return False
    if operator in ("=", "<>"):
        equal = _same_type(left, right) and _canonical(left) == _canonical(right)
        return equal if operator == "=" else not equal
    if not _same_type(left, right) or _type(left) not in SCALARS:
        return False
    a, b = _ordered(left), _ordered(right)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


def _type(value: dict[str, Any]) -> str:
    return next(iter(value))


def _raw(value: dict[str, Any]) -> Any:
    return next(iter(value.values()))


def _same_type(left: dict[str, Any] | None, right: dict[str, Any] | None) -> bool:
    return left is not None and right is not None and _type(left) == _type(right)


def _ordered(value: dict[str, Any]) -> Any:
    kind, raw = _type(value), _raw(value)
    if kind == "N":
        return Decimal(raw)
    return raw.encode() if kind == "S" else bytes(raw)


def _canonical(value: dict[str, Any]) -> Any:
    kind, raw = _type(value), _raw(value)
    if kind == "N":
        return Decimal(raw)
    if kind in ("SS", "BS"):
        return frozenset(raw)
    if kind == "NS":
        return frozenset(Decimal(n) for n in raw)
    if kind == "L":
        return tuple(_canonical(v) for v in raw)
    if kind == "M":
        return tuple(sorted((k, _canonical(v)) for k, v in raw.items()))
    return raw


def _contains(container: dict[str, Any] | None, element: dict[str, Any] | None) -> bool:
    if container is None or element is None:
        return False
    kind, raw = _type(container), _raw(container)
    if kind == "S":
        return _type(element) == "S" and _raw(element) in raw
    if kind in ("SS", "NS", "BS"):
        if _type(element) != kind[0]:
            return False
        return _canonical(element) in _canonical(container)
    if kind == "L":
        return any(compare("=", member, element) for member in raw)
    return False
