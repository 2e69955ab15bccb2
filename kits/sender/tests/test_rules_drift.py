"""The sender kit and the service judge every payload alike: thousands of generated payloads go through
both, and any difference fails, in both directions (the kit refusing what the service accepts, or
accepting what the service refuses).

The service is judged as its webhook route judges a delivery: `CompletionWebhook` (the body), then
`media_files` (the route's kind, formats, and the job's own folder under the default key pattern). The
kit is judged by its models reading the same JSON. The payloads keep the kit's shape, where the kit is
stricter by design (it sends objects, not the old backend's variants): no unknown fields, `error` as an
object, a `processing` event's `progress` given, a completion's `progress` 100 or absent, `data`
with the files of one kind only. MEDIAGEN_DRIFT_EXAMPLES sets the examples per property (2,000 in
`make test`; 15,000 passed too), the same examples on every run unless MEDIAGEN_DRIFT_SEED=random.
"""

import json
import os
import string
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from mediagen.contract.payloads import CompletionWebhook, GenerateRequest
from mediagen.core.errors import InvalidPayload
from mediagen.core.settings import settings as settings_of_the_service
from mediagen.outbound.backend import dispatch_body
from mediagen.rules.completion_webhook import media_files
from mediagen_sender import CompletedEvent, Dispatch, FailedEvent, ProcessingEvent

KINDS = ("image", "video")
EXAMPLES = int(os.environ.get("MEDIAGEN_DRIFT_EXAMPLES", "2000"))
# No deadline, no health check: on a busy machine a slow example is not a failure; a difference is.
# Derandomized: every run (CI's included) judges the same examples, so a red run is a drift that this
# commit has, never a draw; MEDIAGEN_DRIFT_SEED=random explores new examples (how the drifts were found).
_RANDOM = os.environ.get("MEDIAGEN_DRIFT_SEED") == "random"
_fast = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not _RANDOM
)

# --- Strategies: near the rules' edges, and anything at all ---------------------------------------

ID_ALPHABET = string.ascii_letters + string.digits + "_-"
job_ids = st.one_of(
    st.text(ID_ALPHABET, min_size=1, max_size=64),
    st.sampled_from(["images", "videos", "j_1", "j_2", "x", "..", "a" * 64, "a" * 65, "", "j 1", "j/1"]),
    st.text(ID_ALPHABET + "./ \n\\é", min_size=0, max_size=70),
)
segments = st.one_of(
    st.sampled_from(["images", "videos", "image", "x", "", ".", "..", "j_1", "j_2", "0.png", "thumb.png"]),
    st.text(string.ascii_letters + string.digits + "._-\\\n\x7f\x85é🌅 ", min_size=0, max_size=8),
)


@st.composite
def file_keys(draw: st.DrawFn, job_id: str, kind: str) -> str:
    """A key built from segments (the job's id and folder names likely among them), or any text."""
    own = [f"{kind}s", job_id]
    parts = draw(st.lists(st.one_of(segments, st.sampled_from(own)), min_size=1, max_size=5))
    if draw(st.booleans()):
        parts = [*own, *parts]  # often the right folder, then whatever follows
    key = "/".join(parts)
    return draw(st.one_of(st.just(key), st.just("/" + key), st.text(max_size=30)))


integers_of_any_type = st.one_of(
    st.integers(-3, 2**40),
    st.sampled_from([0, 1, 100, 101, -1, 50 * 1024**3, 50 * 1024**3 + 1]),
    st.floats(-2, 200, allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 100.0, 0.5, True, False, "1", "10", None]),
)
numbers_of_any_type = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=2e5),
    st.sampled_from([0, 0.0, 1, 86400, 86400.001, 7 * 86400, 7 * 86400 + 1, 1000, 1000.5]),
    st.sampled_from([True, "2", None]),
)
dimensions = st.one_of(
    st.from_regex(r"\A[0-9]{1,7}x[0-9]{1,7}\Z"),
    st.sampled_from(
        ["1024x1024", "0x1", "1x0", "01x1", "999999x999999", "1000000x1", "1X1", "1x1\n", "1\u00d71"]
    ),
    st.text("0123456789x ", max_size=14),
)
formats = st.one_of(
    st.sampled_from(["png", "PNG", "jpeg", "jpg", "webp", "gif", "mp4", "MP4", "webm", "mov", "", "png "]),
    st.text(string.ascii_letters + "İ", max_size=11),
)
texts = st.one_of(
    st.sampled_from(["", " ", "Un phare breton 🌅", "a" * 200, "a" * 201, "é" * 2000, "é" * 2001]),
    st.sampled_from(["a" * 4000, "a" * 4001]),
    st.text(max_size=20),
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field left out (None) or set."""
    return st.one_of(st.none(), strategy)


def _pick(
    draw: st.DrawFn, valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any], odds: int = 12
) -> Any:
    """Mostly a valid value, sometimes one near or past the rule's edge: so that about half of the
    deliveries are valid whole, and each refusal is one rule's (or a few rules')."""
    return draw(edge if draw(st.integers(1, odds)) == 1 else valid)


valid_segments = st.text(string.ascii_letters + string.digits + "._-é🌅 ", min_size=1, max_size=8).filter(
    lambda segment: segment not in (".", "..")
)


@st.composite
def valid_keys(draw: st.DrawFn, job_id: str, kind: str) -> str:
    return "/".join([f"{kind}s", job_id, *draw(st.lists(valid_segments, min_size=1, max_size=3))])


@st.composite
def media_entries(draw: st.DrawFn, job_id: str, kind: str) -> dict[str, Any]:
    def pick(valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> Any:
        return _pick(draw, valid, edge, odds=30)  # a file has many fields: rarer edges each

    formats_of_kind = (
        ["png", "PNG", "jpeg", "jpg", "webp", "Webp"] if kind == "image" else ["mp4", "webm", "MP4"]
    )
    entry: dict[str, Any] = {
        "file_path": pick(valid_keys(job_id, kind), file_keys(job_id, kind)),
        "size_bytes": pick(st.integers(0, 50 * 1024**3), integers_of_any_type),
        "format": pick(st.sampled_from(formats_of_kind), formats),
        "dimensions": pick(st.from_regex(r"\A[1-9][0-9]{0,5}x[1-9][0-9]{0,5}\Z"), dimensions),
        "url": pick(_maybe(st.just("https://b.s3.amazonaws.com/k")), st.just("u" * 4097)),
        "description": pick(_maybe(st.text(max_size=30)), texts),
    }
    if kind == "video":
        positive = st.floats(min_value=0.001, max_value=1000) | st.integers(1, 1000)
        entry["duration_seconds"] = pick(positive, numbers_of_any_type)
        entry["fps"] = pick(_maybe(positive), numbers_of_any_type)
        entry["thumbnail_path"] = pick(_maybe(valid_keys(job_id, kind)), file_keys(job_id, kind))
    return {name: value for name, value in entry.items() if value is not None}


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(kind, body) of a delivery in the kit's shape, its fields drawn valid, near and past every rule."""
    kind = draw(st.sampled_from(KINDS))
    job_id = _pick(draw, st.text(ID_ALPHABET, min_size=1, max_size=64), job_ids)
    body: dict[str, Any] = {"job_id": job_id}
    for name in ("user_id", "organization_id"):
        valid = _maybe(st.text(ID_ALPHABET, min_size=1, max_size=128))
        value = _pick(
            draw, valid, st.one_of(st.text(ID_ALPHABET, min_size=120, max_size=130), st.text(max_size=5))
        )
        if value is not None:
            body[name] = value
    status = draw(st.sampled_from(["processing", "completed", "failed"]))
    body["status"] = status
    if status == "processing":
        body["progress"] = _pick(
            draw, st.integers(0, 100), integers_of_any_type.filter(lambda v: v is not None)
        )
    elif status == "failed":
        body["error"] = {"message": _pick(draw, st.text(min_size=1, max_size=30), texts)}
    else:
        if draw(st.booleans()):
            body["progress"] = 100
        count = _pick(draw, st.integers(1, 3), st.sampled_from([0, 15, 16, 17]))
        entries = [draw(media_entries(job_id, kind)) for _ in range(count)]
        data: dict[str, Any] = {f"{kind}s": entries}
        prompt = _pick(draw, _maybe(st.text(min_size=1, max_size=30)), texts)
        if prompt is not None:
            data["original_prompt"] = prompt
        metadata = {
            "model_name": _pick(draw, _maybe(st.text(min_size=1, max_size=30)), texts),
            "generation_time_seconds": _pick(
                draw, _maybe(st.floats(0, 3600) | st.integers(0, 3600)), numbers_of_any_type
            ),
        }
        if draw(st.booleans()):
            data["metadata"] = {name: value for name, value in metadata.items() if value is not None}
        body["data"] = data
    return kind, body


# --- The two judges ----------------------------------------------------------------------------------


def service_accepts(kind: str, body: str) -> bool:
    try:
        webhook = CompletionWebhook.model_validate_json(body)
        media_files(kind, webhook)  # type: ignore[arg-type]
    except (ValidationError, InvalidPayload):
        return False
    return True


def kit_accepts(body: str) -> bool:
    model: dict[str, type[BaseModel]] = {
        "processing": ProcessingEvent, "completed": CompletedEvent, "failed": FailedEvent
    }  # fmt: skip
    try:
        model[json.loads(body)["status"]].model_validate_json(body)
    except ValidationError:
        return False
    return True


def _difference(service: bool, kit: bool, text: str) -> str:
    verdict = {True: "accepts", False: "refuses"}
    return f"the service {verdict[service]}, the kit {verdict[kit]}: {text[:600]}"


def _verdicts(kind: str, body: dict[str, Any]) -> tuple[bool, bool, str]:
    text = json.dumps(body, ensure_ascii=False)
    return service_accepts(kind, text), kit_accepts(text), text


@_fast
@given(deliveries())
def test_the_kit_and_the_service_judge_every_delivery_alike(delivery: tuple[str, dict[str, Any]]) -> None:
    kind, body = delivery
    service, kit, text = _verdicts(kind, body)
    assert kit == service, _difference(service, kit, text)


@st.composite
def single_file_deliveries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid completion but for one generated key: the key rule alone decides."""
    kind = draw(st.sampled_from(KINDS))
    job_id = draw(
        st.one_of(st.text(ID_ALPHABET, min_size=1, max_size=64), st.sampled_from(["images", "videos"]))
    )
    entry: dict[str, Any] = {
        "file_path": draw(st.one_of(valid_keys(job_id, kind), file_keys(job_id, kind))),
        "size_bytes": 1,
        "format": "png" if kind == "image" else "mp4",
        "dimensions": "1x1",
    }
    if kind == "video":
        entry["duration_seconds"] = 1
    return kind, {"job_id": job_id, "status": "completed", "data": {f"{kind}s": [entry]}}


@_fast
@given(single_file_deliveries())
def test_file_keys_are_judged_alike(delivery: tuple[str, dict[str, Any]]) -> None:
    kind, body = delivery
    service, kit, text = _verdicts(kind, body)
    assert kit == service, _difference(service, kit, text)


def test_the_keys_the_kit_once_accepted_are_refused_by_both() -> None:
    """The drift this test was written for: keys outside `images/j_1/` that name the job's id."""
    for key in ("x/j_1/0.png", "videos/j_1/0.png", "images/x/j_1/0.png", "j_1/0.png"):
        body = {"job_id": "j_1", "status": "completed", "data": {"images": [
            {"file_path": key, "size_bytes": 1, "format": "png", "dimensions": "1x1"}]}}  # fmt: skip
        assert _verdicts("image", body)[:2] == (False, False), key


@st.composite
def generate_requests(draw: st.DrawFn) -> dict[str, Any]:
    request: dict[str, Any] = {"prompt": "p", "job_id": draw(_maybe(job_ids))}
    request["num_images"] = draw(_maybe(st.one_of(integers_of_any_type, st.integers(1, 8))))
    request["size"] = draw(_maybe(st.one_of(dimensions, st.sampled_from(["8192x8192", "8193x1"]))))
    request["duration_seconds"] = draw(_maybe(st.one_of(integers_of_any_type, st.integers(1, 60))))
    return {name: value for name, value in request.items() if value is not None}


@_fast
@given(body=generate_requests(), kind=st.sampled_from(KINDS))
def test_every_job_the_service_takes_reaches_the_backend_as_a_dispatch_the_kit_reads(
    monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], kind: str
) -> None:
    """The other rules the kit restates (job id, number of images, size, the job's folder): a job that
    generate accepts is dispatched (the service's own `dispatch_body`) as a Dispatch the kit reads, so
    the backend never refuses a job mediagen took, and it files the job's keys where the service looks."""
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.example.com")
    try:
        request = GenerateRequest.model_validate_json(json.dumps(body))
    except ValidationError:
        return
    job: Any = SimpleNamespace(
        job_id=request.job_id or "j_1", author_id="user_1", organization=None, kind=kind,
        prompt=request.prompt, model=request.model, num_images=request.num_images, size=request.size,
        duration_seconds=request.duration_seconds,
    )  # fmt: skip
    sent = dispatch_body(job)
    dispatch = Dispatch.model_validate(sent)
    assert (dispatch.job_id, dispatch.num_images, dispatch.size) == (
        sent["job_id"],
        sent["num_images"],
        sent["size"],
    )
    assert dispatch.folder == settings_of_the_service().media_key_prefix(kind, job.job_id)
