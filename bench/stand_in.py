"""The stand-in for AWS: in-process moto with the tables of template.yaml, the environment the functions
get in Lambda, and one botocore hook that models DynamoDB's latency and meters its capacity.

`configure_environment()` must run before anything imports mediagen: the PynamoDB models read their
table names at import time, as they do in Lambda (tests/conftest.py does the same, through
local/harness/environment.py).
"""

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.meter import Meter

ROOT = Path(__file__).resolve().parent.parent
CODE_PATHS = [str(ROOT / "layers" / "shared"), str(ROOT / "functions"), str(ROOT)]

GENERATIONS_TABLE = "bench-generations"
NOTIFICATIONS_TABLE = "bench-notifications"
JOBS_IN_FLIGHT_TABLE = "bench-jobs-in-flight"

# Published p50s of DynamoDB requests measured from Lambda, in milliseconds, by operation.
DELAYS_MS: dict[str, float] = {
    "GetItem": 7.5,
    "PutItem": 7.5,
    "UpdateItem": 7.5,
    "DeleteItem": 7.5,
    "Query": 8.0,
    "Scan": 8.0,
    "TransactWriteItems": 25.0,
    "TransactGetItems": 25.0,
    # Not in the published figures. A batch carries up to 25 items that DynamoDB processes in parallel,
    # so it is slower than one single-item write: we charge it the highest published multi-item figure
    # (a transaction's), which is pessimistic for whichever flow uses it. Neither flow does today: the
    # old flow creates its files one by one, as Prisma's `create` in a loop does.
    "BatchWriteItem": 25.0,
    "BatchGetItem": 25.0,
}
OTHER_DELAY_MS = 7.5  # any other DynamoDB request (none is expected on these paths)
SPIN_SECONDS = 0.0003  # the end of each pad is a busy wait: sleep() overshoots by tens of microseconds


def configure_environment(workdir: Path) -> dict[str, str]:
    """The variables a deployed function gets (local/harness/environment.py, as the tests set them),
    for this process, and the code on sys.path as Lambda has it."""
    from local.harness import environment

    environment.apply(
        environment.function_environment(
            generations_table=GENERATIONS_TABLE,
            notifications_table=NOTIFICATIONS_TABLE,
            jobs_in_flight_table=JOBS_IN_FLIGHT_TABLE,
            max_jobs_in_flight_per_user=10000,  # the bench's one user queues many jobs
            metrics_namespace="MediagenBench",
            log_level="INFO",  # the template's default: logging is part of the cost
            no_aws_files_in=workdir,
        )
    )
    for path in reversed(CODE_PATHS):
        if path not in sys.path:
            sys.path.insert(0, path)
    return dict(os.environ)


@dataclass
class Call:
    """One DynamoDB request as the stand-in served it."""

    operation: str
    served_ms: float  # moto's own time, response parsing included
    modelled_ms: float  # the delay it was padded to (0 when latency is off)
    lasted_ms: float  # what it took in all: max(delay, moto's time), plus the sleep's overshoot


@dataclass
class StandIn:
    """Switches of the hook: latency on or off, a meter or none, and the log of requests."""

    latency: bool = False
    meter: "Meter | None" = None
    calls: list[Call] = field(default_factory=list)
    _bypass: threading.local = field(default_factory=threading.local)

    @contextlib.contextmanager
    def bypass(self) -> Iterator[None]:
        """Requests made inside are the bench's own (metering reads): not delayed, metered or logged."""
        self._bypass.active = True
        try:
            yield
        finally:
            self._bypass.active = False

    def bypassed(self) -> bool:
        return bool(getattr(self._bypass, "active", False))

    def serve(self, original: Any, endpoint: Any, request: Any, operation_model: Any, context: Any) -> Any:
        operation = operation_model.name
        params: dict[str, Any] = {}
        pending = None
        if self.meter:
            params = json.loads(request.body) if request.body else {}
            pending = self.meter.before(operation, params)
        start = time.perf_counter()
        result = original(endpoint, request, operation_model, context)
        served = time.perf_counter() - start
        modelled = 0.0
        if self.latency:
            modelled = DELAYS_MS.get(operation, OTHER_DELAY_MS) / 1000
            pad_until(start + modelled)
        lasted = time.perf_counter() - start
        if self.meter:
            self.meter.after(operation, params, pending, result)
        self.calls.append(Call(operation, served * 1000, modelled * 1000, lasted * 1000))
        return result


def pad_until(deadline: float) -> None:
    """The request took the modelled time in all: moto's own time is inside it, not added to it."""
    remaining = deadline - time.perf_counter()
    if remaining > SPIN_SECONDS:
        time.sleep(remaining - SPIN_SECONDS)
    while time.perf_counter() < deadline:
        pass


STAND_IN = StandIn()


def install_hook() -> None:
    """Wrap botocore's send-and-parse step for every DynamoDB request of every client (PynamoDB's and
    boto3's alike); other services (SQS, S3) pass through untouched."""
    import botocore.endpoint

    endpoint_class: Any = botocore.endpoint.Endpoint
    if getattr(endpoint_class, "_bench_hooked", False):
        return
    original = endpoint_class._do_get_response

    def hooked(endpoint: Any, request: Any, operation_model: Any, context: Any) -> Any:
        if operation_model.service_model.service_name != "dynamodb" or STAND_IN.bypassed():
            return original(endpoint, request, operation_model, context)
        return STAND_IN.serve(original, endpoint, request, operation_model, context)

    endpoint_class._do_get_response = hooked
    endpoint_class._bench_hooked = True


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """The functions log (Powertools JSON lines, metrics) to stdout as in Lambda, where it costs the
    same; here the lines go to /dev/null at the file-descriptor level so the table stays readable."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="mediagen-bench-"))
