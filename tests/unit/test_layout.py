"""docs/architecture.md's map and the tree agree: every top-level folder of the repository is in the map
and every folder the map names exists; every tier of the layer is in the tier table, with exactly the
modules that are in its folder. A newcomer who reads the map finds what it says where it says."""

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "mediagen"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def map_section() -> str:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    start = text.index("## The map")
    return text[start : text.index("\n## ", start + 1)]


def table_rows(section: str, first_header: str) -> list[list[str]]:
    """The rows of the table whose first header cell is `first_header`, as lists of cells."""
    lines = section.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header}"))
    rows = []
    for line in lines[head + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def names_in(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def top_level_folders() -> set[str]:
    """The folders the repository holds (what tools make on first use, .venv, events/, ... is not)."""
    git = shutil.which("git")
    assert git, "git is needed to list the repository's folders"
    files = subprocess.run(  # noqa: S603 - git, with fixed arguments
        [git, "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    return {name.split("/")[0] for name in files if "/" in name and not name.startswith(".")}


def test_every_top_level_folder_is_on_the_map_and_every_folder_on_it_exists() -> None:
    mapped = {names_in(row[0])[0].rstrip("/") for row in table_rows(map_section(), "folder")}
    assert mapped == top_level_folders()


def test_the_map_names_the_parts_where_they_live() -> None:
    parts = {names_in(row[0])[0].rstrip("/"): row[1] for row in table_rows(map_section(), "folder")}
    assert parts["deploy"] == "deploy and checks tooling"
    assert parts["local"] == "the local stack"
    for folder in ("emulator", "harness", "services"):
        assert (ROOT / "local" / folder).is_dir()
    for kit in ("sender", "frontend", "playground"):
        assert (ROOT / "kits" / kit).is_dir()


def test_every_tier_is_on_the_map_with_exactly_its_modules() -> None:
    on_map = {
        names_in(row[0])[0]: set(names_in(row[1]))
        for row in table_rows(map_section(), "tier (`layers/shared/mediagen/`)")
    }
    in_tree = {
        tier.name: {module.stem for module in tier.glob("*.py") if module.name != "__init__.py"}
        for tier in LAYER.iterdir()
        if tier.is_dir() and tier.name != "__pycache__"
    }
    assert on_map == in_tree


def test_the_map_check_would_see_a_missing_folder() -> None:
    rows = table_rows("| folder | part |\n| --- | --- |\n| `functions/` | the product |\n", "folder")
    assert {names_in(row[0])[0].rstrip("/") for row in rows} != top_level_folders()


# A newcomer changing one concern of the product reads one module of a few hundred lines, not all of them
# (issue 29): the layer, the handlers, and the tooling that ships with them (deploy, the local stack
# `make run` serves, the migration, the sender kit). Not bench/ nor tests/: they measure and check it.
MAX_PRODUCT_MODULE_LINES = 450
PRODUCT_TOOLING = ("deploy", "local", "migration", "kits/sender/src")


def product_modules() -> list[Path]:
    return [
        *LAYER.rglob("*.py"),
        *(ROOT / "functions").glob("*/app.py"),
        *(module for folder in PRODUCT_TOOLING for module in (ROOT / folder).rglob("*.py")),
    ]


def test_no_module_of_the_product_is_over_the_bound() -> None:
    modules = product_modules()
    long = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_PRODUCT_MODULE_LINES
    }
    found = {folder: any(ROOT / folder in path.parents for path in modules) for folder in PRODUCT_TOOLING}
    assert len(modules) > 40  # the layer's modules and every handler were found
    assert found == dict.fromkeys(PRODUCT_TOOLING, True)  # and each folder of the tooling
    assert long == {}
