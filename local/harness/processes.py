"""A local service's processes, found and measured from /proc: the service and everything it started
(sandboxes, DynamoDB Local's Java, a re-parented grandchild) carry one marker in their environment.
Used by the e2e tests (nothing left after a stop) and the soak (memory and CPU over time)."""

import os
import signal
import subprocess
from pathlib import Path


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def processes_with(marker: str) -> list[int]:
    """The service's processes: every process whose environment carries the service's marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def stop(process: "subprocess.Popen[bytes]", seconds: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it is still there after `seconds`: a service a bench started is gone
    when the bench ends, whatever state it was left in. Returns its exit status."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
