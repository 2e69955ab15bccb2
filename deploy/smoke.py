"""`make smoke`: the front end's whole flow against `make run` or any deployment, checked.

    make smoke                                     against `make run` (http://127.0.0.1:$PORT)
    SMOKE_TOKEN=<a test user's Clerk token> make smoke ENV=dev     against the dev stack
    API_URL=https://... WEBHOOK_SECRET=whsec_... SMOKE_TOKEN=... make smoke      against any deployment

Generate an image job with our own job id, play the generation backend (a signed `processing` then
`completed` webhook), poll the status, read the result, find the job's one notification, then generate a
second job and cancel it. Also: an unsigned webhook is refused (401), and an unknown route and a wrong
method answer the contract's JSON 404 / 405. Every answer is checked; the first wrong one exits 1.

- `WEBHOOK_SECRET`: a `whsec_...` secret the deployment accepts (`make webhook-secret ENV=dev`). Unset:
  the local development secret of `make run` (`.local/`).
- `SMOKE_TOKEN`: a user token the deployment trusts (a Clerk session token of a test user). Unset: one
  minted with the local development key, which only `make run` (or a stack whose AuthIssuer is the
  development issuer) trusts.

The webhooks name the file `images/<job>/0.png`; against a real deployment, the generation backend may
also receive the job (it is dispatched as any other): its own webhooks then arrive as duplicates or stale
deliveries, which the checks accept.
"""

import argparse
import base64
import json
import os
import sys
import time
import uuid
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

from deploy.base import devkeys

TIMEOUT_SECONDS = float(os.environ.get("SMOKE_TIMEOUT", "30"))
PROMPT = "Un phare breton au coucher du soleil ⛵"


class SmokeFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailed(message)


def token_subject(token: str) -> str:
    """The `sub` of a JWT, read without verifying it: the user the webhooks name."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])
    except (IndexError, ValueError, KeyError) as exc:
        raise SmokeFailed("SMOKE_TOKEN is not a JWT with a `sub` claim.") from exc


class Smoke:
    def __init__(self, base: str, token: str, secret: str) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.user = token_subject(token)
        self.signer = Webhook(secret)
        self.http = requests.Session()
        self.steps = 0

    def step(self, text: str) -> None:
        self.steps += 1
        print(f"{self.steps:2d}. {text}", flush=True)

    def call(
        self,
        method: str,
        path: str,
        expected: int | tuple[int, ...],
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        user: bool = True,
    ) -> dict[str, Any]:
        wanted = (expected,) if isinstance(expected, int) else expected
        sent = dict(headers or {})
        if user:
            sent["authorization"] = f"Bearer {self.token}"
        data = raw
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            sent["content-type"] = "application/json"
        try:
            response = self.http.request(method, self.base + path, data=data, headers=sent, timeout=15)
        except requests.RequestException as exc:
            raise SmokeFailed(f"{method} {path}: no answer from {self.base} ({exc})") from None
        text = response.text[:400]
        check(
            response.status_code in wanted,
            f"{method} {path}: HTTP {response.status_code}, {wanted} expected: {text}",
        )
        check(
            response.headers.get("content-type", "").startswith("application/json"),
            f"{method} {path}: the answer is not JSON ({response.headers.get('content-type')}): {text}",
        )
        try:
            document: dict[str, Any] = response.json()
        except ValueError:
            raise SmokeFailed(f"{method} {path}: the body is not JSON: {text}") from None
        if response.status_code >= 400:
            check(
                bool(document.get("code")) and bool(document.get("message")),
                f"{method} {path}: error without code/message: {text}",
            )
        return document

    def webhook(
        self, job_id: str, payload: dict[str, Any], expected: int | tuple[int, ...] = 200
    ) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False).encode()
        message_id = f"msg_smoke_{uuid.uuid4().hex}"
        now = int(time.time())
        from datetime import UTC, datetime

        signature = self.signer.sign(message_id, datetime.fromtimestamp(now, UTC), body.decode())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(now),
            "webhook-signature": signature,
        }
        return self.call(
            "POST", "/api/webhooks/image-completion", expected, raw=body, headers=headers, user=False
        )

    def run(self) -> None:
        started = time.monotonic()
        job_id = f"smoke_{uuid.uuid4().hex[:16]}"
        self.step(f"POST /api/images/generate (job_id {job_id})")
        created = self.call(
            "POST", "/api/images/generate", 202, body={"prompt": PROMPT, "job_id": job_id, "num_images": 1}
        )
        check(created.get("job_id") == job_id, f"generate answered job {created.get('job_id')}, not ours")
        check(created.get("status") == "queued", f"a new job is {created.get('status')}, not queued")
        again = self.call(
            "POST", "/api/images/generate", 200, body={"prompt": PROMPT, "job_id": job_id, "num_images": 1}
        )
        check(again.get("job_id") == job_id, "the same job id posted again gave another job")

        self.step("POST /api/webhooks/image-completion, unsigned: 401")
        self.call(
            "POST", "/api/webhooks/image-completion", 401, body=completed(job_id, self.user), user=False
        )

        self.step("POST /api/webhooks/image-completion, signed: processing 50 %")
        answer = self.webhook(
            job_id, {"job_id": job_id, "user_id": self.user, "status": "processing", "progress": 50}
        )
        check(answer.get("outcome") in ("updated", "duplicate", "stale"), f"processing webhook: {answer}")

        self.step("POST /api/webhooks/image-completion, signed: completed, twice (a retry)")
        first = self.webhook(job_id, completed(job_id, self.user))
        second = self.webhook(job_id, completed(job_id, self.user))
        check(first.get("outcome") in ("updated", "duplicate", "stale"), f"completed webhook: {first}")
        check(
            second.get("outcome") in ("duplicate", "stale"),
            f"the retried webhook changed something: {second}",
        )

        self.step(f"GET /api/images/{job_id}/status until completed")
        status: dict[str, Any] = {}
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            status = self.call("GET", f"/api/images/{job_id}/status", 200)
            if status.get("status") in ("completed", "failed", "canceled"):
                break
            time.sleep(0.5)
        check(
            status.get("status") == "completed", f"the job is {status.get('status')}, not completed: {status}"
        )
        check(status.get("progress") == 100 and status.get("kind") == "image", f"status: {status}")

        self.step(f"GET /api/images/{job_id}/result")
        result = self.call("GET", f"/api/images/{job_id}/result", 200)
        images = result.get("images") or []
        check(
            len(images) >= 1 and images[0].get("url", "").startswith("http"),
            f"result without a signed URL: {result}",
        )
        check(
            "X-Amz-Signature=" in images[0]["url"] or "Signature=" in images[0]["url"],
            "the result URL is not signed",
        )

        self.step("GET /api/notifications: the job's one notification")
        page = self.call("GET", "/api/notifications?limit=100", 200)
        mine = [n for n in page.get("items", []) if (n.get("metadata") or {}).get("generation_id") == job_id]
        check(len(mine) == 1, f"{len(mine)} notifications for the job, 1 expected")
        check(mine[0].get("type") == "IMAGE_COMPLETED", f"notification: {mine[0]}")
        self.call("POST", f"/api/notifications/{mine[0]['id']}/read", 200)

        second_job = f"smoke_{uuid.uuid4().hex[:16]}"
        self.step(f"POST /api/images/generate then /api/images/{second_job}/cancel")
        self.call("POST", "/api/images/generate", 202, body={"prompt": PROMPT, "job_id": second_job})
        canceled = self.call("POST", f"/api/images/{second_job}/cancel", (200, 409))
        if canceled.get("code"):  # the backend finished it first (a real deployment): 409 with its status
            check(canceled.get("status") in ("completed", "failed"), f"cancel refused: {canceled}")
        else:
            check(canceled.get("status") == "canceled", f"cancel: {canceled}")
            final = self.call("GET", f"/api/images/{second_job}/status", 200)
            check(final.get("status") == "canceled", f"after cancel the job is {final.get('status')}")

        self.step("unknown route and wrong method: the contract's JSON 404 and 405")
        self.call("GET", "/api/no-such-route", 404)
        self.call("DELETE", f"/api/images/{job_id}/status", (404, 405))
        print(f"smoke passed against {self.base} in {time.monotonic() - started:.1f} s")


def completed(job_id: str, user: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "user_id": user,
        "status": "completed",
        "progress": 100,
        "data": {
            "original_prompt": PROMPT,
            "images": [
                {
                    "file_path": f"images/{job_id}/0.png",
                    "url": f"https://bucket.s3.amazonaws.com/images/{job_id}/0.png",
                    "size_bytes": 1482013,
                    "format": "png",
                    "dimensions": "1024x1024",
                    "description": PROMPT,
                }
            ],
            "metadata": {"model_name": "smoke-test", "generation_time_seconds": 0.1},
        },
    }


def target(argv: list[str]) -> tuple[str, str | None]:
    """The API to check and its webhook secret (None: the development one of `make run`): `--env
    <env>` reads both from that environment's stack (region and credentials as every deploy command);
    else API_URL, by default `make run`'s (http://127.0.0.1:$PORT)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--env", help="the deployed environment to check (its stack's ApiUrl and secret)")
    arguments = parser.parse_args(argv)
    secret = os.environ.get("WEBHOOK_SECRET", "").strip() or None
    if arguments.env:
        from deploy.cli import Stack, signing_secret

        stack = Stack(arguments.env)
        return stack.output("ApiUrl"), secret or signing_secret(stack.secret("WebhookSecretsArn"))
    base = os.environ.get("API_URL", "").strip() or f"http://127.0.0.1:{os.environ.get('PORT') or 3000}"
    if not base.startswith(("http://", "https://")):
        raise SmokeFailed(f"API_URL={base} is not an http(s) URL (make api-url ENV=dev prints a stack's)")
    return base, secret


def main(argv: list[str] | None = None) -> int:
    from deploy.aws_session import AwsSetupError
    from deploy.cli import DeployError

    try:
        base, secret = target(sys.argv[1:] if argv is None else argv)
    except (SmokeFailed, DeployError, AwsSetupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    deployed = "--env" in (sys.argv[1:] if argv is None else argv)
    token = os.environ.get("SMOKE_TOKEN", "").strip()
    if not token and deployed:
        print(
            "error: SMOKE_TOKEN is required against a deployment: a test user's Clerk session token "
            "(docs/deploy.md, 5)",
            file=sys.stderr,
        )
        return 2
    token = token or devkeys.mint_token("smoke_user", hours=1)
    try:
        Smoke(base, token, secret or devkeys.dev_webhook_secret()).run()
    except SmokeFailed as failure:
        print(f"\nsmoke FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
