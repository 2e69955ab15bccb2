"""The whole API on one machine: `make run` (python -m local.emulator.server).

Every route of template.yaml on http://127.0.0.1:PORT, each request handed as an API Gateway HTTP API
event (format 2.0) to the same handler AWS runs; SQS and Schedule events run their functions too. AWS
is moto's server, in this process, with the template's tables, queues, secrets and the media bucket.
The settings are the contract's variables (PORT, AUTH_*, WEBHOOK_SECRETS, CLERK_WEBHOOK_SECRETS,
LOCAL_GENERATOR; and GENERATOR_URL to use another generation backend), read by settings.py; what it
prints when it has started is banner.py's. Ctrl-C or SIGTERM stops everything it started.
"""

import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from deploy.base import devkeys
from deploy.base.cfn_functions import FunctionSpec, channel_namespaces, functions, http_routes
from deploy.base.cfn_template import TABLE_ENV, resources_of_type
from deploy.base.intrinsics import REGION
from deploy.base.lambda_events import appsync_subscribe_event
from local.emulator.banner import banner
from local.emulator.event_sources import event_sources
from local.emulator.gateway import Cors, Gateway, Request, Response, Route
from local.emulator.generator import LocalGenerator
from local.emulator.http_server import HttpLimits, HttpServer, raise_open_files_limit
from local.emulator.live_events import bind_events
from local.emulator.playground import Playground, playground_port, with_origin
from local.emulator.sandbox import Function, InvocationError, SandboxPool, preload, stop_forkserver
from local.emulator.settings import MEDIA_BUCKET, Settings
from local.emulator.stack import FAKE_CREDENTIALS, EmbeddedAws, parameter_values, provision
from local.harness.sources import DynamoDBStreamEventSource, in_thread
from local.services.dynamodb_local import DynamoDBLocalError
from mediagen.contract.channels import ORGANIZATION_CHANNEL_PATTERN, USER_CHANNEL_PATTERN

log = logging.getLogger("local-stack")  # no "mediagen" in the name: Powertools filters those out
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi.json"
GENERATOR_PATH = "/_local/generator"
RESTART_PATH = "/_local/events/restart"
STOP_GRACE_SECONDS = 6  # for the requests under way, the pollers and the generator's jobs, together


def sandbox_functions(specs: Iterable[FunctionSpec], timeout_scale: int) -> list[Function]:
    """The template's functions as the sandboxes run them: each with its handler, its memory, and
    its template `Timeout` times `LOCAL_TIMEOUT_SCALE`, which the sandbox enforces."""
    return [
        Function(
            spec.logical_id, f"{spec.module}.{spec.attribute}", spec.timeout * timeout_scale, spec.memory
        )
        for spec in specs
    ]


class LocalService:
    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        self.settings = settings
        self.stop = stop
        self.aws = EmbeddedAws(port=settings.aws_port)
        self.threads: list[threading.Thread] = []
        self.stream_readers: list[DynamoDBStreamEventSource] = []
        self.gateway: Gateway | None = None
        self.generator: LocalGenerator | None = None
        self.openapi: dict[str, Any] = {}
        self.pool: SandboxPool | None = None
        # Bound first: a port in use fails at once, and early requests wait in the backlog. Another
        # server of the local service (a second port) is one more HttpServer in this list.
        limits = HttpLimits(idle_seconds=settings.idle_seconds)
        self.http = HttpServer(self.handle, settings.port, limits, name="http")
        self.servers: list[HttpServer] = [self.http]
        self.base_url = f"http://127.0.0.1:{self.http.port}"
        self.playground = _bind_playground(settings, self.http.port, self.base_url)
        try:
            self.aws.bind()
        except OSError as exc:
            self.http.close()
            if self.playground:
                self.playground.close()
            raise SystemExit(
                f"Cannot listen on 127.0.0.1:{settings.aws_port} for the embedded AWS: {exc.strerror} "
                "(set LOCAL_AWS_PORT, or leave it unset for a free port)"
            ) from None
        self.namespaces = channel_namespaces()
        self.events = bind_events(
            settings,
            int(self.http.port),
            self.namespaces,
            self._authorize_subscription,
            self._allowed_origins,
        )
        if self.playground:
            self.playground.events = self.events.info(USER_CHANNEL_PATTERN, ORGANIZATION_CHANNEL_PATTERN)

    def _allowed_origins(self) -> frozenset[str]:
        cors = self.gateway.cors if self.gateway is not None else None
        return frozenset(cors.allow_origins) if cors is not None else frozenset()

    def _authorize_subscription(
        self, channel: str, claims: Mapping[str, Any], headers: Mapping[str, str]
    ) -> str | None:
        """What AppSync does after it verified the token: the namespace's onSubscribe function, invoked
        directly with the AppSync Events event; None when it allows the subscription, else the error."""
        namespace = channel.split("/")[1]
        function = self.namespaces.get(namespace)
        if function is None:
            return None  # a namespace without an onSubscribe handler allows every authorized caller
        assert self.pool is not None
        event = appsync_subscribe_event(channel, claims, headers)
        try:
            answer = self.pool.invoke(function, event)
        except InvocationError as error:
            text = str(error)
            return text.split("UnauthorizedException", 1)[-1].strip(" :-'\"") or "Unauthorized"
        if isinstance(answer, dict) and answer.get("error"):
            return str(answer["error"])[:300]
        return None

    def start(self) -> None:
        data = devkeys.local_dir() / "dynamodb-local-data" if self.settings.dynamodb_persist else None
        try:
            self.aws.start(dynamodb_local=self.settings.dynamodb_local, dynamodb_data=data)
        except DynamoDBLocalError as exc:
            if not self.settings.dynamodb_fallback:
                raise
            # make run on a machine without Java 17 or npm (or where DynamoDB Local did not start): the
            # service still starts, on moto, and says why in one line (memory then grows with the data:
            # moto keeps it in the service's process, docs/performance.md)
            reason = str(exc).splitlines()[0][:300]
            log.warning("DynamoDB is moto's, in memory: DynamoDB Local cannot run here (%s)", reason)
            # the embedded AWS is up already, DynamoDB's endpoint still its own (DynamoDB Local's is set
            # only once it answers)
            self.settings = replace(self.settings, dynamodb_local=False, dynamodb_persist=False)
        generator_url = self.settings.generator_url or f"{self.base_url}{GENERATOR_PATH}"
        parameters = parameter_values(
            {
                "AuthIssuer": self.settings.issuer,
                "AuthJwksUrl": self.settings.jwks_url,
                "AuthAuthorizedParties": self.authorized_parties,
                "MediaBucketName": MEDIA_BUCKET,
                "GeneratorUrl": generator_url,
                **({"RetentionDays": self.settings.retention_days} if self.settings.retention_days else {}),
            }
        )
        self.stack = provision(self.aws, parameters, events_host=f"127.0.0.1:{self.events.port}")
        generator_key = os.environ.get("GENERATOR_API_KEY") or secrets.token_urlsafe(24)
        os.environ.pop("AWS_PROFILE", None)
        # Before any handler is imported: the models read their table names at import, as in Lambda.
        os.environ.update(
            {
                **self.stack.environment(),
                **FAKE_CREDENTIALS,
                **self.aws.endpoints(),
                "PUBLIC_API_URL": self.base_url,
                "WEBHOOK_SECRETS": self.settings.webhook_secrets,
                "CLERK_WEBHOOK_SECRETS": self.settings.clerk_webhook_secrets,
                "ERASURE_HASH_KEY": os.environ.get("ERASURE_HASH_KEY") or devkeys.dev_erasure_hash_key(),
                "GENERATOR_API_KEY": generator_key,
                "EVENTS_CA_BUNDLE": str(self.events.certificate),
                "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            }
        )
        # The committed description (a test keeps it current): building it imports every handler, which
        # belongs in the sandboxes, not in this process.
        self.openapi = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
        self.generator = LocalGenerator(
            s3=self.aws.client("s3"),
            bucket=MEDIA_BUCKET,
            webhook_secret=self.settings.webhook_secrets.split(",")[0].strip(),
            api_key=generator_key,
            active=self.settings.generator_on,
            stop=self.stop,
        )
        specs = {spec.logical_id: spec for spec in functions()}
        # Lambda's concurrency: each invocation in a sandbox process of its function, one at a time
        # each; the environment is complete now (the handler modules read table names at import).
        preload(spec.module for spec in specs.values())
        self.pool = SandboxPool(
            sandbox_functions(specs.values(), self.settings.timeout_scale),
            dict(os.environ),
            self.settings.sandboxes,
        )
        routes = [Route(route, self._invoker(route.function), lambda: None) for route in http_routes()]
        self.gateway = Gateway(routes, self._cors())
        for spec in specs.values():
            self._start_event_sources(spec)
        if self.playground:
            self.playground.start()
        self.events.start()
        for server in self.servers:
            server.start()

    def _invoker(self, function: str) -> Any:
        """The gateway's handler for `function`: an invocation in one of its sandboxes (which makes
        the Lambda context)."""
        pool = self.pool
        assert pool is not None

        def invoke(event: dict[str, Any], _context: Any) -> Any:
            return pool.invoke(function, event)

        return invoke

    @property
    def authorized_parties(self) -> str:
        """AUTH_AUTHORIZED_PARTIES, plus the playground's origin (with the development key, or when a
        list is set: an empty list means any azp, which an added origin would narrow)."""
        parties = self.settings.authorized_parties
        if self.playground and (self.settings.dev_key or parties):
            return with_origin(parties, self.playground.origin)
        return parties

    def _cors(self) -> Cors | None:
        for api in resources_of_type("AWS::Serverless::HttpApi").values():
            configuration = (api.get("Properties") or {}).get("CorsConfiguration")
            if isinstance(configuration, dict):
                return Cors.from_template(self.stack.resolver(configuration))
        return None

    def _start_event_sources(self, spec: FunctionSpec) -> None:
        sources = event_sources(spec, self._invoker(spec.logical_id), self.aws, self.stack)
        self.stream_readers += [source for source in sources if isinstance(source, DynamoDBStreamEventSource)]
        self.threads += [in_thread(source, self.stop) for source in sources]

    def handle(self, request: Request) -> tuple[Response, str | None]:
        path = request.target.split("?", 1)[0]
        if self.gateway is None or self.generator is None:
            return Response.json(503, {"code": "starting", "message": "The local service is starting."}), None
        if path.startswith("/_local/") and not self._local_origin_allowed(request.header("origin")):
            # The service's own routes (its description, the stand-in, switches for tests) are for the
            # developer's tools and pages of the allowed origins, never for another site's page.
            message = "This origin may not use the local service's own routes."
            return Response.json(403, {"code": "origin_not_allowed", "message": message}), None
        if (request.method, path) == ("GET", "/openapi.json"):
            return Response.json(200, self.openapi), None
        if (request.method, path) == ("POST", GENERATOR_PATH):
            status, body = self.generator.accept(request.header("authorization"), request.body)
            return Response.json(status, body), "generator stand-in"
        if (request.method, path) == ("GET", "/_local/info"):
            return Response.json(200, self.info()), None
        if (request.method, path) == ("POST", RESTART_PATH):
            return self._restart_events(request), None
        return self.gateway.handle(request)

    def _local_origin_allowed(self, origin: str | None) -> bool:
        if origin is None:  # not a browser's cross-origin request (curl, the tests, the migration)
            return True
        allowed = {item.strip() for item in self.authorized_parties.split(",") if item.strip()}
        return origin in allowed or bool(self.playground and origin in self.playground.own_origins)

    def info(self) -> dict[str, Any]:
        """What a test or a developer needs to reach the embedded AWS."""
        return {
            "api": self.base_url,
            "aws_endpoint": self.aws.endpoint,
            "dynamodb_endpoint": self.aws.dynamodb_endpoint,
            "region": REGION,
            "media_bucket": MEDIA_BUCKET,
            "tables": {variable: os.environ.get(variable) for variable in TABLE_ENV.values()},
            "queues": {name: queue.url for name, queue in self.stack.queues.items()},
            "routes": [route.route_key for route in http_routes()],
            "local_generator": self.settings.generator_on,
            "events": self.events.info(USER_CHANNEL_PATTERN, ORGANIZATION_CHANNEL_PATTERN),
            # Each table stream's reader: records delivered, stalls seen (its iterator no longer
            # following the stream; each also an ERROR line in the log), iterators the stream refused.
            "stream_readers": {reader.name: reader.state() for reader in self.stream_readers},
        }

    def _restart_events(self, request: Request) -> Response:
        """POST /_local/events/restart?down_seconds=N (0-60): the live progress endpoint stops (every
        socket dropped, its port closed) and starts again on the same port N seconds later, as a browser
        sees AppSync go away and come back: a front end's fallback to polling and its resubscription
        can be tried by hand (the e2e and Chromium tests do)."""
        query = dict(parse_qsl(urlsplit(request.target).query))
        seconds = query.get("down_seconds", "5")
        if not seconds.isdigit() or not 0 <= int(seconds) <= 60:
            return Response.json(422, {"code": "invalid_down_seconds", "message": "down_seconds is 0 to 60."})
        self.events.restart(int(seconds))
        return Response.json(
            200, {"restarting": True, "down_seconds": int(seconds), "port": self.events.port}
        )

    def close(self) -> None:
        """Stop everything this process started: HTTP, pollers, generator jobs (and their encoder), moto."""
        self.stop.set()
        # One grace period for all of them, not 5 s each in turn (many pollers and servers add up).
        deadline = time.monotonic() + STOP_GRACE_SECONDS

        def remaining() -> float:
            return max(0.1, deadline - time.monotonic())

        for server in self.servers:
            server.close(timeout=remaining())
        self.events.close()
        if self.playground:
            self.playground.close()
        if self.generator is not None:
            self.generator.close(timeout=remaining())
        for thread in self.threads:
            thread.join(timeout=remaining())
        if self.pool is not None:
            self.pool.close()
            stop_forkserver()
        self.aws.stop()


def _bind_playground(settings: Settings, port: int, api_url: str) -> Playground | None:
    """The playground on its own port (local/emulator/playground.py); a taken port only loses the page."""
    wanted = playground_port(dict(os.environ), settings.port or port)
    if wanted is None:
        return None
    try:
        return Playground.bind(wanted, api_url, settings.dev_key, settings.idle_seconds)
    except OSError as exc:
        log.warning("Playground not served: 127.0.0.1:%d: %s (set PLAYGROUND_PORT)", wanted, exc.strerror)
        return None


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # the functions' logs, as they come
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    log.setLevel(logging.INFO)
    raise_open_files_limit()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    settings = Settings.from_environment(dict(os.environ))
    try:
        service = LocalService(settings, stop)
    except OSError as exc:
        raise SystemExit(f"Cannot listen on 127.0.0.1:{settings.port}: {exc.strerror} (set PORT)") from None
    try:
        try:
            service.start()
        except DynamoDBLocalError as exc:  # no Java, no npm, or it did not start: say so in one line
            raise SystemExit(f"DYNAMODB=local: {exc}") from None
        print(banner(service), flush=True)
        while not stop.wait(0.5):
            pass
        log.info("Stopping")
    finally:
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
