"""Lambda sandboxes for concurrency tests: each invocation in its own process, as Lambda runs them
(one request at a time per interpreter). Processes are forked from a forkserver that imported the
handlers once, so starting 50 costs a fork each, not an interpreter start and imports.

Kept light: a sandbox process imports this module to find its target."""

import importlib
import multiprocessing
import os
import sys
from collections.abc import Iterable
from typing import Any


def context(preload: Iterable[str]) -> Any:
    """The forkserver context, preloading `preload` (module names) with this interpreter's path."""
    os.environ["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__, *preload])
    return ctx


def invoke(
    handler: str, environment: dict[str, str], event: dict[str, Any], barrier: Any, answers: Any
) -> None:
    """One sandbox: `handler` ("generate.app") in this process, with the test's environment, its
    invocation released together with the others' by `barrier`; its answer put on `answers`."""
    os.environ.clear()
    os.environ.update(environment)
    module = importlib.import_module(handler)
    from mediagen import generations
    from mediagen.models import Generation, Notification, UserJobsInFlight

    generations.reset_connection()  # clients are made in this sandbox, after its environment
    for model in (Generation, Notification, UserJobsInFlight):
        model._connection = None

    class Context:
        function_name = "sandbox"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sandbox"
        aws_request_id = f"sandbox-{os.getpid()}"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 30_000

    barrier.wait(timeout=300)
    response = module.lambda_handler(event, Context())
    answers.put(response)


def run_concurrently(
    handler: str, events: list[dict[str, Any]], timeout: float = 300
) -> list[dict[str, Any]]:
    """Every event in its own sandbox process, released at once; the answers (in completion order)."""
    ctx = context([handler])
    barrier = ctx.Barrier(len(events))
    answers = ctx.Queue()
    environment = dict(os.environ)
    processes = [
        ctx.Process(target=invoke, args=(handler, environment, event, barrier, answers)) for event in events
    ]
    for process in processes:
        process.start()
    try:
        results = [answers.get(timeout=timeout) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    if any(process.exitcode != 0 for process in processes):
        raise AssertionError(f"sandbox exit codes: {[process.exitcode for process in processes]}")
    return results
