"""`sam local` accepts the built template and the written events (run by `make template-check`):

    python -m deploy.checks.sam_local [.tools-venv/bin/sam]

Runs `sam local start-api` and `sam local invoke` with `events/env.json` on `.aws-sam/build/template.yaml`.
Without a container engine, SAM reads and resolves the whole template (parameters, functions, routes,
layers) and only then stops for want of Docker: the check passes when that is the one error it reports,
after it has listed the template's resources (a broken template fails it: SAM reports that instead).
SAM reads env.json only when it starts a container: tests/integration/test_events.py hands each event
to its handler with env.json's variables instead. With Docker, start-api serves: the check passes once
it has mounted the routes (then stops it), and invoke must answer.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / ".aws-sam" / "build" / "template.yaml"
NO_CONTAINER = "requires a container runtime"
TIMEOUT_SECONDS = 180


def run(command: list[str]) -> tuple[int | None, str]:
    """Run until it exits, or until it says it serves (start-api with Docker): (exit code, output)."""
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    process = subprocess.Popen(  # noqa: S603 - SAM from our tools virtualenv
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + TIMEOUT_SECONDS
    for line in process.stdout:
        lines.append(line)
        if "Running on http" in line or time.monotonic() > deadline:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return None, "".join(lines)
    return process.wait(), "".join(lines)


def problems(command: list[str], code: int | None, output: str, expect_listed: list[str]) -> list[str]:
    name = " ".join(command[1:4])
    if code is None:  # served: Docker is there
        missing = [route for route in ("/api/images/generate",) if route not in output]
        return [f"{name}: served without mounting {missing}"] if missing else []
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    found = []
    if code == 0:
        return []
    if len(errors) != 1 or NO_CONTAINER not in errors[0]:
        found.append(f"{name}: failed before looking for a container engine: {errors or output[-2000:]}")
    for logical_id in expect_listed:
        if logical_id not in output:
            found.append(f"{name}: {logical_id} was not read from the built template")
    return found


def main(argv: list[str]) -> int:
    sam = argv[1] if len(argv) > 1 else str(ROOT / ".tools-venv" / "bin" / "sam")
    if not BUILT.exists():
        print(f"{BUILT} does not exist: run `sam build` first", file=sys.stderr)
        return 2
    env_json = ROOT / "events" / "env.json"
    if not env_json.exists():
        print("events/env.json does not exist: run `make events` first", file=sys.stderr)
        return 2
    template = str(BUILT.relative_to(ROOT))
    invoke = ["invoke", "GenerateFunction", "-e", "events/GenerateFunction.json"]
    checks = [
        (
            [sam, "local", "start-api", "-t", template, "--env-vars", "events/env.json", "--debug"],
            ["UnknownRouteFunction", "CompletionWebhookFunction", "HttpApi"],
        ),
        (
            [sam, "local", *invoke, "-t", template, "--env-vars", "events/env.json", "--debug"],
            ["GenerateFunction", "SharedLayer"],
        ),
    ]
    found: list[str] = []
    for command, listed in checks:
        code, output = run(command)
        found += problems(command, code, output, listed)
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        return 1
    print("sam local start-api and invoke read the built template and events/env.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
