"""Capacity metering of each DynamoDB request, from the items as moto actually stores them.

Before a write the meter reads the item (with a request of its own, not delayed, metered or logged);
after it, it reads it again; the units follow DynamoDB's documented rules (bench/dynamo_units.py).
A Query or Scan is replayed without its filter, projection and COUNT selection to find the items it
evaluated, which is what DynamoDB charges for.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from bench.dynamo_units import Item, TableShape, item_size, read_units, write_cost
from bench.stand_in import StandIn

UNMETERED_KEYS = ("FilterExpression", "Select", "ProjectionExpression", "ReturnConsumedCapacity")


@dataclass
class Charge:
    flow: str
    step: str
    operation: str
    target: str  # table, or table/index
    size: int  # bytes the units were computed from
    wcu: float = 0.0  # table write units
    gsi_wcu: float = 0.0  # index write units
    rcu: float = 0.0
    note: str = ""
    by_index: dict[str, float] = field(default_factory=dict)  # index write units, by index


@dataclass
class Meter:
    stand_in: StandIn
    client: Any  # a boto3 DynamoDB client; its requests are made under stand_in.bypass()
    flow: str = ""
    step: str = ""
    charges: list[Charge] = field(default_factory=list)
    _shapes: dict[str, TableShape] = field(default_factory=dict)

    # --- the bench's own reads -----------------------------------------------------------------------

    def shape(self, table: str) -> TableShape:
        if table not in self._shapes:
            with self.stand_in.bypass():
                description = self.client.describe_table(TableName=table)["Table"]
            self._shapes[table] = TableShape.from_description(description)
        return self._shapes[table]

    def stored(self, table: str, key: Item) -> Item | None:
        with self.stand_in.bypass():
            item: Item | None = self.client.get_item(TableName=table, Key=key, ConsistentRead=True).get(
                "Item"
            )
        return item

    def evaluated(self, operation: str, params: dict[str, Any]) -> list[Item]:
        """The items a Query or Scan read (before its filter): the same request, unfiltered, full items."""
        replay = {k: v for k, v in params.items() if k not in UNMETERED_KEYS}
        used = " ".join(str(replay.get(k, "")) for k in ("KeyConditionExpression",))
        for placeholder_map in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            if placeholder_map in replay:
                kept = {
                    p: v for p, v in replay[placeholder_map].items() if re.search(re.escape(p) + r"\b", used)
                }
                if kept:
                    replay[placeholder_map] = kept
                else:
                    del replay[placeholder_map]
        method = self.client.query if operation == "Query" else self.client.scan
        with self.stand_in.bypass():
            items: list[Item] = method(**replay).get("Items", [])
        return items

    # --- the hook's two calls ------------------------------------------------------------------------

    def before(self, operation: str, params: dict[str, Any]) -> Any:
        if operation == "PutItem":
            table = params["TableName"]
            return self.stored(table, self.shape(table).key_of(params["Item"]))
        if operation in ("UpdateItem", "DeleteItem"):
            return self.stored(params["TableName"], params["Key"])
        if operation == "TransactWriteItems":
            return [self._before_entry(entry) for entry in params["TransactItems"]]
        if operation == "BatchWriteItem":
            return {
                table: [self._before_entry(request, table) for request in requests]
                for table, requests in params["RequestItems"].items()
            }
        return None

    def after(self, operation: str, params: dict[str, Any], before: Any, result: Any) -> None:
        success, error = result
        parsed: dict[str, Any] = success[1] if success else {}
        code = parsed.get("Error", {}).get("Code") if parsed else type(error).__name__
        condition_failed = code == "ConditionalCheckFailedException"
        if code and not condition_failed:
            self._charge(operation, params.get("TableName", "?"), 0, note=f"error {code}: not charged")
            return
        table = params.get("TableName", "")
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            shape = self.shape(table)
            if condition_failed:
                after = None
            elif operation == "PutItem":
                after = params["Item"]
            elif operation == "UpdateItem":
                after = self.stored(table, params["Key"])
            else:
                after = None
            cost = write_cost(shape, before, after, applied=not condition_failed)
            note = "condition failed" if condition_failed else cost.index_detail
            self._charge(
                operation,
                table,
                cost.size,
                wcu=cost.table_units,
                gsi_wcu=cost.index_units,
                note=note,
                by_index=dict(cost.by_index),
            )
        elif operation == "GetItem":
            item = parsed.get("Item")
            if "ProjectionExpression" in params:
                item = self.stored(table, params["Key"])
            consistent = bool(params.get("ConsistentRead"))
            size = item_size(item)
            note = ("strong" if consistent else "eventual") + ("" if item else ", no item")
            self._charge(operation, table, size, rcu=read_units(size, consistent), note=note)
        elif operation in ("Query", "Scan"):
            items = self.evaluated(operation, params)
            consistent = bool(params.get("ConsistentRead"))
            size = sum(item_size(i) for i in items)
            target = f"{table}/{params['IndexName']}" if "IndexName" in params else table
            kind = "COUNT, " if params.get("Select") == "COUNT" else ""
            note = f"{kind}{len(items)} item(s), {'strong' if consistent else 'eventual'}"
            self._charge(operation, target, size, rcu=read_units(size, consistent), note=note)
        elif operation == "TransactWriteItems" and not condition_failed:
            for entry, entry_before in zip(params["TransactItems"], before, strict=True):
                [(kind, body)] = entry.items()
                shape = self.shape(body["TableName"])
                if kind == "Put":
                    after = body["Item"]
                elif kind == "Update":
                    after = self.stored(body["TableName"], body["Key"])
                else:
                    after = entry_before if kind == "ConditionCheck" else None
                cost = write_cost(shape, entry_before, after, applied=kind != "ConditionCheck")
                self._charge(
                    f"Transact.{kind}",
                    body["TableName"],
                    cost.size,
                    wcu=2 * cost.table_units,
                    gsi_wcu=2 * cost.index_units,
                    note="transaction: 2x",
                    by_index={name: 2 * units for name, units in cost.by_index.items()},
                )
        elif operation == "BatchWriteItem":
            for batch_table, requests in params["RequestItems"].items():
                shape = self.shape(batch_table)
                for request, entry_before in zip(requests, before[batch_table], strict=True):
                    put = request.get("PutRequest")
                    cost = write_cost(shape, entry_before, put["Item"] if put else None, applied=True)
                    self._charge(
                        "Batch.Put" if put else "Batch.Delete",
                        batch_table,
                        cost.size,
                        wcu=cost.table_units,
                        gsi_wcu=cost.index_units,
                        by_index=dict(cost.by_index),
                    )
        else:
            self._charge(operation, table or "?", 0, note="not metered by the bench")

    # --- helpers -------------------------------------------------------------------------------------

    def _before_entry(self, entry: dict[str, Any], table: str | None = None) -> Item | None:
        """The stored item a transaction or batch entry names (a batch entry's table is its group's)."""
        [(_, body)] = entry.items()
        table = body.get("TableName", table)
        if not table:
            return None
        if "Item" in body:
            return self.stored(table, self.shape(table).key_of(body["Item"]))
        if "Key" in body:
            return self.stored(table, body["Key"])
        return None

    def _charge(self, operation: str, target: str, size: int, **units: Any) -> None:
        self.charges.append(Charge(self.flow, self.step, operation, target, size, **units))
