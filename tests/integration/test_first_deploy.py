"""The first deploy as a new user meets it (issue 24): the checks come before any build or question, each
problem one line with its fix, in seconds; with credentials (moto's STS) it asks the template's
parameters, saves them in the environment's section of samconfig.toml, and the next deploy asks nothing;
prod has its own answers. Every command that talks to AWS finds the region the same way."""

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy import cli as deploy
from deploy.aws_session import AwsSetupError, resolve_region

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = {
    "AuthIssuer": "https://clerk.example.com",
    "AuthJwksUrl": "https://clerk.example.com/.well-known/jwks.json",
    "AuthAuthorizedParties": "https://app.example.com,http://localhost:3000",
    "GeneratorUrl": "https://gen.example.com/jobs",
}


@pytest.fixture
def samconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the committed samconfig.toml (nothing saved in it), named by SAMCONFIG."""
    path = tmp_path / "samconfig.toml"
    shutil.copy(ROOT / "samconfig.toml", path)
    monkeypatch.setenv("SAMCONFIG", str(path))
    return path


@pytest.fixture
def no_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with no AWS configuration at all: no keys, no profile, no region."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # a laptop has no instance metadata
    monkeypatch.setenv("PYTHON313", sys.executable)  # the tools check is not the subject here


@pytest.fixture
def moto_sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    monkeypatch.setenv("PYTHON313", sys.executable)
    with mock_aws():
        yield


class Terminal:
    """Answers typed at the prompts; a prompt with no answer left is the end of input."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []
        self.said: list[str] = []

    def ask(self, prompt: str) -> str:
        self.asked.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)

    def say(self, text: str) -> None:
        self.said.append(text)


def test_without_credentials_the_check_fails_with_one_line_each_and_asks_nothing(
    no_aws: None, samconfig: Path
) -> None:
    terminal = Terminal(*ANSWERS.values())
    with pytest.raises(deploy.DeployError) as failure:
        deploy.prepare("dev", samconfig, terminal.ask, terminal.say)
    lines = str(failure.value).splitlines()
    assert len(lines) == 2, lines  # no region, no credentials: one line each
    assert "AWS_REGION" in lines[0] and "aws configure" in lines[1]
    assert terminal.asked == []
    assert samconfig.read_text() == (ROOT / "samconfig.toml").read_text()


def test_the_first_deploy_asks_saves_and_the_second_asks_nothing(
    moto_sts: None, samconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given credentials (moto's STS) and AWS_REGION, the first prepare asks the four parameters (a bad
    answer is asked again) and saves them with the region; the second asks nothing; `sam deploy` gets
    them without --guided; prod still asks its own."""
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    first = Terminal("http://not-https.example.com", *ANSWERS.values())
    deploy.prepare("dev", samconfig, first.ask, first.say)
    assert first.asked == ["AuthIssuer: ", *(f"{name}: " for name in ANSWERS)]
    assert any("https URL" in line for line in first.said)  # the template's ConstraintDescription
    saved = tomllib.loads(samconfig.read_text())
    assert saved["dev"]["global"]["parameters"]["region"] == "eu-west-3"
    assert deploy.saved_overrides("dev", samconfig) == ANSWERS
    assert saved["dev"]["deploy"]["parameters"]["confirm_changeset"] is False  # the rest kept

    second = Terminal()
    deploy.prepare("dev", samconfig, second.ask, second.say)
    assert second.asked == []
    assert deploy.sam_deploy_args("dev", samconfig) == [
        "--config-file",
        str(samconfig),
        "--region",
        "eu-west-3",
    ]

    prod = Terminal()
    with pytest.raises(deploy.DeployError, match="no answer for AuthIssuer"):
        deploy.prepare("prod", samconfig, prod.ask, prod.say)
    assert prod.asked == ["AuthIssuer: "]


def test_answers_given_as_variables_are_checked_and_saved(
    moto_sts: None, samconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make deploy AuthIssuer=...` (a pipeline): nothing asked; a value the template refuses stops it."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    for name, value in ANSWERS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GeneratorUrl", "ftp://gen.example.com")
    with pytest.raises(deploy.DeployError, match="GeneratorUrl"):
        deploy.prepare("prod", samconfig, Terminal().ask, Terminal().say)
    monkeypatch.setenv("GeneratorUrl", ANSWERS["GeneratorUrl"])
    terminal = Terminal()
    deploy.prepare("prod", samconfig, terminal.ask, terminal.say)
    assert terminal.asked == [] and deploy.saved_overrides("prod", samconfig) == ANSWERS
    assert deploy.saved_region("prod", samconfig) == "eu-central-1"
    assert deploy.needs_guided("dev", samconfig)  # dev has its own answers


def test_an_origin_with_a_trailing_slash_is_refused_at_the_prompt_with_one_line(
    moto_sts: None, samconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's answer matches no token's azp: it would lock every user out after deploying. Typed,
    it is asked again (one line why); given as a variable, the deploy stops before anything is saved."""
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    wrong = "https://app.example.com/ , http://localhost:3000/"
    answers = dict(ANSWERS)
    terminal = Terminal(
        answers["AuthIssuer"],
        answers["AuthJwksUrl"],
        wrong,
        answers["AuthAuthorizedParties"],
        answers["GeneratorUrl"],
    )
    deploy.prepare("dev", samconfig, terminal.ask, terminal.say)
    assert terminal.asked.count("AuthAuthorizedParties: ") == 2
    refusals = [line for line in terminal.said if line.startswith("AuthAuthorizedParties: ")]
    assert len(refusals) == 1 and "\n" not in refusals[0] and "no trailing slash" in refusals[0]
    assert deploy.saved_overrides("dev", samconfig) == ANSWERS

    for name, value in {**ANSWERS, "AuthAuthorizedParties": wrong}.items():
        monkeypatch.setenv(name, value)
    before = samconfig.read_text()
    with pytest.raises(deploy.DeployError) as failure:
        deploy.prepare("prod", samconfig, Terminal().ask, Terminal().say)
    assert "AuthAuthorizedParties" in str(failure.value) and "no trailing slash" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert samconfig.read_text() == before


def test_a_saved_value_with_quotes_and_spaces_reads_back_as_sam_reads_it(samconfig: Path) -> None:
    value = 'https://a.example.com,"quoted" \\ back'
    deploy.save_answers("dev", samconfig, {"AuthAuthorizedParties": value}, "eu-west-3")
    deploy.save_answers("dev", samconfig, {"GeneratorUrl": "https://g.example.com"}, "eu-west-3")
    assert deploy.saved_overrides("dev", samconfig) == {
        "AuthAuthorizedParties": value,
        "GeneratorUrl": "https://g.example.com",
    }


def test_region_comes_from_aws_region_then_aws_default_region_then_saved_then_profile(
    no_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "no-config"
    config.write_text("[default]\nregion = ap-south-1\n")
    assert resolve_region().name == "ap-south-1"
    assert resolve_region("eu-west-1").name == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert resolve_region("eu-west-1").source == "AWS_DEFAULT_REGION"
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert resolve_region().name == "eu-west-3"  # botocore alone reads AWS_DEFAULT_REGION only
    with pytest.raises(AwsSetupError, match=r"AWS_REGION=eu-west-3, but .* deployed to eu-west-1"):
        resolve_region("eu-west-1")


def test_hand_over_commands_use_aws_region(
    moto_sts: None, samconfig: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """AWS_REGION alone (no AWS_DEFAULT_REGION, no profile region): `make api-url` looks in that region."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert deploy.main(["api-url", "--env", "dev"]) == 1
    assert "no stack mediagen-dev in eu-west-3 (region from AWS_REGION)" in capsys.readouterr().err


# --- `make deploy` itself, as a new user runs it ----------------------------------------------------------


# "In seconds": make, one Python start (boto3 imported) and at most one STS call take about 2 s on a
# quiet machine; what it must not do first (a build, questions waiting for input) takes minutes. 60 s
# tells them apart on a loaded machine.
IN_SECONDS = 60


def make(target: str, env: dict[str, str], stdin: str = "") -> tuple[subprocess.CompletedProcess[str], float]:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("make deploy uses the project's .venv, which this run has not made")
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", target],  # noqa: S607 - make from PATH
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, time.monotonic() - started


def bare_environment(tmp_path: Path, samconfig: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "SAMCONFIG": str(samconfig),
        "PYTHON313": sys.executable,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_make_deploy_without_credentials_fails_in_seconds_with_one_line(
    tmp_path: Path, samconfig: Path
) -> None:
    env = {**bare_environment(tmp_path, samconfig), "AWS_REGION": "eu-west-3"}
    done, seconds = make("deploy", env, stdin="\n".join(ANSWERS.values()))
    assert done.returncode != 0
    assert seconds < IN_SECONDS, seconds
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: no AWS credentials: `aws configure` (access keys) or `aws configure sso` then "
        "`aws sso login`, and export AWS_PROFILE=<profile> if it is not the default"
    ], done.stderr
    assert "First deploy" not in done.stdout and "sam" not in done.stdout  # nothing asked or built
    assert samconfig.read_text() == (ROOT / "samconfig.toml").read_text()


def test_make_deploy_with_credentials_gets_to_the_questions(
    tmp_path: Path, samconfig: Path, moto_server: str
) -> None:
    """Credentials checked by moto's STS over HTTP: the first question is asked; no answer stops it
    before anything is built."""
    env = {
        **bare_environment(tmp_path, samconfig),
        "AWS_REGION": "eu-west-3",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_server,
    }
    done, seconds = make("deploy", env, stdin="")
    assert "AWS: arn:aws:" in done.stdout and "region eu-west-3 (from AWS_REGION)" in done.stdout
    assert "AuthIssuer: " in done.stdout, done.stdout + done.stderr
    assert "error: no answer for AuthIssuer" in done.stderr
    assert done.returncode != 0 and seconds < IN_SECONDS, seconds
    checked, _ = make("deploy-check", env)
    assert checked.returncode == 0, checked.stderr
    assert "ready to deploy dev" in checked.stdout and "asks 4 values" in checked.stdout


class Recorder:
    """getpass as the command meets it: records each prompt, answers as scripted (an exception: raised)."""

    def __init__(self, answer: str | BaseException) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    def __call__(self, prompt: str = "") -> str:
        self.prompts.append(prompt)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class Stdin:
    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


CLERK_SECRET = "whsec_" + base64.b64encode(b"clerk-signing-secret-32-bytes!!!").decode()


def deployed_clerk_secret(region: str) -> str:
    """A stack named as `make deploy` names dev's, with the output the command reads (moto)."""
    import boto3

    arn = boto3.client("secretsmanager", region_name=region).create_secret(
        Name="clerk", SecretString=json.dumps({"secrets": ["generated"]})
    )["ARN"]
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ClerkWebhookSecretsArn": {"Value": arn}},
    }
    boto3.client("cloudformation", region_name=region).create_stack(
        StackName="mediagen-dev", TemplateBody=json.dumps(template)
    )
    return arn


def test_clerk_webhook_secret_checks_the_stack_before_asking(
    moto_sts: None, samconfig: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No stack: one line saying so, and nobody was asked to type a secret for nothing."""
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.delenv("CLERK_WEBHOOK_SECRET", raising=False)
    asked = Recorder(CLERK_SECRET)
    monkeypatch.setattr(deploy.getpass, "getpass", asked)
    monkeypatch.setattr(deploy.sys, "stdin", Stdin(terminal=True))

    assert deploy.main(["clerk-webhook-secret", "--env", "dev"]) == 1

    assert asked.prompts == []
    assert capsys.readouterr().err.splitlines() == [
        "error: no stack mediagen-dev in eu-west-3 (region from AWS_REGION): deploy it first (make deploy), "
        "or set the region where it is"
    ]


@pytest.mark.parametrize(
    ("terminal", "answer", "expected"),
    [
        (
            False,
            EOFError(),
            "error: no terminal to ask Clerk's signing secret: give it as CLERK_WEBHOOK_SECRET",
        ),
        (True, EOFError(), "error: no signing secret given: give it as CLERK_WEBHOOK_SECRET"),
        (True, KeyboardInterrupt(), "error: no signing secret given: give it as CLERK_WEBHOOK_SECRET"),
    ],
    ids=["no_terminal", "end_of_input", "interrupted"],
)
def test_clerk_webhook_secret_without_an_answer_is_one_line_and_changes_nothing(
    terminal: bool,
    answer: BaseException,
    expected: str,
    moto_sts: None,
    samconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`make clerk-webhook-secret` in a pipeline (no terminal) or left with Ctrl-D: no EOFError
    traceback, one line saying how to give it, the stack's secret untouched."""
    import boto3

    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.delenv("CLERK_WEBHOOK_SECRET", raising=False)
    arn = deployed_clerk_secret("eu-west-3")
    monkeypatch.setattr(deploy.getpass, "getpass", Recorder(answer))
    monkeypatch.setattr(deploy.sys, "stdin", Stdin(terminal=terminal))

    assert deploy.main(["clerk-webhook-secret", "--env", "dev"]) == 1

    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(expected), err
    stored = boto3.client("secretsmanager", region_name="eu-west-3").get_secret_value(SecretId=arn)
    assert json.loads(stored["SecretString"]) == {"secrets": ["generated"]}


def test_clerk_webhook_secret_from_the_variable_asks_nothing_and_is_stored(
    moto_sts: None, samconfig: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("CLERK_WEBHOOK_SECRET", CLERK_SECRET)
    arn = deployed_clerk_secret("eu-west-3")
    asked = Recorder(EOFError())
    monkeypatch.setattr(deploy.getpass, "getpass", asked)
    monkeypatch.setattr(deploy.sys, "stdin", Stdin(terminal=False))

    assert deploy.main(["clerk-webhook-secret", "--env", "dev"]) == 0, capsys.readouterr().err

    assert asked.prompts == []
    stored = boto3.client("secretsmanager", region_name="eu-west-3").get_secret_value(SecretId=arn)
    assert json.loads(stored["SecretString"]) == {"secrets": [CLERK_SECRET]}


def test_the_clerk_secret_description_names_the_variable_the_command_reads() -> None:
    from deploy.base.cfn_template import load_template

    description = load_template()["Resources"]["ClerkWebhookSecrets"]["Properties"]["Description"]
    assert "CLERK_WEBHOOK_SECRET=whsec_" in description and "SECRET=whsec" not in description.replace(
        "CLERK_WEBHOOK_SECRET=whsec", ""
    )
