"""The arm64 check of the built artifacts reads ELF headers and names every offender."""

import struct
from pathlib import Path

import pytest

from deploy.checks.arm64 import EM_AARCH64, elf_machine, main


def elf(path: Path, machine: int, little_endian: bool = True) -> Path:
    order = "<" if little_endian else ">"
    header = b"\x7fELF" + bytes([2, 1 if little_endian else 2, 1]) + b"\0" * 9
    header += struct.pack(f"{order}HH", 3, machine) + b"\0" * 44
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header)
    return path


def test_reads_the_machine_of_elf_files_only(tmp_path: Path) -> None:
    assert elf_machine(elf(tmp_path / "a.so", EM_AARCH64)) == EM_AARCH64
    assert elf_machine(elf(tmp_path / "b.so", 62, little_endian=False)) == 62
    (tmp_path / "c.py").write_text("print()")
    assert elf_machine(tmp_path / "c.py") is None


def test_fails_listing_x86_64_libraries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    elf(tmp_path / "layer/python/good.cpython-313-aarch64-linux-gnu.so", EM_AARCH64)
    bad = elf(tmp_path / "layer/python/pkg/_native.abi3.so", 62)
    assert main(["check", str(tmp_path)]) == 1
    assert f"NOT arm64: {bad} (x86_64)" in capsys.readouterr().err


def test_passes_when_everything_is_arm64(tmp_path: Path) -> None:
    elf(tmp_path / "x.so", EM_AARCH64)
    assert main(["check", str(tmp_path)]) == 0
    assert main(["check", str(tmp_path / "missing")]) == 2
