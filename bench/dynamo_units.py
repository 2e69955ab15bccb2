"""DynamoDB item sizes and capacity units, from the documented rules (not from moto, which does not
report consumed capacity faithfully).

Sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
an item is the sum of its attribute names (UTF-8 bytes) and values; a string is its UTF-8 bytes; a number
is 1 byte per two significant digits plus 1; binary its raw bytes; null and boolean 1 byte; a list or a
map 3 bytes plus 1 byte per element plus the elements (and, for a map, their names); a set the sum of its
elements.

Units: a write is 1 unit per started KB of the larger of the item before and after (a failed condition
still consumes the existing item's size, at least 1); a strongly consistent read is 1 unit per started
4 KB, an eventually consistent one half that; a Query or Scan sums the sizes of every item it evaluates
(before any filter) and rounds up once; a transaction doubles. Global secondary indexes are written
when an item enters, leaves or changes in them (a changed index key is a delete plus a put), each write
1 unit per started KB of the index entry (keys plus projected attributes).
"""

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def number_size(text: str) -> int:
    digits = text.strip().lstrip("+-").lower()
    if "e" in digits:  # DynamoDB keeps significant digits; an exponent only moves the point
        digits = digits.split("e", 1)[0]
    digits = digits.replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1


def value_size(value: AttributeValue) -> int:
    [(kind, content)] = value.items()
    if kind == "S":
        return len(str(content).encode("utf-8"))
    if kind == "N":
        return number_size(str(content))
    if kind == "B":
        return len(content) if isinstance(content, bytes | bytearray) else len(base64.b64decode(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode("utf-8")) for v in content)
    if kind == "NS":
        return sum(number_size(str(v)) for v in content)
    if kind == "BS":
        return sum(len(v) if isinstance(v, bytes | bytearray) else len(base64.b64decode(v)) for v in content)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in content)
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + 1 + value_size(v) for name, v in content.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Item | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(total_size: int, consistent: bool) -> float:
    units = max(1, math.ceil(total_size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    non_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableShape:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> "TableShape":
        indexes = tuple(
            Index(
                name=gsi["IndexName"],
                keys=tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                projection=gsi["Projection"]["ProjectionType"],
                non_key=tuple(gsi["Projection"].get("NonKeyAttributes", ())),
            )
            for gsi in table.get("GlobalSecondaryIndexes", ())
        )
        return cls(table["TableName"], tuple(k["AttributeName"] for k in table["KeySchema"]), indexes)

    def key_of(self, item: Item) -> dict[str, AttributeValue]:
        return {name: item[name] for name in self.keys}

    def index_entry(self, index: Index, item: Item | None) -> dict[str, AttributeValue] | None:
        """The item's entry in a (sparse) index, or None when it lacks an index key."""
        if item is None or any(key not in item for key in index.keys):
            return None
        if index.projection == "ALL":
            return dict(item)
        wanted = {*self.keys, *index.keys, *(index.non_key if index.projection == "INCLUDE" else ())}
        return {name: value for name, value in item.items() if name in wanted}


@dataclass(frozen=True)
class WriteCost:
    table_units: int
    index_units: int
    size: int  # the size the table units were computed from
    index_detail: str
    by_index: dict[str, int]


def write_cost(shape: TableShape, before: Item | None, after: Item | None, applied: bool) -> WriteCost:
    """Units of one single-item write (PutItem, UpdateItem, DeleteItem); `after` is None for a delete."""
    if not applied:  # a failed condition: the existing item's size, at least 1 unit; no index write
        size = item_size(before)
        return WriteCost(write_units(size), 0, size, "", {})
    size = max(item_size(before), item_size(after))
    index_units = 0
    details = []
    by_index: dict[str, int] = {}
    for index in shape.indexes:
        old, new = shape.index_entry(index, before), shape.index_entry(index, after)
        if old == new:
            continue
        if old is None and new is not None:
            units, what = write_units(item_size(new)), "put"
        elif new is None and old is not None:
            units, what = write_units(item_size(old)), "delete"
        elif old is not None and new is not None and any(old[k] != new[k] for k in index.keys):
            units, what = write_units(item_size(old)) + write_units(item_size(new)), "delete+put"
        else:
            units, what = write_units(max(item_size(old), item_size(new))), "update"
        index_units += units
        by_index[index.name] = units
        details.append(f"{index.name}:{what}")
    return WriteCost(write_units(size), index_units, size, ",".join(details), by_index)
