"""`make demo`: the front end's flow against the running local service (`make run` elsewhere).

For an image job and a video job: generate, poll the status with a progress bar, fetch the result,
download the files and check them (images decoded at the announced size, the clip an MP4); then the
notifications, one per job. Exits non-zero, saying what is wrong,
when anything is. MEDIAGEN_URL (or PORT) names the service; TOKEN a token when the service has its own
issuer (by default one is minted with the development key of `.local/`).
"""

import io
import os
import sys
import time
import uuid
from typing import Any

import requests

from deploy.base import devkeys

TIMEOUT_SECONDS = float(os.environ.get("DEMO_TIMEOUT", "60"))
IMAGES = 2


class DemoFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(message)


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.session = base, requests.Session()
        self.session.headers["authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expected: tuple[int, ...] = (200,), **options: Any) -> Any:
        try:
            response = self.session.request(method, f"{self.base}{path}", timeout=10, **options)
        except requests.ConnectionError:
            raise DemoFailed(f"No service answers on {self.base}: start it with `make run`.") from None
        if response.status_code == 401:
            raise DemoFailed(
                f"{method} {path}: 401 {response.text[:200]}. The service has its own issuer: "
                "pass TOKEN=<a token it accepts>, or run it without AUTH_* (development key)."
            )
        check(
            response.status_code in expected,
            f"{method} {path}: HTTP {response.status_code} (expected {expected}): {response.text[:300]}",
        )
        try:
            return response.json()
        except ValueError:
            raise DemoFailed(f"{method} {path}: the body is not JSON: {response.text[:200]}") from None


def progress_bar(status: str, progress: int, width: int = 30) -> str:
    filled = width * progress // 100
    return f"\r  [{'#' * filled}{'-' * (width - filled)}] {progress:3d}% {status:<10}"


def run(base: str, token: str) -> None:
    client = Client(base, token)
    started = time.monotonic()
    paths = client.call("GET", "/openapi.json").get("paths", {})
    for kind in ("image", "video"):
        check(
            "post" in paths.get(f"/api/{kind}s/generate", {}),
            f"This service has no POST /api/{kind}s/generate route (template.yaml): nothing to demonstrate.",
        )
    image_job = follow_job(client, "image", {"prompt": "Un phare breton au coucher du soleil",
                                              "num_images": IMAGES, "size": "512x512"}, step=1)  # fmt: skip
    video_job = follow_job(client, "video", {"prompt": "La marée qui monte", "duration_seconds": 1}, step=4)

    print("7. GET /api/notifications")
    page = client.call("GET", "/api/notifications")
    for job_id in (image_job, video_job):
        mine = [n for n in page.get("items", []) if n.get("metadata", {}).get("generation_id") == job_id]
        check(len(mine) == 1, f"{len(mine)} notifications for job {job_id}, 1 expected: {page}")
        print(f"   {mine[0]['type']}: {mine[0]['title']} - {mine[0]['message']}")
    print(f"demo passed in {time.monotonic() - started:.1f} s")


def follow_job(client: Client, kind: str, request: dict[str, Any], step: int) -> str:
    """Generate, poll with a progress bar until final, fetch the result and download every file."""
    job_id = f"demo_{uuid.uuid4().hex[:12]}"
    print(f"{step}. POST /api/{kind}s/generate  job_id={job_id}")
    answer = client.call("POST", f"/api/{kind}s/generate", (202,), json={**request, "job_id": job_id})
    check(answer.get("job_id") == job_id, f"The service answered job {answer.get('job_id')}, not ours.")

    print(f"{step + 1}. GET /api/{kind}s/{{job_id}}/status until the job is done")
    last, shown, status = -1, "", {}
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status = client.call("GET", f"/api/{kind}s/{job_id}/status")
        check(status["progress"] >= last, f"Progress went down: {last} -> {status['progress']}.")
        last = status["progress"]
        bar = progress_bar(status["status"], last)
        if bar != shown:
            print(bar, end="", flush=True)
            shown = bar
        if status["status"] in ("completed", "failed", "canceled"):
            break
        time.sleep(0.2)
    print()
    check(
        status.get("status") != "queued",
        f"The job is still queued after {TIMEOUT_SECONDS:.0f} s: is the service running with "
        "LOCAL_GENERATOR=off? Then it waits for the backend's webhooks.",
    )
    check(status.get("status") == "completed", f"The job ended {status.get('status')}: {status.get('error')}")

    print(f"{step + 2}. GET /api/{kind}s/{{job_id}}/result, and download every file")
    result = client.call("GET", f"/api/{kind}s/{job_id}/result")
    files = result.get(f"{kind}s") or []
    expected = request.get("num_images", 1)
    check(len(files) == expected, f"{len(files)} {kind}s in the result, {expected} asked for.")
    for entry in files:
        if kind == "image":
            check_image(entry)
            print(f"   image {entry['index']}: {entry['width']}x{entry['height']} {entry['format']}, OK")
        else:
            check_video(entry)
            print(f"   video {entry['index']}: {entry['width']}x{entry['height']} {entry['format']}, "
                  f"{entry.get('duration_seconds')} s, OK")  # fmt: skip
    return job_id


def check_video(video: dict[str, Any]) -> None:
    response = requests.get(video["url"], timeout=30)  # a signed URL: no token
    check(response.status_code == 200, f"Video {video['index']}: HTTP {response.status_code} from its URL.")
    check(len(response.content) == video["size_bytes"], f"Video {video['index']}: not the announced size.")
    placeholder = b"Placeholder written by the mediagen local stand-in" in response.content[:100]
    # An MP4 starts with its `ftyp` box (the local stand-in writes a placeholder when no ffmpeg is found).
    check(placeholder or response.content[4:8] == b"ftyp", f"Video {video['index']} is not an MP4 file.")


def check_image(image: dict[str, Any]) -> None:
    from PIL import Image, UnidentifiedImageError

    response = requests.get(image["url"], timeout=10)  # a signed URL: no token
    check(response.status_code == 200, f"Image {image['index']}: HTTP {response.status_code} from its URL.")
    check(len(response.content) == image["size_bytes"], f"Image {image['index']}: not the announced size.")
    try:
        with Image.open(io.BytesIO(response.content)) as picture:
            picture.verify()
            found = (picture.format, picture.size)
    except UnidentifiedImageError:
        raise DemoFailed(f"Image {image['index']} is not an image.") from None
    expected = (image["format"].upper(), (image["width"], image["height"]))
    check(found == expected, f"Image {image['index']} is {found}, the result says {expected}.")


def main() -> int:
    base = os.environ.get("MEDIAGEN_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 3000}"
    token = os.environ.get("TOKEN") or devkeys.mint_token("demo_user", "demo_org", hours=1)
    try:
        run(base.rstrip("/"), token)
    except DemoFailed as failure:
        print(f"\ndemo FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
