"""events/: one real event per function of template.yaml (for `sam local invoke`), current, and each
answered by its handler here (against moto) with JSON: a 2xx or a clear 4xx, never a 5xx."""

import importlib
import json
from typing import Any

import pytest

from infra.cfn_functions import FunctionSpec, functions
from infra.events import FOLDER, render_all
from tests.support import LambdaContext

pytestmark = pytest.mark.usefixtures("aws")


def test_every_function_has_its_event_and_they_are_current() -> None:
    committed = {path.name: path.read_text(encoding="utf-8") for path in FOLDER.glob("*.json")}
    assert committed == render_all(), "events/ is stale: run `make events`"


@pytest.mark.parametrize("spec", functions(), ids=lambda spec: spec.logical_id)
def test_each_event_is_answered_by_its_handler(spec: FunctionSpec) -> None:
    event = json.loads((FOLDER / f"{spec.logical_id}.json").read_text(encoding="utf-8"))
    handler = getattr(importlib.import_module(spec.module), spec.attribute)
    answer: Any = handler(event, LambdaContext(function_name=spec.logical_id))
    if "routeKey" in event:
        body = json.loads(answer["body"])
        assert 200 <= answer["statusCode"] < 500, body
        if answer["statusCode"] >= 400:
            assert body["code"] and body["message"]
    elif "Records" in event:
        assert answer == {"batchItemFailures": []}
