"""Development credentials of the local service, kept in `.local/` (gitignored; MEDIAGEN_LOCAL_DIR to
move it): an RSA key whose JWKS the service trusts when no AUTH_* variable is set, and a webhook secret
when WEBHOOK_SECRETS is not set, a Clerk webhook secret when CLERK_WEBHOOK_SECRETS is not set, and the key of
the erased people's hashes. All survive restarts, so a minted token keeps working.

    python -m deploy.base.devkeys token --user user_1 --org org_1   (what `make token` runs)
"""

import argparse
import json
import os
import secrets
import time
from base64 import b64encode
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEV_ISSUER = "http://127.0.0.1/mediagen-dev-issuer"
DEV_KID = "mediagen-dev-1"


def local_dir() -> Path:
    path = Path(os.environ.get("MEDIAGEN_LOCAL_DIR") or ROOT / ".local")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _private_key() -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = local_dir() / "dev-signing-key.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def dev_jwks_url() -> str:
    """A `file://` URL of the JWKS document of the development key (made on first use)."""
    import jwt

    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_private_key().public_key()))
    jwk.update({"kid": DEV_KID, "alg": "RS256", "use": "sig"})
    path = local_dir() / "dev-jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}, indent=2))
    return path.as_uri()


def mint_token(user: str, org: str | None = None, hours: float = 8, azp: str | None = None) -> str:
    """A Clerk-like session token (v2 claims) signed with the development key; `azp` is the origin of
    the page it is for, as Clerk sets it."""
    import jwt

    now = int(time.time())
    claims: dict[str, Any] = {"sub": user, "iss": DEV_ISSUER, "iat": now, "nbf": now - 5}
    claims["exp"] = now + int(hours * 3600)
    if azp:
        claims["azp"] = azp
    if org:
        claims["o"] = {"id": org, "rol": "admin"}
    return jwt.encode(claims, _private_key(), algorithm="RS256", headers={"kid": DEV_KID})


def dev_webhook_secret(name: str = "dev-webhook-secret") -> str:
    """A `whsec_...` secret kept in `.local/name` (made on first use)."""
    path = local_dir() / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text("whsec_" + b64encode(secrets.token_bytes(24)).decode())
    return path.read_text().strip()


def dev_clerk_webhook_secret() -> str:
    """The development signing secret of the Clerk webhook (CLERK_WEBHOOK_SECRETS unset)."""
    return dev_webhook_secret("dev-clerk-webhook-secret")


def dev_erasure_hash_key() -> str:
    """The key of the erased people's hashes: kept, so that DYNAMODB_PERSIST's erased people stay
    erased across restarts (a new key would forget them)."""
    path = local_dir() / "dev-erasure-hash-key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a token for the local service's development key")
    token.add_argument("--user", default="user_1")
    token.add_argument("--org", default=None, help="the active organization (o.id)")
    token.add_argument("--hours", type=float, default=8)
    arguments = parser.parse_args()
    print(mint_token(arguments.user, arguments.org or None, arguments.hours))


if __name__ == "__main__":
    main()
