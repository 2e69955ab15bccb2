"""The local service over real HTTP: signed webhooks, status, result, download from the embedded S3,
CORS as the HTTP API answers it, the API description, and, once template.yaml has them, generate with
the stand-in generator completing the job by itself."""

import io
import json
import time
import uuid
from typing import Any

import pytest
import requests
from PIL import Image

from tests.e2e.conftest import (
    API_ANSWER_SECONDS,
    GENERATOR_KEY,
    JOB_SECONDS,
    ROOT,
    LocalService,
    has_route,
    json_of,
)
from tests.support import FRONT_END, TokenMinter, completion_payload, signed_headers

pytestmark = pytest.mark.e2e


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, format="PNG")
    return out.getvalue()


def deliver(service: LocalService, payload: dict[str, Any], kind: str = "image") -> requests.Response:
    body = json.dumps(payload, ensure_ascii=False)
    return requests.post(
        f"{service.base}/api/webhooks/{kind}-completion",
        data=body.encode(),
        headers=signed_headers(body),
        timeout=API_ANSWER_SECONDS,
    )


def wait_for(service: LocalService, path: str, headers: dict[str, str], statuses: set[str]) -> dict[str, Any]:
    deadline, progress = time.monotonic() + JOB_SECONDS, -1
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = requests.get(f"{service.base}{path}", headers=headers, timeout=API_ANSWER_SECONDS)
        if response.status_code == 404 and not body:  # a job the backend reports first is made by its webhook
            time.sleep(0.1)
            continue
        body = json_of(response)
        assert body["progress"] >= progress, "progress never goes down"
        progress = body["progress"]
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    pytest.fail(f"{path} is still {body.get('status')} after {JOB_SECONDS} s")


def test_signed_webhooks_then_status_result_and_download(
    service_off: LocalService, minter: TokenMinter
) -> None:
    import boto3

    info = service_off.info()
    job_id = f"e2e_{uuid.uuid4().hex[:10]}"
    image = png(64, 48)
    s3 = boto3.client(
        "s3",
        endpoint_url=info["aws_endpoint"],
        region_name=info["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    s3.put_object(Bucket=info["media_bucket"], Key=f"images/{job_id}/0.png", Body=image)
    author = minter.auth("user_e2e")
    status_path = f"/api/images/{job_id}/status"

    processing = deliver(
        service_off, {"job_id": job_id, "user_id": "user_e2e", "status": "processing", "progress": 50}
    )
    assert processing.status_code == 200 and json_of(processing)["outcome"] == "created"
    assert (
        json_of(requests.get(f"{service_off.base}{status_path}", headers=author, timeout=API_ANSWER_SECONDS))[
            "progress"
        ]
        == 50
    )
    early = requests.get(
        f"{service_off.base}/api/images/{job_id}/result", headers=author, timeout=API_ANSWER_SECONDS
    )
    assert early.status_code == 409 and json_of(early)["status"] == "processing"

    payload = completion_payload(job_id, user_id="user_e2e", images=1, prompt="Un phare breton 🌅")
    payload["data"]["images"][0].update(size_bytes=len(image), dimensions="64x48")
    assert json_of(deliver(service_off, payload))["outcome"] == "updated"
    assert json_of(deliver(service_off, payload))["outcome"] == "duplicate"

    status = json_of(
        requests.get(f"{service_off.base}{status_path}", headers=author, timeout=API_ANSWER_SECONDS)
    )
    assert (status["status"], status["progress"]) == ("completed", 100)
    result = json_of(
        requests.get(
            f"{service_off.base}/api/images/{job_id}/result", headers=author, timeout=API_ANSWER_SECONDS
        )
    )
    assert result["prompt"] == "Un phare breton 🌅"
    [served] = result["images"]
    assert served["url"].startswith(info["aws_endpoint"]), "signed URLs point at the embedded S3"
    assert "X-Amz-Signature=" in served["url"]
    assert requests.get(served["url"], timeout=API_ANSWER_SECONDS).content == image
    stranger = requests.get(
        f"{service_off.base}{status_path}", headers=minter.auth("user_other"), timeout=API_ANSWER_SECONDS
    )
    assert stranger.status_code == 404


def test_unsigned_or_wrongly_signed_webhooks_are_refused(service_off: LocalService) -> None:
    body = json.dumps(completion_payload("job_unsigned"))
    url = f"{service_off.base}/api/webhooks/image-completion"
    unsigned = requests.post(
        url, data=body, headers={"content-type": "application/json"}, timeout=API_ANSWER_SECONDS
    )
    assert unsigned.status_code == 401 and json_of(unsigned)["code"] == "invalid_signature"
    forged = signed_headers(body, secret="whsec_" + "QUJD" * 8)
    assert requests.post(url, data=body, headers=forged, timeout=API_ANSWER_SECONDS).status_code == 401


def test_a_rotated_secret_is_accepted_too(service_off: LocalService) -> None:
    body = json.dumps(completion_payload(f"job_{uuid.uuid4().hex[:8]}", user_id="user_r"))
    headers = signed_headers(body, secret="whsec_c2Vjb25kIHNlY3JldCBvZiB0aGUgZTJlIHRlc3Rz")
    response = requests.post(
        f"{service_off.base}/api/webhooks/image-completion",
        data=body,
        headers=headers,
        timeout=API_ANSWER_SECONDS,
    )
    assert response.status_code == 200


def test_tokens_are_checked(service_off: LocalService, minter: TokenMinter) -> None:
    path = f"{service_off.base}/api/images/job_x/status"
    assert json_of(requests.get(path, timeout=API_ANSWER_SECONDS))["code"] == "missing_token"
    foreign = minter.auth("user_a", issuer="https://another.issuer.dev")
    assert requests.get(path, headers=foreign, timeout=API_ANSWER_SECONDS).status_code == 401
    assert requests.get(path, headers=minter.auth("user_a"), timeout=API_ANSWER_SECONDS).status_code == 404


def test_cors_preflight_as_the_http_api_answers_it(service_off: LocalService) -> None:
    path = f"{service_off.base}/api/images/job_x/status"
    asked = {"access-control-request-method": "GET", "access-control-request-headers": "authorization"}
    allowed = requests.options(path, headers={"origin": FRONT_END, **asked}, timeout=API_ANSWER_SECONDS)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == FRONT_END
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "GET" in allowed.headers["access-control-allow-methods"]

    for origin, request in (
        ("https://evil.example", asked),
        (FRONT_END, {**asked, "access-control-request-headers": "x-evil"}),
        (FRONT_END, {**asked, "access-control-request-method": "PUT"}),  # DELETE is allowed: the library
    ):
        denied = requests.options(path, headers={"origin": origin, **request}, timeout=API_ANSWER_SECONDS)
        assert "access-control-allow-origin" not in denied.headers, (origin, request)

    answer = requests.get(path, headers={"origin": FRONT_END}, timeout=API_ANSWER_SECONDS)
    assert answer.headers["access-control-allow-origin"] == FRONT_END
    other = requests.get(path, headers={"origin": "https://evil.example"}, timeout=API_ANSWER_SECONDS)
    assert "access-control-allow-origin" not in other.headers


def test_unknown_routes_are_json_404s(service_off: LocalService) -> None:
    """Answered by the template's `$default` route (UnknownRouteFunction), as on AWS."""
    for method, path in (("GET", "/nope"), ("GET", "/api/imagery"), ("POST", "/api/images/job_x/nothing")):
        response = requests.request(method, f"{service_off.base}{path}", timeout=API_ANSWER_SECONDS)
        assert response.status_code == 404
        assert json_of(response)["code"] == "not_found"
    wrong_method = requests.delete(f"{service_off.base}/api/images/job_x/status", timeout=API_ANSWER_SECONDS)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"
    assert json_of(wrong_method)["code"] == "method_not_allowed"


def test_the_api_description_is_served(service_off: LocalService) -> None:
    served = json_of(requests.get(f"{service_off.base}/openapi.json", timeout=API_ANSWER_SECONDS))
    assert served == json.loads((ROOT / "openapi.json").read_text())


def download_images(result: dict[str, Any], size: tuple[int, int]) -> None:
    for image in result["images"]:
        data = requests.get(image["url"], timeout=API_ANSWER_SECONDS).content
        with Image.open(io.BytesIO(data)) as picture:
            assert (picture.format, picture.size) == ("PNG", size)
        assert image["size_bytes"] == len(data)


def test_the_stand_in_completes_a_dispatched_job(service_on: LocalService, minter: TokenMinter) -> None:
    """What the dispatcher sends to GENERATOR_URL, sent by hand (works without the generate route)."""
    job_id = f"e2e_{uuid.uuid4().hex[:10]}"
    dispatch = {
        "job_id": job_id,
        "user_id": "user_disp",
        "organization_id": "org_disp",
        "kind": "image",
        "prompt": "Un phare breton",
        "model": None,
        "num_images": 2,
        "size": "128x64",
        "duration_seconds": None,
        "webhook_url": f"{service_on.base}/api/webhooks/image-completion",
        "output_prefix": f"images/{job_id}/",
    }
    url = f"{service_on.base}/_local/generator"
    key = {"authorization": f"Bearer {GENERATOR_KEY}"}
    assert (
        requests.post(
            url, json=dispatch, headers={"authorization": "Bearer nope"}, timeout=API_ANSWER_SECONDS
        ).status_code
        == 401
    )
    elsewhere = {**dispatch, "webhook_url": "https://example.com/hook"}
    assert requests.post(url, json=elsewhere, headers=key, timeout=API_ANSWER_SECONDS).status_code == 400
    assert json_of(requests.post(url, json=dispatch, headers=key, timeout=API_ANSWER_SECONDS)) == {
        "job_id": job_id
    }

    member = minter.auth("user_other", org="org_disp")  # sees it through the organization
    wait_for(service_on, f"/api/images/{job_id}/status", member, {"completed", "failed"})
    result = json_of(
        requests.get(
            f"{service_on.base}/api/images/{job_id}/result", headers=member, timeout=API_ANSWER_SECONDS
        )
    )
    assert (result["status"], result["prompt"], len(result["images"])) == ("completed", "Un phare breton", 2)
    download_images(result, (128, 64))


def test_generate_completes_by_itself_and_the_files_download(
    service_on: LocalService, minter: TokenMinter
) -> None:
    if not has_route("POST /api/images/generate"):
        pytest.skip("template.yaml has no POST /api/images/generate route yet (issue 3)")
    author = minter.auth("user_gen", org="org_gen")
    job_id = f"e2e_{uuid.uuid4().hex[:10]}"
    answer = requests.post(
        f"{service_on.base}/api/images/generate",
        json={"prompt": "Un phare breton", "num_images": 2, "size": "256x128", "job_id": job_id},
        headers=author,
        timeout=API_ANSWER_SECONDS,
    )
    assert answer.status_code == 202, answer.text
    assert json_of(answer)["job_id"] == job_id
    wait_for(service_on, f"/api/images/{job_id}/status", author, {"completed", "failed"})
    result = json_of(
        requests.get(
            f"{service_on.base}/api/images/{job_id}/result", headers=author, timeout=API_ANSWER_SECONDS
        )
    )
    assert result["status"] == "completed", result
    assert len(result["images"]) == 2
    download_images(result, (256, 128))
    if has_route("GET /api/notifications"):
        page = json_of(
            requests.get(f"{service_on.base}/api/notifications", headers=author, timeout=API_ANSWER_SECONDS)
        )
        assert [n["metadata"]["generation_id"] for n in page["items"]] == [job_id]


def test_a_video_job_completes_with_a_real_clip(service_on: LocalService, minter: TokenMinter) -> None:
    if not has_route("POST /api/videos/generate"):
        pytest.skip("template.yaml has no POST /api/videos/generate route yet (issue 3)")
    author = minter.auth("user_vid")
    answer = requests.post(
        f"{service_on.base}/api/videos/generate",
        json={"prompt": "Des vagues", "duration_seconds": 2},
        headers=author,
        timeout=API_ANSWER_SECONDS,
    )
    job_id = json_of(answer)["job_id"]
    wait_for(service_on, f"/api/videos/{job_id}/status", author, {"completed", "failed"})
    result = json_of(
        requests.get(
            f"{service_on.base}/api/videos/{job_id}/result", headers=author, timeout=API_ANSWER_SECONDS
        )
    )
    [video] = result["videos"]
    data = requests.get(video["url"], timeout=30).content
    assert len(data) == video["size_bytes"]
    placeholder = "placeholder" in video["url"]
    assert placeholder or data[4:8] == b"ftyp", "an MP4 file, or a clearly named placeholder"


def test_with_the_stand_in_off_a_job_waits_for_webhooks(
    service_off: LocalService, minter: TokenMinter
) -> None:
    if not has_route("POST /api/images/generate"):
        pytest.skip("template.yaml has no POST /api/images/generate route yet (issue 3)")
    author = minter.auth("user_wait")
    answer = requests.post(
        f"{service_off.base}/api/images/generate",
        json={"prompt": "Un phare"},
        headers=author,
        timeout=API_ANSWER_SECONDS,
    )
    job_id = json_of(answer)["job_id"]
    status_path = f"/api/images/{job_id}/status"

    def status() -> dict[str, Any]:
        return json_of(
            requests.get(f"{service_off.base}{status_path}", headers=author, timeout=API_ANSWER_SECONDS)
        )

    # The dispatch has reached the switched-off stand-in: the job says when (a state, waited for)
    deadline = time.monotonic() + JOB_SECONDS
    while status()["dispatched_at"] is None:
        assert time.monotonic() < deadline, f"not dispatched after {JOB_SECONDS} s"
        time.sleep(0.1)
    # A stand-in that was on would have sent its first step 0.4 s after the dispatch (step_seconds);
    # this one, off, has sent nothing: the job waits, queued
    time.sleep(1.5)
    assert status()["status"] == "queued"
    assert deliver(service_off, completion_payload(job_id, user_id="user_wait", images=1)).status_code == 200
    assert wait_for(service_off, status_path, author, {"completed"})["progress"] == 100


def test_jobs_the_backend_started_count_against_the_cap(
    service_off: LocalService, minter: TokenMinter
) -> None:
    """Issue 20's finding as it was found on `make run`: the cap (10, the template's default) counts every
    job of the person that is queued or processing, whoever created it."""
    author = minter.auth("user_cap")
    generate = f"{service_off.base}/api/images/generate"
    # Given a person with 10 generated jobs in flight
    generated = []
    for index in range(10):
        answer = requests.post(
            generate, json={"prompt": f"Un phare {index}"}, headers=author, timeout=API_ANSWER_SECONDS
        )
        assert answer.status_code == 202, answer.text
        generated.append(json_of(answer)["job_id"])
    # And 5 more the backend started for them (signed `processing` webhooks naming them): never refused
    for index in range(5):
        started = completion_payload(
            f"job_cap_backend_{index}", status="processing", user_id="user_cap", progress=10
        )
        answer = deliver(service_off, started)
        assert answer.status_code == 200 and json_of(answer)["outcome"] == "created", answer.text
    # When one of the 10 completes (14 are still in flight)
    assert (
        deliver(service_off, completion_payload(generated[0], user_id="user_cap", images=1)).status_code
        == 200
    )
    # Then generate is refused for the cap, and writes nothing
    refused = requests.post(
        generate, json={"prompt": "Un phare de trop"}, headers=author, timeout=API_ANSWER_SECONDS
    )
    assert refused.status_code == 429, refused.text
    assert json_of(refused)["code"] == "too_many_jobs_in_flight"
