"""The check that no log line carries a prompt or a file name (local/harness/log_leaks.py, run after every
test by tests/conftest.py) finds what it is for: the prompt of a real generate and the file names of a
real webhook are recorded as they arrive, and a line that carries one, as the functions' logger writes
it (escaped in JSON or not), is a leak; the service's own lines for the same requests are not."""

import json
from pathlib import Path
from typing import Any

import pytest

from completion_webhook.app import lambda_handler as webhook_handler
from generate.app import lambda_handler as generate_handler
from local.harness import log_leaks
from local.harness.parties import completion_payload, webhook_event
from mediagen.core.observability import logger
from tests.support import http_api_event, response_json

PROMPT = 'Un phare breton, "été" 🌅 au coucher du soleil'


@pytest.fixture
def reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> log_leaks.Reader:
    """This test's recordings, apart from the session's (its deliberate leaks must not fail it)."""
    monkeypatch.setenv(log_leaks.VARIABLE, str(tmp_path))
    return log_leaks.Reader(tmp_path)


def generate(prompt: str, tokens: Any, context: Any) -> dict[str, Any]:
    event = http_api_event(
        "POST",
        "/api/images/generate",
        body=json.dumps({"prompt": prompt}, ensure_ascii=False),
        headers={"content-type": "application/json", "authorization": f"Bearer {tokens.token('user_a')}"},
    )
    response = generate_handler(event, context)
    assert response["statusCode"] == 202, response
    return response_json(response)


@pytest.mark.usefixtures("aws_server")
def test_a_prompt_in_a_log_line_is_found_escaped_or_not(
    reader: log_leaks.Reader, tokens: Any, lambda_context: Any
) -> None:
    generate(PROMPT, tokens, lambda_context)
    lines = reader.read()
    assert reader.texts == {PROMPT: "prompt"}
    assert any('"Job created"' in line for line in lines), "the generate's own lines are recorded"
    assert reader.leaks(lines) == [], "the service's own lines carry no prompt"

    # As the code would leak it: an extra field (JSON-escaped quotes, the emoji as written) or the message.
    logger.info("Job created", extra={"prompt": PROMPT})
    logger.info(f"Job created for {PROMPT}")
    leaks = reader.leaks(reader.read())
    assert [(leak.what, leak.text) for leak in leaks] == [("prompt", PROMPT), ("prompt", PROMPT)]
    assert "Job created" in log_leaks.describe(leaks)


@pytest.mark.usefixtures("aws_server")
def test_a_refused_prompt_counts_too(reader: log_leaks.Reader, tokens: Any, lambda_context: Any) -> None:
    event = http_api_event(
        "POST",
        "/api/images/generate",
        body=json.dumps({"prompt": PROMPT, "num_images": 99}, ensure_ascii=False),
        headers={"content-type": "application/json", "authorization": f"Bearer {tokens.token('user_a')}"},
    )
    assert generate_handler(event, lambda_context)["statusCode"] == 422
    reader.read()
    assert PROMPT in reader.texts


@pytest.mark.usefixtures("aws_server")
def test_a_webhooks_file_names_in_a_log_line_are_found(
    reader: log_leaks.Reader, tokens: Any, lambda_context: Any
) -> None:
    job_id = generate("Des vagues sur la digue", tokens, lambda_context)["job_id"]
    payload = completion_payload(job_id, images=1)
    name = "phare-breton-au-soleil.png"  # a backend may name a file after what it shows
    key = payload["data"]["images"][0]["file_path"] = f"images/{job_id}/{name}"
    assert webhook_handler(webhook_event(payload), lambda_context)["statusCode"] == 200
    lines = reader.read()
    assert reader.texts[key] == reader.texts[name] == "file name"
    assert reader.leaks(lines) == []

    logger.warning("Files removed", extra={"keys": [key]})
    logger.warning("File removed", extra={"file": name})
    assert [leak.text for leak in reader.leaks(reader.read())] == [key, name]


def test_a_line_of_another_logger_is_read_with_its_traceback(reader: log_leaks.Reader) -> None:
    import logging

    log_leaks._record_words({"prompt": PROMPT})
    try:
        raise ValueError(f"cannot send {PROMPT}")
    except ValueError:
        logging.getLogger("local-stack").exception("A sandbox failed")
    assert [leak.text for leak in reader.leaks(reader.read())] == [PROMPT]


def test_words_too_short_to_tell_apart_are_not_recorded(reader: log_leaks.Reader) -> None:
    for prompt in ("x", "prompt", "0.png", "12345678 9", "Un phare"):
        log_leaks._record_words({"prompt": prompt})
    reader.read()
    assert reader.texts == {"Un phare": "prompt"}
