"""The parties around the service, as tests and benchmarks play them: a Clerk-like issuer of session
tokens (RS256, a JWKS document on disk), and the generation backend (its completion payloads, signed with
Standard Webhooks, and a stand-in on a loopback port that takes dispatches and answers as scripted)."""

import http.server
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from standardwebhooks.webhooks import Webhook

from deploy.base.lambda_events import http_api_event

ISSUER = "https://clerk.test.mediagen.dev"
FRONT_END = "https://app.mediagen.dev"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - a test secret
CLERK_WEBHOOK_SECRET = "whsec_Y2xlcmsgdGVzdCBzZWNyZXQgb2YgMzIgYnl0ZXMhISE="  # noqa: S105 - a test secret
MEDIA_BUCKET = "mediagen-test-media"
PROMPT = "Un phare breton au coucher du soleil"
MODEL = "gemini-2.5-flash-image"


class TokenMinter:
    """Signs Clerk-like session tokens with an RSA key published in a JWKS document."""

    def __init__(self, private_key: Any, kid: str) -> None:
        self.private_key = private_key
        self.kid = kid

    @classmethod
    def with_new_key(cls, jwks_path: Path, kid: str = "test-key-1") -> "TokenMinter":
        """A fresh 2048-bit key, its public half written as a JWKS document at `jwks_path`."""
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwks_path.write_text(json.dumps({"keys": [public_jwk(key, kid)]}))
        return cls(key, kid)

    def token(
        self,
        sub: str,
        *,
        org: str | None = None,
        org_claim: str = "v2",
        expires_in: int = 300,
        not_before: int = -5,
        issuer: str = ISSUER,
        azp: str | None = FRONT_END,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": sub,
            "iss": issuer,
            "iat": now,
            "nbf": now + not_before,
            "exp": now + expires_in,
        }
        if azp is not None:
            body["azp"] = azp
        if org and org_claim == "v2":
            body["o"] = {"id": org, "rol": "member"}
        elif org:
            body["org_id"] = org
        body.update(claims)
        return jwt.encode(
            body, self.private_key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})}
        )

    def auth(self, sub: str, **options: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(sub, **options)}"}


def public_jwk(private_key: Any, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return jwk


def signed_headers(
    body: str,
    *,
    secret: str = WEBHOOK_SECRET,
    webhook_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, str]:
    """The Standard Webhooks headers of a delivery of `body`."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = timestamp or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, timestamp, body),
    }


def webhook_event(payload: dict[str, Any] | str, kind: str = "image", **sign_options: Any) -> dict[str, Any]:
    """The API Gateway event of a signed completion webhook (options: secret, webhook_id, timestamp)."""
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return http_api_event(
        "POST", f"/api/webhooks/{kind}-completion", body=body, headers=signed_headers(body, **sign_options)
    )


def completion_payload(
    job_id: str,
    *,
    status: str = "completed",
    images: int = 4,
    user_id: str | None = None,
    organization_id: str | None = None,
    prompt: str | None = None,
    progress: int | None = None,
    error: Any = None,
) -> dict[str, Any]:
    """The backend's payload; without user_id and prompt it is the old payload exactly."""
    payload: dict[str, Any] = {"job_id": job_id, "status": status}
    if user_id:
        payload["user_id"] = user_id
    if organization_id:
        payload["organization_id"] = organization_id
    if progress is not None:
        payload["progress"] = progress
    if error is not None:
        payload["error"] = error
    if status == "completed":
        payload["data"] = {
            "images": [
                {
                    "file_path": f"images/{job_id}/{index}.png",
                    "url": f"https://bucket.s3.amazonaws.com/images/{job_id}/{index}.png",
                    "size_bytes": 1482013 + index,
                    "format": "png",
                    "dimensions": "1024x1024",
                    "description": prompt or PROMPT,
                }
                for index in range(images)
            ],
            "metadata": {"model_name": MODEL, "generation_time_seconds": 7.8},
        }
        if prompt:
            payload["data"]["original_prompt"] = prompt
    return payload


class FakeBackend:
    """A stand-in generation backend on a loopback port: records each dispatch, answers as scripted
    (`answers`: (status, body) pairs, used in order; then 202 with the job id)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answers: list[tuple[int, dict[str, Any] | None]] = []
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                backend.requests.append(json.loads(self.rfile.read(length)))
                backend.headers.append({k.lower(): v for k, v in self.headers.items()})
                status, body = backend.answers.pop(0) if backend.answers else (202, None)
                payload = json.dumps(body if body is not None else {"job_id": backend.requests[-1]["job_id"]})
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/jobs"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Clerk (account events, signed by Svix) ---------------------------------------------------------


def clerk_payload(
    event_type: str = "user.deleted", user_id: str | None = "user_2erased", **data: Any
) -> dict[str, Any]:
    """An event as Clerk sends it (`user.deleted`: `data` is `{"id", "object": "user", "deleted": true}`)."""
    body: dict[str, Any] = {"object": "user", **data}
    if event_type == "user.deleted":
        body["deleted"] = True
    if user_id is not None:
        body["id"] = user_id
    return {
        "data": body,
        "object": "event",
        "type": event_type,
        "timestamp": int(time.time() * 1000),
        "instance_id": "ins_2test",
    }


def svix_headers(
    body: str,
    *,
    secret: str = CLERK_WEBHOOK_SECRET,
    message_id: str | None = None,
    timestamp: datetime | None = None,
    names: str = "svix",
) -> dict[str, str]:
    """The headers Svix sends with a Clerk event, signed by Svix's own library (`names`: "svix" for
    Clerk's `svix-*` names, "webhook" for the Standard Webhooks names)."""
    from svix.webhooks import Webhook as SvixWebhook

    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    timestamp = timestamp or datetime.now(UTC)
    signature = SvixWebhook(secret).sign(message_id, timestamp, body)
    return {
        "content-type": "application/json",
        f"{names}-id": message_id,
        f"{names}-timestamp": str(int(timestamp.timestamp())),
        f"{names}-signature": signature,
    }


def clerk_event(payload: dict[str, Any] | str, **sign_options: Any) -> dict[str, Any]:
    """The API Gateway event of a signed Clerk delivery (options: secret, message_id, timestamp, names)."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return http_api_event(
        "POST", "/api/webhooks/clerk", body=body, headers=svix_headers(body, **sign_options)
    )


class FakeEventsApi:
    """A stand-in for an AppSync Events API's HTTP publish endpoint on a loopback TLS port (a certificate
    made in `directory`): checks each request's SigV4 signature against `credentials` (by default the
    process's own, what the function under test signs with), records each publish (channel, events),
    and answers as scripted (`answers`: statuses used in order; then 200)."""

    def __init__(self, directory: Path, credentials: tuple[str, str] | None = None) -> None:
        import os
        import ssl

        from local.emulator.events.publish import sigv4_problem
        from local.emulator.events.tls import certificate

        self.published: list[tuple[str, list[str]]] = []
        self.refused: list[str] = []
        self.answers: list[int] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                url = f"https://{headers.get('host', '')}{self.path}"
                key, secret = credentials or (
                    os.environ["AWS_ACCESS_KEY_ID"],
                    os.environ["AWS_SECRET_ACCESS_KEY"],
                )
                problem = sigv4_problem("POST", url, headers, body, key, secret)
                status = 401 if problem else (api.answers.pop(0) if api.answers else 200)
                if problem:
                    api.refused.append(problem)
                elif status == 200:
                    document = json.loads(body)
                    api.published.append((document["channel"], list(document["events"])))
                answer = {"successful": [], "failed": []} if status == 200 else {"errors": [{"message": "x"}]}
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        self.certificate, key = certificate(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate, key)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"https://{host!s}:{port}/event"

    def events_on(self, channel: str) -> list[dict[str, Any]]:
        """What was published to `channel`, in order, as JSON."""
        return [
            json.loads(event)
            for published, events in self.published
            if published == channel
            for event in events
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
