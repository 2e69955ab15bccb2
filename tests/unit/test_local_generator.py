"""The stand-in generator's files: real PNGs, and a real clip or a clearly named placeholder."""

import io

import pytest
from PIL import Image

from local.emulator import generator


def test_images_are_real_pngs_of_the_asked_size() -> None:
    data = generator.render_png("Un phare breton au coucher du soleil 🌅", 320, 200, "job/0")
    with Image.open(io.BytesIO(data)) as picture:
        assert (picture.format, picture.size) == ("PNG", (320, 200))
    assert data != generator.render_png("Un phare", 320, 200, "job/1")


@pytest.mark.parametrize(
    ("size", "expected"),
    [("512x256", (512, 256)), (None, (1024, 1024)), ("bad", (1024, 1024)), ("99999x1", (2048, 16))],
)
def test_sizes(size: str | None, expected: tuple[int, int]) -> None:
    assert generator._size(size, (1024, 1024)) == expected


def test_without_an_encoder_a_video_is_a_clearly_named_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "ffmpeg_path", lambda: None)
    data, name = generator.render_clip(64, 48, 1)
    assert name == "0.placeholder.mp4"
    assert b"no video encoder" in data


def test_with_ffmpeg_a_video_is_a_real_mp4() -> None:
    if generator.ffmpeg_path() is None:
        pytest.skip("no ffmpeg here")
    data, name = generator.render_clip(64, 48, 1)
    assert name == "0.mp4"
    assert data[4:8] == b"ftyp"


@pytest.mark.parametrize(
    "job",
    [
        {"job_id": "bad id!", "kind": "image", "webhook_url": "http://127.0.0.1:1/hook"},
        {"job_id": "j_1", "kind": "audio", "webhook_url": "http://127.0.0.1:1/hook"},
        {"job_id": "j_1", "kind": "image", "webhook_url": "ftp://127.0.0.1/hook"},
        {"job_id": "j_1", "kind": "image"},
    ],
)
def test_a_dispatch_the_sender_kit_cannot_read_is_refused_before_any_thread(job: dict[str, str]) -> None:
    import json
    import threading

    from local.emulator.generator import LocalGenerator

    generator = LocalGenerator(
        s3=None, bucket="b", webhook_secret="whsec_c2VjcmV0", api_key="k", active=True, stop=threading.Event()
    )
    status, body = generator.accept("Bearer k", json.dumps(job).encode())
    assert status == 400 and body["code"] == "bad_request"
    assert generator._threads == []
