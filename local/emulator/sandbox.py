"""Lambda's concurrency, emulated: every invocation runs in a sandbox process that handles one invocation
at a time, and a function has several sandboxes (a configurable number). Used by the local service
(`local/emulator/server.py`) and by the concurrency tests, so that concurrent invocations never share an
interpreter: Powertools' event handler keeps the event being resolved in class-level state
(`BaseRouter.current_event`), and its logger the Lambda context, so two invocations in one process at
once would read each other's event. The sandboxes reach AWS over HTTP (the embedded moto server, or
DynamoDB Local), with the environment the pool is given.

Sandboxes are forked from a `forkserver` that has already imported the handlers' heavy dependencies
(`PRELOAD`): a new sandbox costs a fork and the handler's own import, not a fresh interpreter (spawn)
importing boto3, pydantic and Powertools again (measured in docs/local-service.md). Forking the caller
itself (`fork`) is not an option: the local service and pytest run threads (moto's server, pollers),
and a forked copy of a threaded process can inherit a lock held by a thread that does not exist there.
"""

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("local-stack")

DEFAULT_SANDBOXES = 4
# Imported once by the forkserver, shared by every sandbox forked from it. Only libraries: a handler
# module reads its environment at import (table names), and each pool has its own environment.
PRELOAD = (
    "boto3",
    "botocore.session",
    "pydantic",
    "pynamodb.models",
    "jwt",
    "standardwebhooks",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
)
# Read by the handler modules at import (PynamoDB's table names and region): a sandbox forked from a
# forkserver that preloaded them must have been given the same values.
IMPORT_TIME_VARIABLES = (
    "GENERATIONS_TABLE",
    "NOTIFICATIONS_TABLE",
    "JOBS_IN_FLIGHT_TABLE",
    "ERASED_PEOPLE_TABLE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(list(PRELOAD))


def preload(modules: Iterable[str]) -> None:
    """Have the forkserver import `modules` too (the handler modules), when it starts: the first
    sandbox of the process starts it, with the environment the process has then. No effect later."""
    _CONTEXT.set_forkserver_preload([*PRELOAD, *modules])


class InvocationError(Exception):
    """The function raised (or its sandbox died): what Lambda reports as a function error."""


@dataclass(frozen=True)
class Function:
    """What a sandbox needs to run a function: its name, `module.attribute` handler, timeout (enforced,
    in seconds) and memory (for the Lambda context only)."""

    name: str
    handler: str
    timeout: int = 3
    memory: int = 128


class LambdaContext:
    """The context object Lambda passes to a handler, made in the sandbox for each invocation."""

    def __init__(self, function: Function) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}"
        self.memory_limit_in_mb = function.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# --- inside a sandbox --------------------------------------------------------------------------------

_sandbox: dict[str, Any] = {}


class _TimedOut(BaseException):
    """The function's timeout, raised in its sandbox. Not an Exception: a handler's own `except
    Exception` must not catch it, as nothing in a Lambda function can catch being stopped."""


def _on_timeout(_signal: int, _frame: Any) -> None:
    raise _TimedOut


def _init_sandbox(function: Function, environment: Mapping[str, str], ready: Any, release: Any) -> None:
    """Lambda's init phase: the function's environment, then its handler module imported."""
    module = function.handler.rpartition(".")[0]
    if module in sys.modules:  # preloaded by the forkserver, with the environment it had
        differ = [v for v in IMPORT_TIME_VARIABLES if os.environ.get(v) != environment.get(v)]
        if differ:
            raise RuntimeError(f"{module} was preloaded with other values of {', '.join(differ)}")
    os.environ.clear()
    os.environ.update(environment)
    # The tests record every AWS call a function makes (tests/integration/test_permissions.py), and its
    # log lines with the prompts and file names it was given (tests/conftest.py: none may carry one).
    from local.harness import aws_calls, log_leaks

    aws_calls.install_from_environment()
    log_leaks.install_from_environment()
    signal.signal(signal.SIGALRM, _on_timeout)
    _sandbox.update(function=function, ready=ready, release=release)
    _import_handler()


def _import_handler() -> None:
    module, _, attribute = _sandbox["function"].handler.rpartition(".")
    _sandbox["handler"] = getattr(importlib.import_module(module), attribute)


def _reset_sandbox() -> None:
    """After a timeout Lambda discards the execution environment: the next invocation finds the
    function initialised anew. Here: the function's own modules (its code and the layer's, anything
    not installed in the interpreter) are imported again, so no state of the stopped invocation (a
    cached client, a half-built setting) is reused. Installed libraries stay: extension modules
    cannot be initialised twice in one process, and a library module imported twice would give two
    versions of its classes to the code that holds the first."""
    installed = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    for name, module in list(sys.modules.items()):
        origin = getattr(getattr(module, "__spec__", None), "origin", None) or ""
        ours = origin.endswith(".py") and not any(origin.startswith(path + os.sep) for path in installed)
        # This module stays (the pool's calls are unpickled as its functions), and so do __main__'s.
        if ours and not name.startswith("__") and not f"{__name__}.".startswith(f"{name}."):
            del sys.modules[name]
    _import_handler()


def _timed_out(function: Function) -> tuple[bool, Any]:
    message = f"Task timed out after {function.timeout:.2f} seconds"
    print(message, flush=True)  # as Lambda writes it to the function's log
    _sandbox["reset"] = True
    return False, message


def _invoke_in_sandbox(event: Any, gated: bool) -> tuple[bool, Any]:
    """One invocation (None: a warm-up). A gated one says it is ready and waits for the release, so
    that gated invocations start together, each in its own sandbox. Errors come back as text:
    exceptions of AWS SDKs do not always pickle."""
    if gated:
        _sandbox["ready"].release()
        _sandbox["release"].wait()
    if event is None:
        return True, os.getpid()
    function: Function = _sandbox["function"]
    if _sandbox.pop("reset", False):
        _reset_sandbox()
    try:
        return _invoke_until_timeout(function, event)
    except _TimedOut:  # here too: the alarm may ring just as the handler returns
        return _timed_out(function)


def _is_refusal(exc: Exception) -> bool:
    """Powertools' UnauthorizedException of AppSync Events: the documented way for an onSubscribe or
    onPublish handler to refuse (AppSync answers the client's subscribe with it)."""
    from aws_lambda_powertools.event_handler.events_appsync.exceptions import UnauthorizedException

    return isinstance(exc, UnauthorizedException)


def _invoke_until_timeout(function: Function, event: Any) -> tuple[bool, Any]:
    signal.setitimer(signal.ITIMER_REAL, function.timeout)
    try:
        return True, _sandbox["handler"](event, LambdaContext(function))
    except _TimedOut:
        return _timed_out(function)
    except Exception as exc:
        if _is_refusal(exc):
            # How an onSubscribe function refuses a subscription: an answer, not a fault. One line
            # (Lambda's first), not a stack trace per refused subscription in the service's log.
            print(f"[ERROR] {type(exc).__name__}: {exc}", flush=True)
        else:
            print("".join(traceback.format_exception(exc)), flush=True)  # what Lambda writes to its log
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


# --- the caller's side -------------------------------------------------------------------------------


class SandboxPool:
    """Up to `sandboxes` processes per function, started on demand and kept warm; an invocation waits
    for an idle sandbox of its function (as a function at its reserved concurrency would queue)."""

    def __init__(
        self,
        functions: Iterable[Function],
        environment: Mapping[str, str],
        sandboxes: int = DEFAULT_SANDBOXES,
    ) -> None:
        if sandboxes < 1:
            raise ValueError("a function needs at least one sandbox")
        self.functions = {function.name: function for function in functions}
        self.environment = dict(environment)
        self.sandboxes = sandboxes
        self._executors: dict[str, ProcessPoolExecutor] = {}
        self._gates: dict[str, tuple[Any, Any]] = {}  # per function: (ready semaphore, release event)
        self._lock = threading.Lock()
        self._racing: dict[str, threading.Lock] = {}  # per function: one gated batch at a time
        self._closed = False
        # The forkserver starts now (it imports the preloaded modules: seconds), not at the first
        # invocation, which would pay for it.
        from multiprocessing import forkserver

        forkserver.ensure_running()

    def _executor(self, name: str) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise InvocationError("the sandbox pool is closed")
            executor = self._executors.get(name)
            if executor is None:
                # Synchronisation objects reach a process only at its start: given with the init.
                gate = self._gates.setdefault(name, (_CONTEXT.Semaphore(0), _CONTEXT.Event()))
                executor = ProcessPoolExecutor(
                    max_workers=self.sandboxes,
                    mp_context=_CONTEXT,
                    initializer=_init_sandbox,
                    initargs=(self.functions[name], self.environment, *gate),
                )
                self._executors[name] = executor
            return executor

    def _result(self, name: str, future: "Future[tuple[bool, Any]]") -> Any:
        try:
            ok, value = future.result()
        except BrokenProcessPool:
            # A sandbox died (or failed its init): its invocations fail, new sandboxes replace them.
            with self._lock:
                broken = self._executors.pop(name, None)
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            raise InvocationError(f"{name}: the sandbox exited during the invocation") from None
        if not ok:
            raise InvocationError(f"{name}: {value}")
        return value

    def invoke(self, name: str, event: Any) -> Any:
        """Run one invocation of `name` in one of its sandboxes; its answer, or InvocationError."""
        if event is None:
            raise ValueError("an event is required")
        try:
            future = self._executor(name).submit(_invoke_in_sandbox, event, False)
        except BrokenProcessPool:
            with self._lock:
                self._executors.pop(name, None)
            future = self._executor(name).submit(_invoke_in_sandbox, event, False)
        return self._result(name, future)

    def _gated(self, name: str, events: Sequence[Any], seconds: float) -> list[Any]:
        """Each of the first `sandboxes` events in its own sandbox, all released at one instant once
        every one of them is ready (the others queue behind them)."""
        with self._lock:
            racing = self._racing.setdefault(name, threading.Lock())
        with racing:
            executor = self._executor(name)
            ready, release = self._gates[name]
            release.clear()
            futures = [executor.submit(_invoke_in_sandbox, event, True) for event in events]
            deadline = time.monotonic() + seconds
            for _ in range(min(len(events), self.sandboxes)):
                if not ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    release.set()
                    raise InvocationError(f"{name}: the sandboxes did not start in {seconds:g} s")
            release.set()
            while ready.acquire(block=False):  # the queued events said "ready" after the release
                pass
            answers: list[Any] = []
            for future in futures:
                try:
                    answers.append(self._result(name, future))
                except InvocationError as error:
                    answers.append(error)
            return answers

    def warm(self, name: str, count: int | None = None, *, seconds: float = 120.0) -> set[int]:
        """Start `count` sandboxes of `name` (all of them by default) and wait for their init: the
        process ids of the sandboxes that answered."""
        count = min(count or self.sandboxes, self.sandboxes)
        return {int(pid) for pid in self._gated(name, [None] * count, seconds)}

    def invoke_all_at_once(self, name: str, events: Sequence[Any], *, seconds: float = 120.0) -> list[Any]:
        """Every event in its own sandbox (up to `sandboxes`; the rest queue as they would at a
        function's concurrency limit), released at the same instant: a real race between processes.
        The answers in the order of `events`; a failed invocation is its InvocationError."""
        if any(event is None for event in events):
            raise ValueError("an event is required")
        return self._gated(name, events, seconds)

    def close(self) -> None:
        """Stop every sandbox (an invocation under way is waited for)."""
        with self._lock:
            self._closed = True
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            with contextlib.suppress(Exception):
                executor.shutdown(wait=True, cancel_futures=True)
        self._gates.clear()  # their semaphores are unlinked now, while the resource tracker runs

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def stop_forkserver() -> None:
    """Stop the forkserver now, and wait for it, rather than when this process exits: a service that
    stops leaves nothing running behind it. CPython has no public call for this; the private one
    (there since 3.8) is used if present."""
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()
