"""moto's DynamoDB, made as atomic per item as DynamoDB is. Used by the local stack and the tests."""

import threading
from typing import Any


def make_moto_writes_atomic() -> None:
    """DynamoDB applies each single-item write atomically (condition check and write together); moto's
    threaded server does not: its UpdateItem first inserts a key-only item, then checks and applies, so
    a concurrent request can see a half-made item, and two conditional puts can both pass. Serialising
    the backend's write operations gives moto the per-item atomicity DynamoDB documents, so concurrency
    tests exercise our races, not moto's."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_mediagen_atomic", False):
        return
    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, atomic)
    DynamoDBBackend._mediagen_atomic = True  # type: ignore[attr-defined]
