"""Functions for the sandbox tests: what they return tells which initialisation of their module ran."""

import time
import uuid
from typing import Any

# Made once per initialisation (Lambda's init phase) of this module.
INITIALISATION = uuid.uuid4().hex
invocations = 0


def sleeps(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global invocations
    invocations += 1
    time.sleep(event["seconds"])
    return {
        "initialisation": INITIALISATION,
        "invocations": invocations,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def swallows_errors(event: dict[str, Any], context: Any) -> str:
    """Catches every Exception around a wait longer than any timeout."""
    try:
        time.sleep(event["seconds"])
    except Exception:
        return "caught"
    return "done"


def generate_or_deliver(event: dict[str, Any], context: Any) -> Any:
    """The generate function or the completion webhook, by the event's path: one race of both."""
    if event["rawPath"].endswith("/generate"):
        from generate.app import lambda_handler as generate
    else:
        from completion_webhook.app import lambda_handler as generate
    return generate(event, context)
