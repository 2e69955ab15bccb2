"""The build check: every source of every artifact has its 3.13 unchecked-hash bytecode, every native
library is aarch64; each offender is named."""

import py_compile
import sys
from pathlib import Path

import pytest

from deploy.checks.build import MAGIC_313, bytecode_path, main
from tests.unit.test_check_arm64 import elf

ON_313 = sys.version_info[:2] == (3, 13)
needs_313 = pytest.mark.skipif(not ON_313, reason="writes CPython 3.13 bytecode")


def source(path: Path, text: str = "VALUE = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def compiled(path: Path, mode: py_compile.PycInvalidationMode) -> Path:
    py_compile.compile(str(path), cfile=str(bytecode_path(path)), invalidation_mode=mode, doraise=True)
    return path


def test_names_the_magic_number_of_3_13() -> None:
    if ON_313:
        import importlib.util

        assert importlib.util.MAGIC_NUMBER == MAGIC_313


@needs_313
def test_passes_a_build_with_unchecked_hash_bytecode_and_arm64_libraries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unchecked = py_compile.PycInvalidationMode.UNCHECKED_HASH
    compiled(source(tmp_path / "SharedLayer/python/mediagen/a.py"), unchecked)
    compiled(source(tmp_path / "GenerateFunction/app.py"), unchecked)
    elf(tmp_path / "SharedLayer/python/pkg/_native.so", 183)
    assert main(["check", str(tmp_path)]) == 0
    assert "2 sources" in capsys.readouterr().out


@needs_313
def test_names_every_source_that_would_compile_at_cold_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = source(tmp_path / "SharedLayer/python/mediagen/missing.py")
    timestamp = compiled(
        source(tmp_path / "SharedLayer/python/mediagen/timestamp.py"),
        py_compile.PycInvalidationMode.TIMESTAMP,
    )
    stale = compiled(source(tmp_path / "Fn/app.py"), py_compile.PycInvalidationMode.UNCHECKED_HASH)
    stale.write_text("VALUE = 2\n")  # changed after it was compiled
    x86 = elf(tmp_path / "SharedLayer/python/pkg/_native.so", 62)
    assert main(["check", str(tmp_path)]) == 1
    errors = capsys.readouterr().err
    assert f"{missing}: no missing.cpython-313.pyc" in errors
    assert f"{timestamp}: timestamp.cpython-313.pyc is timestamp-based" in errors
    assert f"{stale}: app.cpython-313.pyc was compiled from another version" in errors
    assert f"{x86}: NOT arm64 (x86_64)" in errors


def test_refuses_bytecode_of_another_python(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = source(tmp_path / "Fn/app.py")
    pyc = bytecode_path(path)
    pyc.parent.mkdir()
    pyc.write_bytes(b"\xcb\r\r\n" + b"\x01\x00\x00\x00" + b"\x00" * 8)  # 3.12's magic
    assert main(["check", str(tmp_path)]) == 1
    assert "is not CPython 3.13 bytecode" in capsys.readouterr().err


def test_an_empty_or_missing_build_fails(tmp_path: Path) -> None:
    assert main(["check", str(tmp_path / "missing")]) == 2
    (tmp_path / "Fn").mkdir()
    assert main(["check", str(tmp_path)]) == 1
