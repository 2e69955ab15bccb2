"""The local service's own settings: a bad value stops it with one line naming the variable."""

import pytest

from deploy.base.cfn_functions import functions
from local.emulator.server import sandbox_functions
from local.emulator.settings import Settings

ISSUER = {"AUTH_ISSUER": "https://issuer.example", "AUTH_JWKS_URL": "https://issuer.example/jwks"}


@pytest.mark.parametrize("name", ["LOCAL_SANDBOXES", "LOCAL_IDLE_SECONDS", "LOCAL_TIMEOUT_SCALE"])
@pytest.mark.parametrize("value", ["0", "-1", "1.5", "ten", "1e3"])
def test_a_count_that_is_not_a_positive_whole_number_is_refused(name: str, value: str) -> None:
    with pytest.raises(SystemExit, match=f"{name} must be a positive whole number, not '{value}'"):
        Settings.from_environment({**ISSUER, "WEBHOOK_SECRETS": "whsec_c2VjcmV0", name: value})


def test_timeouts_are_the_templates_unless_scaled() -> None:
    settings = {**ISSUER, "WEBHOOK_SECRETS": "whsec_c2VjcmV0"}
    assert Settings.from_environment(settings).timeout_scale == 1
    assert Settings.from_environment({**settings, "LOCAL_TIMEOUT_SCALE": " 10 "}).timeout_scale == 10


def test_the_sandboxes_enforce_the_templates_timeouts_times_the_scale() -> None:
    # Given the template's functions, with their own Timeout (Globals or their own)
    template_timeouts = {spec.logical_id: spec.timeout for spec in functions()}
    assert len(set(template_timeouts.values())) > 1, "the template's timeouts differ by function"

    # When the local service makes its sandboxes' functions, unscaled and scaled by 10
    unscaled = {function.name: function.timeout for function in sandbox_functions(functions(), 1)}
    scaled = {function.name: function.timeout for function in sandbox_functions(functions(), 10)}

    # Then every function is there, with the template's timeout, times the scale
    assert unscaled == template_timeouts
    assert scaled == {name: 10 * seconds for name, seconds in template_timeouts.items()}


@pytest.mark.parametrize("value", ["0", "-1", "65536", "http", "1.5"])
def test_an_embedded_aws_port_that_is_not_a_port_is_refused(value: str) -> None:
    with pytest.raises(SystemExit, match=f"LOCAL_AWS_PORT must be a port number, not '{value}'"):
        Settings.from_environment({**ISSUER, "WEBHOOK_SECRETS": "whsec_c2VjcmV0", "LOCAL_AWS_PORT": value})


def test_the_embedded_aws_port_is_free_unless_chosen() -> None:
    settings = {**ISSUER, "WEBHOOK_SECRETS": "whsec_c2VjcmV0"}
    assert Settings.from_environment(settings).aws_port == 0
    assert Settings.from_environment({**settings, "LOCAL_AWS_PORT": " 4566 "}).aws_port == 4566


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.0.0.1:3000", False),
        ("localhost:3000", False),
        ("LOCALHOST:3000", False),
        ("[::1]:3000", False),
        ("evil.example.com:3000", True),  # DNS rebinding: the page's own name
        ("127.0.0.1.evil.example.com:3000", True),
        ("localhost.evil.example.com:3000", True),
        ("127.0.0.1:3001", True),  # another port
        ("127.0.0.1", True),
        ("", True),
        (None, True),
    ],
)
def test_a_port_answers_for_its_loopback_names_only(host: str | None, refused: bool) -> None:
    from local.emulator.http_server import host_refusal

    refusal = host_refusal(host, 3000)
    assert (refusal is not None) == refused
    if refusal:
        assert refusal[:2] == (421, "misdirected_request")


@pytest.mark.parametrize("value", ["-1", "ten", "nan", "inf", "36501", "1 day"])
def test_a_retention_that_is_not_a_number_of_days_is_refused(value: str) -> None:
    with pytest.raises(
        SystemExit, match=f"RETENTION_DAYS must be a number of days from 0 to 36500, not '{value}'"
    ):
        Settings.from_environment({**ISSUER, "WEBHOOK_SECRETS": "whsec_c2VjcmV0", "RETENTION_DAYS": value})


@pytest.mark.parametrize(("value", "expected"), [("", ""), ("0", ""), (" 30 ", "30"), ("0.001", "0.001")])
def test_retention_days_reach_the_templates_parameter(value: str, expected: str) -> None:
    settings = Settings.from_environment(
        {**ISSUER, "WEBHOOK_SECRETS": "whsec_c2VjcmV0", "RETENTION_DAYS": value}
    )
    assert settings.retention_days == expected
