"""Generated webhook payloads (hypothesis): whatever the shape, a signed delivery answers 2xx or 4xx,
never 5xx, and a refused one writes nothing."""

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from completion_webhook.app import lambda_handler
from mediagen.data.models import Generation, Notification
from tests.support import LambdaContext, webhook_event

pytestmark = pytest.mark.usefixtures("aws")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
job_ids = st.one_of(st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"), st.text(max_size=70), anything)
media = st.fixed_dictionaries(
    {
        "file_path": st.one_of(st.just("images/JOB/0.png"), st.text(max_size=30), anything),
        "size_bytes": st.one_of(st.integers(min_value=-5, max_value=2**40), anything),
        "format": st.one_of(st.sampled_from(["png", "PNG", "jpeg", "mp4", "gif"]), anything),
        "dimensions": st.one_of(st.from_regex(r"\A[0-9]{1,5}x[0-9]{1,5}\Z"), st.text(max_size=12), anything),
    },
    optional={"description": st.one_of(st.text(max_size=50), anything), "url": anything},
)
payloads = st.fixed_dictionaries(
    {
        "job_id": job_ids,
        "status": st.one_of(st.sampled_from(["processing", "completed", "failed"]), anything),
    },
    optional={
        "user_id": st.one_of(st.from_regex(r"\Auser_[a-z0-9]{1,8}\Z"), anything),
        "organization_id": anything,
        "progress": st.one_of(st.integers(min_value=-10, max_value=110), anything),
        "error": anything,
        "data": st.one_of(
            anything,
            st.fixed_dictionaries(
                {},
                optional={
                    "images": st.one_of(st.lists(media, max_size=5), anything),
                    "videos": st.one_of(st.lists(media, max_size=2), anything),
                    "original_prompt": st.one_of(st.text(max_size=60), anything),
                    "metadata": anything,
                },
            ),
        ),
    },
)


def stored() -> tuple[int, int]:
    return len(list(Generation.scan())), len(list(Notification.scan()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_generated_payloads_never_get_a_5xx(payload: dict[str, Any]) -> None:
    if isinstance(payload.get("job_id"), str) and isinstance(payload.get("data"), dict):
        # Give the path-shaped strings a chance to be inside the job's folder.
        text = json.dumps(payload).replace("JOB", payload["job_id"].replace("\\", "").replace('"', ""))
        with contextlib.suppress(ValueError):
            payload = json.loads(text)
    before = stored()

    response = lambda_handler(webhook_event(payload), LambdaContext())

    status = response["statusCode"]
    assert status < 500, response["body"]
    body = json.loads(response["body"])
    if status >= 400:
        assert isinstance(body["code"], str) and isinstance(body["message"], str)
        assert stored() == before, "a refused delivery wrote something"
    else:
        assert body["outcome"] in {"created", "updated", "duplicate", "stale"}
