"""The front-end kit (kits/frontend): its types are generated from the current openapi.json, and the
client and the Next.js-shaped example type-check with tsc. Node and the kit's pinned packages
(`npm ci`, package-lock.json) are needed; without node the tests skip, unless CI says otherwise
(MEDIAGEN_REQUIRE_NODE=1)."""

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LocalService, own_keys, run_service
from tests.support import FRONT_END, TokenMinter

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


# The client run by node against the local service: every call of the kit, typed answers and errors.
CLIENT_RUN = """
import { createMediagenClient, MediagenError } from "./client.js";
const [base, token] = process.argv.slice(2);
const client = createMediagenClient({ baseUrl: base, getToken: async () => token });
const statuses = [];
const answer = await client.generate("image", { prompt: "Un phare", num_images: 1, size: "64x48" });
const again = await client.generate("image", { prompt: "Un phare", job_id: answer.job_id });
const final = await client.waitUntilFinal("image", answer.job_id, {
  initialDelayMs: 100, onStatus: (status) => statuses.push(status.progress),
});
const result = await client.result("image", answer.job_id);
const page = await client.notifications({ limit: 5, unread: true });
const read = await client.markRead(page.items[0].id);
const after = await client.notifications({ limit: 5, unread: true });
const failure = async (call) => {
  try { await call(); return null; } catch (error) {
    return { isMediagenError: error instanceof MediagenError, status: error.status, code: error.code };
  }
};
const missing = await failure(() => client.result("image", "no_such_job"));
const invalid = await failure(() => client.generate("image", { prompt: "" }));
const finalCancel = await failure(() => client.cancel("image", answer.job_id));
const signedOut = await failure(() =>
  createMediagenClient({ baseUrl: base, getToken: async () => null }).notifications());
const second = await client.generate("image", { prompt: "Un second phare", num_images: 1, size: "64x48" });
await client.waitUntilFinal("image", second.job_id, { initialDelayMs: 100 });
const firstPage = await client.library("image", { limit: 1 });
const secondPage = await client.library("image", { limit: 1, cursor: firstPage.next_cursor });
const deleted = await client.deleteJob("image", answer.job_id);
const afterDelete = await client.library("image", { limit: 100 });
const deletedAgain = await failure(() => client.deleteJob("image", answer.job_id));
const badCursor = await failure(() => client.library("image", { cursor: "not.mine" }));
console.log(JSON.stringify({ answer, again, final, statuses, result, page, read, after, missing, invalid,
                             finalCancel, signedOut, second, firstPage, secondPage, deleted, afterDelete,
                             deletedAgain, badCursor }));
"""


@pytest.fixture(scope="module")
def client_service(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Iterator[LocalService]:
    yield from run_service(tmp_path_factory.mktemp("client"), **own_keys(jwks_file))


@pytest.mark.e2e
def test_the_typed_client_runs_against_the_service(
    node_kit: Path, client_service: LocalService, signing_key: Any
) -> None:
    token = TokenMinter(signing_key, "test-key-1").token(
        "user_ts", org="org_ts", azp=FRONT_END, expires_in=600
    )
    with tempfile.TemporaryDirectory(dir=node_kit, prefix=".build-") as build:  # node_modules resolve here
        subprocess.run(  # noqa: S603 - the kit's pinned compiler, on the kit's client
            [str(BIN / "tsc"), "src/client.ts", "--outDir", build, "--module", "esnext", "--target", "es2022",
             "--moduleResolution", "bundler", "--lib", "es2022,dom", "--skipLibCheck"],
            cwd=node_kit, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        script = Path(build) / "run.mjs"
        script.write_text(CLIENT_RUN)
        ran = subprocess.run(  # noqa: S603
            ["node", str(script), client_service.base, token],  # noqa: S607
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    job_id = out["answer"]["job_id"]
    assert out["answer"]["status"] == "queued" and out["again"]["job_id"] == job_id
    assert out["final"]["status"] == "completed" and out["statuses"][-1] == 100
    assert out["statuses"] == sorted(out["statuses"]), "progress never goes down"
    assert out["result"]["images"][0]["width"] == 64 and out["result"]["images"][0]["height"] == 48
    assert out["page"]["items"][0]["metadata"]["generation_id"] == job_id
    assert out["read"]["read"] is True and out["after"]["unread_count"] == out["page"]["unread_count"] - 1
    assert out["missing"] == {"isMediagenError": True, "status": 404, "code": "not_found"}
    assert out["invalid"] == {"isMediagenError": True, "status": 422, "code": "validation_error"}
    assert out["finalCancel"]["status"] == 409
    assert out["signedOut"] == {"isMediagenError": True, "status": 401, "code": "signed_out"}
    # the library: pages newest first with an opaque cursor, a signed preview, then a delete
    second_id = out["second"]["job_id"]
    assert [i["job_id"] for i in out["firstPage"]["items"]] == [second_id]
    assert [i["job_id"] for i in out["secondPage"]["items"]] == [job_id]
    assert "X-Amz-Signature=" in out["firstPage"]["items"][0]["preview_url"]
    assert out["deleted"] == {"job_id": job_id, "deleted": True}
    assert [i["job_id"] for i in out["afterDelete"]["items"]] == [second_id]
    assert out["deletedAgain"] == {"isMediagenError": True, "status": 404, "code": "not_found"}
    assert out["badCursor"] == {"isMediagenError": True, "status": 400, "code": "invalid_cursor"}
