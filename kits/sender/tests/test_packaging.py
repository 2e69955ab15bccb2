"""The kit stands alone: it never imports the service's layer, and it builds as its own package."""

import ast
import subprocess
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parents[1]


def test_the_kit_never_imports_the_service() -> None:
    for source in (KIT / "src").rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            assert not any(name == "mediagen" or name.startswith("mediagen.") for name in names), source


def test_the_kit_imports_without_the_layer_on_the_path() -> None:
    code = (
        "import sys, mediagen_sender; assert 'mediagen' not in sys.modules; print(mediagen_sender.__name__)"
    )
    ran = subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(KIT / 'src')!r}); {code}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "mediagen_sender"


def _source_tree() -> set[str]:
    return {
        str(path.relative_to(KIT))
        for path in KIT.rglob("*")
        if "__pycache__" not in path.parts and ".hypothesis" not in path.parts
    }


def test_the_kit_builds_as_its_own_wheel_and_leaves_its_folder_as_it_was(tmp_path: Path) -> None:
    """`pip install kits/sender`, as the README says: built from the kit's own folder, which it leaves
    as it found it (setuptools left an untracked kits/sender/build/ behind)."""
    before = _source_tree()
    built = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(tmp_path), str(KIT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    assert _source_tree() == before, f"left behind: {sorted(_source_tree() - before)}"
    (wheel,) = tmp_path.glob("mediagen_sender-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "mediagen_sender/sender.py" in names and "mediagen_sender/py.typed" in names
    assert "mediagen_sender/shared_rules.py" in names
    assert not any(name.startswith(("mediagen/", "tests/", "examples/")) for name in names)
