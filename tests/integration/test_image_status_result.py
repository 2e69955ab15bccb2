"""GET /api/images/{id}/status and /result: tokens, visibility, signed URLs, request budgets."""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from completion_webhook.app import lambda_handler as webhook_handler
from generation_result.app import lambda_handler as result_handler
from generation_status.app import lambda_handler as status_handler
from mediagen.data.models import Generation
from tests.support import MEDIA_BUCKET, completion_payload, http_api_event, response_json, webhook_event

pytestmark = pytest.mark.usefixtures("aws")


def get_status(job_id: str, headers: dict[str, str], context: Any) -> dict[str, Any]:
    return status_handler(http_api_event("GET", f"/api/images/{job_id}/status", headers=headers), context)


def get_result(job_id: str, headers: dict[str, str], context: Any) -> dict[str, Any]:
    return result_handler(http_api_event("GET", f"/api/images/{job_id}/result", headers=headers), context)


def queued_job(job_id: str, author: str | None = "user_a", org: str | None = None) -> None:
    now = datetime.now(UTC)
    Generation(
        job_id=job_id,
        kind="image",
        author_id=author,
        organization_id=org,
        prompt="Un phare",
        status="queued",
        progress=0,
        source="api",
        created_at=now,
        updated_at=now,
    ).save()


def test_author_sees_status(tokens: Any, lambda_context: Any) -> None:
    queued_job("job_1")
    response = get_status("job_1", tokens.auth("user_a"), lambda_context)
    assert response["statusCode"] == 200
    body = response_json(response)
    assert {k: body[k] for k in ("job_id", "kind", "status", "progress")} == {
        "job_id": "job_1",
        "kind": "image",
        "status": "queued",
        "progress": 0,
    }
    assert body["created_at"] and body["updated_at"]
    assert "error" not in body


@pytest.mark.parametrize("org_claim", ["v2", "v1"])
def test_member_of_the_jobs_organization_sees_it(tokens: Any, lambda_context: Any, org_claim: str) -> None:
    queued_job("job_org", author="user_a", org="org_1")
    member = tokens.auth("user_m", org="org_1", org_claim=org_claim)
    assert get_status("job_org", member, lambda_context)["statusCode"] == 200


@pytest.mark.parametrize(
    "caller",
    [
        pytest.param({"sub": "user_b"}, id="another-user"),
        pytest.param({"sub": "user_b", "org": "org_2"}, id="another-organization"),
    ],
)
def test_others_get_the_same_404_as_a_missing_job(tokens: Any, lambda_context: Any, caller: dict) -> None:
    queued_job("job_org", author="user_a", org="org_1")
    headers = tokens.auth(caller.pop("sub"), **caller)

    hidden = get_status("job_org", headers, lambda_context)
    missing = get_status("job_nope", headers, lambda_context)

    assert hidden["statusCode"] == missing["statusCode"] == 404
    assert response_json(hidden)["code"] == response_json(missing)["code"] == "not_found"
    assert get_result("job_org", headers, lambda_context)["statusCode"] == 404


def test_unattributed_job_is_visible_to_nobody(tokens: Any, lambda_context: Any) -> None:
    webhook_handler(webhook_event(completion_payload("job_orphan", organization_id="org_1")), lambda_context)
    for caller in (tokens.auth("user_a"), tokens.auth("user_a", org="org_1")):
        assert get_status("job_orphan", caller, lambda_context)["statusCode"] == 404


def test_job_created_by_webhook_is_visible_to_its_user_only(tokens: Any, lambda_context: Any) -> None:
    webhook_handler(webhook_event(completion_payload("job_direct", user_id="user_a")), lambda_context)
    assert get_status("job_direct", tokens.auth("user_a"), lambda_context)["statusCode"] == 200
    assert get_status("job_direct", tokens.auth("user_b"), lambda_context)["statusCode"] == 404


@pytest.mark.parametrize(
    ("headers_for", "code"),
    [
        pytest.param(lambda t: {}, "missing_token", id="no-token"),
        pytest.param(lambda t: {"authorization": "Basic dXNlcjpwYXNz"}, "missing_token", id="basic-auth"),
        pytest.param(lambda t: {"authorization": "Bearer not.a.token"}, "invalid_token", id="garbage"),
        pytest.param(lambda t: t.auth("user_a", expires_in=-60), "token_expired", id="expired"),
        pytest.param(lambda t: t.auth("user_a", not_before=120), "invalid_token", id="nbf-in-future"),
        pytest.param(
            lambda t: t.auth("user_a", issuer="https://evil.example"), "invalid_token", id="wrong-issuer"
        ),
        pytest.param(
            lambda t: t.auth("user_a", azp="https://evil.example"), "invalid_token", id="azp-not-allowed"
        ),
        pytest.param(
            lambda t: t.auth("user_a", headers={"kid": "unknown"}), "invalid_token", id="unknown-kid"
        ),
        pytest.param(lambda t: t.auth("user_a", sts="pending"), "invalid_token", id="pending-session"),
    ],
)
def test_bad_tokens_get_401(
    tokens: Any, lambda_context: Any, aws_requests: Any, headers_for: Any, code: str
) -> None:
    queued_job("job_1")
    aws_requests.clear()
    for handler in (status_handler, result_handler):
        path = "/api/images/job_1/status" if handler is status_handler else "/api/images/job_1/result"
        response = handler(http_api_event("GET", path, headers=headers_for(tokens)), lambda_context)
        assert response["statusCode"] == 401
        assert response_json(response)["code"] == code
        assert response_json(response)["message"]
    assert aws_requests.count("dynamodb") == 0


def test_alg_none_and_hs256_with_the_public_key_are_refused(
    tokens: Any, lambda_context: Any, signing_key: Any
) -> None:
    import jwt
    from cryptography.hazmat.primitives import serialization

    queued_job("job_1")
    claims = {"sub": "user_a", "iss": "https://clerk.test.mediagen.dev", "exp": 2_000_000_000}
    unsigned = jwt.encode(claims, key="", algorithm="none")
    pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "kid": "test-key-1"}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    forged = f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"
    for token in (unsigned, forged):
        response = get_status("job_1", {"authorization": f"Bearer {token}"}, lambda_context)
        assert response["statusCode"] == 401


def test_result_before_completion_is_409_with_the_status(tokens: Any, lambda_context: Any) -> None:
    queued_job("job_1")
    response = get_result("job_1", tokens.auth("user_a"), lambda_context)
    assert response["statusCode"] == 409
    assert response_json(response)["status"] == "queued"
    assert response_json(response)["code"] == "not_completed"


def test_result_serves_signed_urls_not_the_bucket_url(tokens: Any, lambda_context: Any) -> None:
    prompt = "Création d'un phare 🎨"
    webhook_handler(
        webhook_event(completion_payload("job_done", user_id="user_a", prompt=prompt)), lambda_context
    )

    response = get_result("job_done", tokens.auth("user_a"), lambda_context)

    assert response["statusCode"] == 200
    body = response_json(response)
    assert (body["status"], body["progress"], body["prompt"], body["model"]) == (
        "completed",
        100,
        prompt,
        "gemini-2.5-flash-image",
    )
    assert [image["index"] for image in body["images"]] == [0, 1, 2, 3]
    first = body["images"][0]
    assert (first["width"], first["height"], first["format"], first["size_bytes"]) == (
        1024,
        1024,
        "png",
        1482013,
    )
    url = urlparse(first["url"])
    query = parse_qs(url.query)
    assert MEDIA_BUCKET in url.netloc and url.path == "/images/job_done/0.png"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]


def test_signed_url_downloads_the_file(tokens: Any, lambda_context: Any) -> None:
    import boto3
    import requests
    from moto.core.models import override_responses_real_send

    boto3.client("s3").put_object(Bucket=MEDIA_BUCKET, Key="images/job_dl/0.png", Body=b"\x89PNG fake")
    webhook_handler(webhook_event(completion_payload("job_dl", user_id="user_a", images=1)), lambda_context)
    url = response_json(get_result("job_dl", tokens.auth("user_a"), lambda_context))["images"][0]["url"]
    override_responses_real_send(None)
    assert requests.get(url, timeout=10).content == b"\x89PNG fake"


def test_status_and_result_budgets(tokens: Any, lambda_context: Any, aws_requests: Any) -> None:
    webhook_handler(webhook_event(completion_payload("job_b", user_id="user_a")), lambda_context)
    headers = tokens.auth("user_a")
    aws_requests.clear()
    assert get_status("job_b", headers, lambda_context)["statusCode"] == 200
    assert aws_requests.by_operation() == {"dynamodb.GetItem": 1}
    aws_requests.clear()
    assert get_result("job_b", headers, lambda_context)["statusCode"] == 200
    assert aws_requests.by_operation() == {"dynamodb.GetItem": 1}
    assert aws_requests.count("s3") == 0


def test_invalid_job_id_is_404_without_a_request(tokens: Any, lambda_context: Any, aws_requests: Any) -> None:
    response = get_status("..%2F..%2Fetc", tokens.auth("user_a"), lambda_context)
    assert response["statusCode"] == 404
    assert aws_requests.count("dynamodb") == 0


def test_a_webhook_cannot_attach_an_organization_to_a_private_job(tokens: Any, lambda_context: Any) -> None:
    # Given a private job of user A (created with no active organization)
    import json as json_module

    from generate.app import lambda_handler as generate_handler

    body = json_module.dumps({"prompt": "Un phare", "job_id": "job_private"})
    headers = {"content-type": "application/json", **tokens.auth("user_a")}
    assert (
        generate_handler(
            http_api_event("POST", "/api/images/generate", body=body, headers=headers), lambda_context
        )["statusCode"]
        == 202
    )

    # When a signed webhook names an organization for it
    payload = completion_payload("job_private", status="processing", progress=10, organization_id="org_x")
    assert response_json(webhook_handler(webhook_event(payload), lambda_context))["outcome"] == "updated"

    # Then that organization's members still cannot see it; its author still can
    assert get_status("job_private", tokens.auth("user_m", org="org_x"), lambda_context)["statusCode"] == 404
    assert get_status("job_private", tokens.auth("user_a"), lambda_context)["statusCode"] == 200
