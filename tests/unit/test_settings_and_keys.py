"""Pure rules: the settings model (one clear line for a bad environment) and the job-folder rule."""

import pytest

from mediagen.contract.payloads import s3_key_problem
from mediagen.core.settings import Settings, SettingsError, build_settings

COMPLETE = {
    "GENERATIONS_TABLE": "g-table",
    "NOTIFICATIONS_TABLE": "n-table",
    "AUTH_ISSUER": "https://clerk.example.com",
    "AUTH_JWKS_URL": "https://clerk.example.com/.well-known/jwks.json",
    "AUTH_AUTHORIZED_PARTIES": " https://a.example , https://b.example ,",
    "WEBHOOK_SECRETS": "whsec_a,whsec_b",
    "DISPATCH_MAX_ATTEMPTS": "5",
    "UNRELATED": "ignored",
}


def test_a_complete_environment_gives_typed_settings() -> None:
    built = build_settings(COMPLETE)
    assert built.generations_table == "g-table"
    assert built.auth_authorized_parties == ("https://a.example", "https://b.example")
    assert built.webhook_secrets == ("whsec_a", "whsec_b")
    assert built.dispatch_max_attempts == 5
    assert built.stuck_job_timeout_minutes == 15  # the template's default
    assert built.max_jobs_in_flight_per_user == 10
    assert built.media_key_prefix("image", "job_1") == "images/job_1/"
    assert built.media_key_prefix("video", "images") == "videos/images/"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DISPATCH_MAX_ATTEMPTS", "three"),
        ("DISPATCH_MAX_ATTEMPTS", "0"),
        ("STUCK_JOB_TIMEOUT_MINUTES", "-1"),
        ("MAX_JOBS_IN_FLIGHT_PER_USER", "1.5"),
        ("AUTH_JWKS_URL", "ftp://keys"),
        ("GENERATOR_URL", "not a url"),
        ("MEDIA_KEY_PATTERN", "images/"),  # no {job_id}: every job would share one folder
        ("MEDIA_KEY_PATTERN", "{job_id}/{kind}/"),  # the job id must close the prefix
        ("MEDIA_KEY_PATTERN", "{user}/{job_id}/"),
        ("MEDIA_KEY_PATTERN", "/abs/{job_id}/"),
        # An origin no token's azp can match: every user would be 401 (issue 31)
        ("AUTH_AUTHORIZED_PARTIES", "https://app.example.com/ , http://localhost:3000/"),
        ("AUTH_AUTHORIZED_PARTIES", "https://app.example.com/"),
        ("AUTH_AUTHORIZED_PARTIES", "https://app.example.com/login"),
        ("AUTH_AUTHORIZED_PARTIES", "https://App.Example.com"),
        ("AUTH_AUTHORIZED_PARTIES", "app.example.com"),
        ("AUTH_AUTHORIZED_PARTIES", "https://app.example.com:port"),
    ],
)
def test_a_malformed_variable_is_one_line_naming_it(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as failure:
        build_settings({**COMPLETE, variable: value})
    message = str(failure.value)
    assert "\n" not in message
    assert variable in message


def test_a_missing_variable_fails_the_cold_start_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from mediagen.core import settings as module

    monkeypatch.delenv("GENERATOR_URL", raising=False)
    module.reset_settings()
    with pytest.raises(SettingsError, match=r"^Invalid configuration: missing GENERATOR_URL$"):
        module.load_settings("generator_url")
    with pytest.raises(SettingsError, match="WEBHOOK_SECRETS or WEBHOOK_SECRETS_ARN"):
        monkeypatch.delenv("WEBHOOK_SECRETS", raising=False)
        module.reset_settings()
        module.load_settings("webhook_secrets|webhook_secrets_arn")
    module.reset_settings()


def test_settings_are_immutable() -> None:
    built = Settings()
    with pytest.raises(ValueError):
        built.generations_table = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("path", "folder", "problem"),
    [
        ("images/job_1/0.png", "images/job_1/", None),
        ("images/job_1/sub/0.png", "images/job_1/", None),
        ("images/images/0.png", "images/images/", None),  # a job named like a folder: its own folder
        ("images/job_2/0.png", "images/job_1/", "folder"),  # another job's file
        ("images/job_1/0.png", "images/images/", "folder"),  # job `images` cannot reach job_1's files
        ("images/job_1/images/0.png", "images/images/", "folder"),  # its id as a folder further down
        ("images/job_1", "images/job_1/", "folder"),  # the folder itself is no file
        ("images/job_10/0.png", "images/job_1/", "folder"),  # a prefix of a name is not the folder
        ("/images/job_1/0.png", "images/job_1/", "relative"),
        ("images/job_1/../job_2/0.png", "images/job_1/", "'..'"),
        ("images//job_1/0.png", None, "empty"),
        ("images/job_1/\x00.png", None, "control"),
        ("images\\job_1\\0.png", None, "forward slashes"),
    ],
)
def test_a_key_lies_in_its_job_folder(path: str, folder: str | None, problem: str | None) -> None:
    found = s3_key_problem(path, folder)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


BAD_ORIGINS = [
    "https://app.example.com/,http://localhost:3000/",
    "https://app.example.com/ , http://localhost:3000/",
    "https://app.example.com, http://localhost:3000",
    "https://app.example.com/",
    "https://app.example.com/app",
    "https://APP.example.com",
    "app.example.com",
    "https://app.example.com,",
    "",
]
GOOD_ORIGINS = [
    "https://app.example.com",
    "https://app.example.com,http://localhost:3000",
    "http://127.0.0.1:3001,https://www.example.co.uk,http://[::1]:8080",
]


def test_the_template_refuses_an_origin_no_token_can_match_by_the_layers_rule() -> None:
    """AuthAuthorizedParties' AllowedPattern (what CloudFormation and the deploy prompt check) is the
    cold start's rule: a trailing slash, a path, spaces or upper case are refused before any deploy."""
    import re

    from deploy.base.cfn_template import load_template
    from mediagen.core.settings import AUTHORIZED_PARTIES_PATTERN, ORIGIN_RULE

    declared = load_template()["Parameters"]["AuthAuthorizedParties"]
    assert declared["AllowedPattern"] == AUTHORIZED_PARTIES_PATTERN
    assert ORIGIN_RULE in " ".join(declared["ConstraintDescription"].split())
    for value in BAD_ORIGINS:
        assert not re.fullmatch(declared["AllowedPattern"], value), value
    for value in GOOD_ORIGINS:
        assert re.fullmatch(declared["AllowedPattern"], value), value
        assert build_settings(
            {**COMPLETE, "AUTH_AUTHORIZED_PARTIES": value}
        ).auth_authorized_parties == tuple(value.split(","))


def test_a_cold_start_names_each_origin_it_refuses_on_one_line() -> None:
    with pytest.raises(SettingsError) as failure:
        build_settings(
            {**COMPLETE, "AUTH_AUTHORIZED_PARTIES": "https://app.example.com/ , http://localhost:3000/"}
        )
    message = str(failure.value)
    assert "\n" not in message
    assert "AUTH_AUTHORIZED_PARTIES" in message and "'https://app.example.com/'" in message
    assert "'http://localhost:3000/'" in message and "no trailing slash" in message
