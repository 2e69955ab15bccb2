"""Every native library in the built artifacts is for arm64 (the functions run on Graviton).

    python -m deploy.checks.arm64 [.aws-sam/build]

Reads the ELF header of every `*.so*` file (and any other ELF file): e_machine must be 183 (EM_AARCH64).
Exits non-zero listing the offenders.
"""

import struct
import sys
from pathlib import Path

EM_AARCH64 = 183
MACHINES = {3: "x86 (32-bit)", 40: "ARM (32-bit)", 62: "x86_64", 183: "aarch64"}


def elf_machine(path: Path) -> int | None:
    """e_machine of an ELF file, or None for a file that is not ELF."""
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    byte_order = "<" if header[5] == 1 else ">"
    machine: int = struct.unpack(f"{byte_order}H", header[18:20])[0]
    return machine


def native_files(root: Path) -> list[tuple[Path, int]]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            machine = elf_machine(path)
            if machine is not None:
                found.append((path, machine))
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else ".aws-sam/build")
    if not root.is_dir():
        print(f"{root} does not exist: run `sam build` first", file=sys.stderr)
        return 2
    files = native_files(root)
    wrong = [(path, machine) for path, machine in files if machine != EM_AARCH64]
    for path, machine in wrong:
        print(f"NOT arm64: {path} ({MACHINES.get(machine, f'e_machine {machine}')})", file=sys.stderr)
    if wrong:
        return 1
    print(f"{len(files)} native files under {root}, all arm64")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
