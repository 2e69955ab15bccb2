"""The issuer's keys over HTTP: cached, refreshed once for an unknown kid, at most once per interval."""

import http.server
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from generation_status.app import lambda_handler as status_handler
from mediagen.core.errors import NotAuthenticated
from mediagen.edge import auth
from tests.support import LambdaContext, TokenMinter, http_api_event, response_json

pytestmark = pytest.mark.usefixtures("aws")


class JwksServer:
    """Serves a JWKS document on a loopback port and counts the fetches."""

    def __init__(self, *keys: tuple[str, Any]) -> None:
        self.fetches = 0
        self.keys = list(keys)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps({"keys": [server.jwk(kid, key) for kid, key in server.keys]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def jwk(kid: str, key: Any) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        return document | {"kid": kid, "alg": "RS256", "use": "sig"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"


@pytest.fixture
def issuer_keys(monkeypatch: pytest.MonkeyPatch, signing_key: Any) -> Iterator[JwksServer]:
    server = JwksServer(("test-key-1", signing_key))
    monkeypatch.setenv("AUTH_JWKS_URL", server.url)
    monkeypatch.setattr(auth, "JWKS_MIN_REFRESH_SECONDS", 0.5)
    from tests.conftest import reset_process_state

    reset_process_state()
    yield server
    server.httpd.shutdown()


def status_code(token: str) -> int:
    event = http_api_event(
        "GET", "/api/images/job_missing/status", headers={"authorization": f"Bearer {token}"}
    )
    response = status_handler(event, LambdaContext())
    if response["statusCode"] == 401:
        assert response_json(response)["code"] == "invalid_token"
    return int(response["statusCode"])


def test_keys_are_fetched_once_and_cached(issuer_keys: JwksServer, tokens: TokenMinter) -> None:
    for _ in range(5):
        assert status_code(tokens.token("user_a")) == 404  # the token is good; the job does not exist
    assert issuer_keys.fetches == 1


def test_unknown_kid_refreshes_once_per_interval_however_many_tokens(
    issuer_keys: JwksServer, tokens: TokenMinter
) -> None:
    # Given the keys were fetched and the minimum interval has passed
    assert status_code(tokens.token("user_a")) == 404
    time.sleep(0.6)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = TokenMinter(stranger, "key-unknown")

    # When 30 tokens with an unknown kid are verified at once in one process (the key cache is per
    # process; a handler invocation is never run concurrently with another in one process)
    def refused(_: int) -> bool:
        try:
            auth.authenticate({"authorization": f"Bearer {forged.token('user_a')}"})
        except NotAuthenticated:
            return True
        return False

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(refused, range(30)))

    # Then each is refused, after a single refresh of the keys
    assert outcomes == [True] * 30
    assert issuer_keys.fetches == 2


def test_a_key_rotated_in_at_the_issuer_is_picked_up(issuer_keys: JwksServer, tokens: TokenMinter) -> None:
    assert status_code(tokens.token("user_a")) == 404
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer_keys.keys.append(("key-2", new_key))
    time.sleep(0.6)
    assert status_code(TokenMinter(new_key, "key-2").token("user_a")) == 404
    assert issuer_keys.fetches == 2


def test_an_unreachable_issuer_is_503_not_401(monkeypatch: pytest.MonkeyPatch, tokens: TokenMinter) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AUTH_JWKS_URL", f"http://127.0.0.1:{port}/jwks.json")
    from tests.conftest import reset_process_state

    reset_process_state()
    assert status_code(tokens.token("user_a")) == 503
