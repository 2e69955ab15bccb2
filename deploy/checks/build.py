"""The `sam build` output starts without compiling and runs on Graviton.

    python -m deploy.checks.build [.aws-sam/build]

For every artifact of the build (the layer and each function), every `.py` file must have its
CPython 3.13 bytecode beside it (`__pycache__/<name>.cpython-313.pyc`) in the unchecked-hash form:
Lambda's `/opt` and `/var/task` are read-only, so a missing or stale `.pyc` is compiled again at every
cold start, and a timestamp-based one is stale as soon as the zip's file times differ from the build's.
Run by Python 3.13, the check also proves each `.pyc` was compiled from the very source beside it.
Every native library must be aarch64 (`deploy.checks.arm64`). Exits non-zero listing the offenders.
"""

import importlib.util
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.checks.arm64 import EM_AARCH64, MACHINES, native_files

RUNTIME_TAG = "cpython-313"
MAGIC_313 = b"\xf3\r\r\n"  # importlib.util.MAGIC_NUMBER of CPython 3.13
FLAG_HASH_BASED, FLAG_CHECK_SOURCE = 0b01, 0b10


@dataclass(frozen=True)
class Problem:
    path: Path
    reason: str


def bytecode_path(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{RUNTIME_TAG}.pyc"


def sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def bytecode_problem(source: Path) -> str | None:
    """Why the source would be compiled at import in a read-only Lambda, or None."""
    compiled = bytecode_path(source)
    if not compiled.is_file():
        return f"no {compiled.name}"
    header = compiled.read_bytes()[:16]
    if len(header) < 16 or header[:4] != MAGIC_313:
        return f"{compiled.name} is not CPython 3.13 bytecode"
    (flags,) = struct.unpack("<I", header[4:8])
    if flags != FLAG_HASH_BASED:
        kind = "checked-hash" if flags & FLAG_CHECK_SOURCE else "timestamp"
        return f"{compiled.name} is {kind}-based, not unchecked-hash"
    if importlib.util.MAGIC_NUMBER == MAGIC_313 and header[8:16] != importlib.util.source_hash(
        source.read_bytes()
    ):
        return f"{compiled.name} was compiled from another version of the source"
    return None


def artifacts(build: Path) -> list[Path]:
    """The folders `sam build` made: one per function and layer."""
    return sorted(path for path in build.iterdir() if path.is_dir())


def problems(build: Path) -> tuple[list[Problem], int, int]:
    """Everything wrong under `build`, the number of sources and of native files checked."""
    found: list[Problem] = []
    checked = 0
    for artifact in artifacts(build):
        for source in sources(artifact):
            checked += 1
            reason = bytecode_problem(source)
            if reason:
                found.append(Problem(source, reason))
    natives = native_files(build)
    for path, machine in natives:
        if machine != EM_AARCH64:
            found.append(Problem(path, f"NOT arm64 ({MACHINES.get(machine, f'e_machine {machine}')})"))
    return found, checked, len(natives)


def main(argv: list[str]) -> int:
    build = Path(argv[1] if len(argv) > 1 else ".aws-sam/build")
    if not build.is_dir():
        print(f"{build} does not exist: run `sam build` first", file=sys.stderr)
        return 2
    found, checked, natives = problems(build)
    if checked == 0:
        print(f"no Python source under {build}: not a build of this project", file=sys.stderr)
        return 1
    for problem in found:
        print(f"{problem.path}: {problem.reason}", file=sys.stderr)
    if found:
        print(f"{len(found)} problem(s) in {build}", file=sys.stderr)
        return 1
    print(
        f"{len(artifacts(build))} artifacts under {build}: {checked} sources, each with its "
        f"{RUNTIME_TAG} unchecked-hash bytecode; {natives} native files, all arm64"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
