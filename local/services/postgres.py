"""A throwaway PostgreSQL cluster for the migration's tests and benchmark: initdb in a temporary
folder, started on a free loopback port (and a private socket folder), stopped and removed at the end.

PostgreSQL refuses to run as root: as root (CI, these machines) the cluster is made and run by the
`postgres` system user (`runuser -u postgres`), which the Debian package creates.
"""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SEARCH = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


class PostgresMissing(Exception):
    pass


def server_bin() -> Path:
    """The folder of initdb and pg_ctl: POSTGRES_BIN, a Debian path, or pg_config's bindir."""
    candidates = [os.environ.get("POSTGRES_BIN", ""), *SEARCH]
    pg_config = shutil.which("pg_config")
    if pg_config:
        output = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)  # noqa: S603
        candidates.append(output.stdout.strip())
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    raise PostgresMissing(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql-15 "
        "(or set POSTGRES_BIN)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def cluster() -> Iterator[str]:
    """Yields a superuser URL (user postgres, trust auth on loopback) to the `postgres` database."""
    binaries = server_bin()
    root = Path(tempfile.mkdtemp(prefix="mediagen-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    log = root / "server.log"
    started = False
    try:
        subprocess.run(  # noqa: S603 - our own command line
            _as_owner(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        for attempt in range(3):  # another free port if one was taken between the probe and the start
            options = (
                f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            start = [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w"]
            try:
                subprocess.run(_as_owner([*start, "-t", "60", "start"]), check=True, capture_output=True)  # noqa: S603
                break
            except subprocess.CalledProcessError:
                said = log.read_text(errors="replace") if log.exists() else ""  # none if it never ran
                if attempt == 2 or "already in use" not in said:
                    raise
                port = _free_port()
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip() or log.read_text(errors="replace")
        raise RuntimeError(f"PostgreSQL did not start ({exc.cmd[-1]}): {detail[-2000:]}") from exc
    finally:
        if started:
            subprocess.run(  # noqa: S603
                _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                check=False,
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)


def database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + f"/{name}"
