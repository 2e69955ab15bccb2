"""The front-end kit (kits/frontend): its types are generated from the current openapi.json, and the
client and the Next.js-shaped example type-check with tsc. Node and the kit's pinned packages
(`npm ci`, package-lock.json) are needed; without node the tests skip, unless CI says otherwise
(MEDIAGEN_REQUIRE_NODE=1)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "kits" / "frontend"
BIN = KIT / "node_modules" / ".bin"


@pytest.fixture(scope="module")
def node_kit() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        if os.environ.get("MEDIAGEN_REQUIRE_NODE") == "1":
            pytest.fail("node and npm are needed for the front-end kit")
        pytest.skip("node and npm are needed for the front-end kit")
    lock = KIT / "package-lock.json"
    installed = KIT / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=KIT, check=True, timeout=300)  # noqa: S607
    return KIT


def test_types_are_generated_from_the_current_openapi_json(node_kit: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "schema.d.ts"
    subprocess.run(  # noqa: S603 - the kit's own pinned generator
        [str(BIN / "openapi-typescript"), str(ROOT / "openapi.json"), "--output", str(fresh),
         "--default-non-nullable=false"],
        cwd=node_kit, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    committed = (node_kit / "src" / "schema.d.ts").read_text()
    assert fresh.read_text() == committed, (
        "kits/frontend/src/schema.d.ts is stale: run `make frontend-types` after `make openapi`"
    )


def test_the_client_and_the_nextjs_example_type_check(node_kit: Path) -> None:
    checked = subprocess.run(  # noqa: S603
        [str(BIN / "tsc"), "--noEmit", "-p", str(node_kit)], capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_optional_fields_stay_optional(node_kit: Path) -> None:
    """--default-non-nullable=false: a field with a default is optional in requests and views."""
    schema = (node_kit / "src" / "schema.d.ts").read_text()
    assert "job_id?: string | null;" in schema
    assert "error?: string | null;" in schema
