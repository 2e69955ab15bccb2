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
