"""`make erase` (deploy/erase.py) and `make clerk-webhook-secret` (deploy/cli.py): what they refuse before
touching anything, and what they would store."""

import json

import pytest

from deploy.cli import DeployError, clerk_secret_value
from deploy.erase import main, parse

CLERK = "whsec_Y2xlcmsgdGVzdCBzZWNyZXQgb2YgMzIgYnl0ZXMhISE="


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "USER=<clerk user id> is required"),
        (["--user", "user 2"], {}, "USER must be a Clerk user id"),
        (["--user", "u" * 129], {}, "USER must be a Clerk user id"),
        (["--user", "user_2a", "--target", "mars"], {}, "TARGET must be local or aws"),
        (["--user", "user_2a", "--target", "aws"], {}, "TARGET=aws needs STACK"),
        (["--user", "user_2a"], {"PORT": "30x"}, "PORT must be a number"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_touched(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse(argv, env)


def test_settings_come_from_make_variables() -> None:
    settings = parse([], {"ERASE_USER": "user_2abc", "DRY_RUN": "1", "TARGET": "aws", "STACK": "prod"})
    assert (settings.user_id, settings.dry_run, settings.target, settings.stack) == (
        "user_2abc",
        True,
        "aws",
        "prod",
    )


def test_an_unreachable_local_service_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on (bound, then closed)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PORT", str(port))

    assert main(["--user", "user_2abc"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("erase: no local service answers") and err.count("\n") == 1


def test_clerk_secret_replaces_the_generated_one_or_keeps_the_previous() -> None:
    generated = json.dumps({"secrets": "Zx4Qm9TfK2wLr7Yb1NcV8pHs3DgJ6uAe5RkWqE0i"})
    assert json.loads(clerk_secret_value(CLERK, generated, False)) == {"secrets": [CLERK]}
    before = json.dumps({"secrets": ["whsec_b2xkIG9sZCBvbGQgb2xkIG9sZCBvbGQ="]})
    kept = json.loads(clerk_secret_value(f" {CLERK}\n", before, True))
    assert kept == {"secrets": [CLERK, "whsec_b2xkIG9sZCBvbGQgb2xkIG9sZCBvbGQ="]}


@pytest.mark.parametrize("bad", ["", "sk_test_abc", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_a_malformed_clerk_secret_is_refused(bad: str) -> None:
    with pytest.raises(DeployError, match="whsec_"):
        clerk_secret_value(bad, "{}", False)
