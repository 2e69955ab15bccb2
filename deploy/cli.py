"""`make deploy`, `make deploy-check` and what a deployed stack hands to the teams around it
(docs/deploy.md):

    python -m deploy.cli check --env dev              credentials, region, tools: one line per problem
    python -m deploy.cli prepare --env dev            check, then the parameters, asked once and saved
    python -m deploy.cli sam-deploy-args --env dev    what `sam deploy` is given (region, config file)
    python -m deploy.cli api-url --env dev            the front end's API base URL
    python -m deploy.cli webhook-secret --env dev     the whsec_ secret the generation backend signs with
    python -m deploy.cli generator-api-key --env dev  the key our dispatcher presents to the backend
    python -m deploy.cli clerk-webhook-url --env dev  the endpoint to give Clerk's dashboard
    python -m deploy.cli clerk-webhook-secret --env dev  hand Clerk's signing secret to the stack
    python -m deploy.cli outputs --env dev            every output of the stack

The answers of an environment live in its sections of samconfig.toml (`SAMCONFIG` names another file):
`parameter_overrides` in `[<env>.deploy.parameters]`, `region` in `[<env>.global.parameters]` (so that
`sam deploy` and `sam delete --config-env <env>` find them too). The first `make deploy` asks the
template's parameters that have no default (or takes them from variables of the same name: `make
deploy AuthIssuer=https://...`), checks each against the template's AllowedPattern, and saves them;
every later one asks nothing. `sam deploy` is never run `--guided`: its questions would be asked again
on every machine, and its per-function "no authentication" ones are answered by design (docs/deploy.md).
Region and credentials: deploy/aws_session.py, for every command alike.
"""

import argparse
import getpass
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.aws_session import AwsSetupError, Region, caller_identity, resolve_region, session

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"
ENVIRONMENTS = ("dev", "prod")
# Parameters without a default: until samconfig.toml has them, `make deploy` asks for them.
REQUIRED_PARAMETERS = ("AuthIssuer", "AuthJwksUrl", "AuthAuthorizedParties", "GeneratorUrl")
ATTEMPTS = 3


class DeployError(Exception):
    pass


def samconfig_path() -> Path:
    return Path(os.environ.get("SAMCONFIG") or SAMCONFIG).resolve()


def _environment(env: str, path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DeployError(f"{path.name} not found: SAMCONFIG names a missing file ({path})")
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    if env not in config:
        raise DeployError(f"{path.name} has no [{env}] environment (ENV={' or ENV='.join(ENVIRONMENTS)})")
    found: dict[str, Any] = config[env]
    return found


def deploy_parameters(env: str, path: Path = SAMCONFIG) -> dict[str, Any]:
    parameters: dict[str, Any] = _environment(env, path).get("deploy", {}).get("parameters", {})
    return parameters


def saved_region(env: str, path: Path = SAMCONFIG) -> str | None:
    sections = _environment(env, path)
    for command in ("global", "deploy"):
        region = sections.get(command, {}).get("parameters", {}).get("region")
        if region:
            return str(region)
    return None


def saved_overrides(env: str, path: Path = SAMCONFIG) -> dict[str, str]:
    """`parameter_overrides` as SAM writes and reads it: `Name="value" Name2="value"` (or a list)."""
    raw = deploy_parameters(env, path).get("parameter_overrides", "")
    items = raw if isinstance(raw, list) else shlex.split(str(raw))
    return dict(item.split("=", 1) for item in items if "=" in item)


def needs_guided(env: str, path: Path = SAMCONFIG) -> bool:
    """True until the environment's answers hold every parameter without a default."""
    overrides = saved_overrides(env, path)
    return not all(overrides.get(name) for name in REQUIRED_PARAMETERS)


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _set_keys(text: str, section: str, values: dict[str, str]) -> str:
    """`text` with `values` set in `[section]` (created at the end when missing); comments and every
    other line kept as they are."""
    lines = text.splitlines()
    header = f"[{section}]"
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == header)
    except StopIteration:
        lines += ["", header]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # new keys go after the section's last key, before the blank lines that follow it
    for key, value in values.items():
        line = f"{key} = {_toml_string(value)}"
        at = next((i for i in range(start + 1, end) if re.match(rf"\s*{key}\s*=", lines[i])), None)
        if at is None:
            lines.insert(end, line)
            end += 1
        else:
            lines[at] = line
    return "\n".join(lines) + "\n"


def save_answers(env: str, path: Path, answers: dict[str, str], region: str) -> None:
    overrides = {**saved_overrides(env, path), **answers}
    text = path.read_text(encoding="utf-8")
    joined = " ".join(f"{name}={_quoted(value)}" for name, value in overrides.items())
    text = _set_keys(text, f"{env}.deploy.parameters", {"parameter_overrides": joined})
    text = _set_keys(text, f"{env}.global.parameters", {"region": region})
    tomllib.loads(text)  # never leave a file SAM cannot read
    path.write_text(text, encoding="utf-8")


def _quoted(value: str) -> str:
    """A value as SAM's parameter_overrides takes it: in double quotes, `"` and `\\` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the checks before anything is built or asked ------------------------------------------------------


def tool_problems() -> list[str]:
    """The tools `make deploy` needs beyond this virtualenv (SAM CLI is installed by make itself)."""
    problems = []
    probe = [
        os.environ.get("PYTHON313") or "python3.13",
        "-c",
        "import sys; assert sys.version_info[:2] == (3, 13)",
    ]
    try:
        found = subprocess.run(probe, cwd=ROOT, capture_output=True, timeout=20, check=False).returncode == 0  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        found = False
    if not found:
        problems.append(
            "python3.13 not found: the layer's bytecode is compiled by Lambda's Python 3.13 "
            "(`pyenv install 3.13` in this folder, or apt-get install python3.13)"
        )
    if shutil.which("make") is None:
        problems.append("make not found: apt-get install make (or xcode-select --install)")
    return problems


def preflight(env: str, path: Path, *, tools: bool = True) -> tuple[Region, str]:
    """Region, credentials and tools, each problem one line (DeployError with every line); the region
    and the caller's ARN when all is well."""
    problems: list[str] = []
    region: Region | None = None
    identity = ""
    try:
        region = resolve_region(saved_region(env, path), f"{path.name} [{env}]")
    except AwsSetupError as error:
        problems.append(str(error))
    try:
        # Credentials are checked even without a region (STS answers in any): both lines at once.
        identity = caller_identity(session(region or Region("us-east-1", "")))
    except AwsSetupError as error:
        problems.append(str(error))
    if tools:
        problems += tool_problems()
    if problems or region is None:
        raise DeployError("\n".join(problems))
    return region, identity


# --- the answers, asked once -------------------------------------------------------------------------


def template_parameters() -> dict[str, dict[str, Any]]:
    from deploy.base.cfn_template import load_template

    parameters: dict[str, dict[str, Any]] = load_template()["Parameters"]
    return parameters


def _check(name: str, value: str, declared: dict[str, Any]) -> str | None:
    """Why `value` is refused for parameter `name` (None: accepted): the template's own constraint."""
    pattern = declared.get("AllowedPattern")
    if not value.strip():
        return f"{name} is required"
    if pattern and not re.fullmatch(pattern, value):
        return f"{name}: {declared.get('ConstraintDescription') or 'must match ' + pattern}"
    return None


def ask_answers(
    env: str, path: Path, ask: Callable[[str], str] = input, say: Callable[[str], None] = print
) -> dict[str, str]:
    """The parameters without a default that the environment has not saved: from a variable of the
    same name, else asked (each checked against the template; EOF: DeployError)."""
    declared = template_parameters()
    saved = saved_overrides(env, path)
    answers: dict[str, str] = {}
    missing = [name for name in REQUIRED_PARAMETERS if not saved.get(name)]
    if missing:
        say(
            f"First deploy of {env}: {len(missing)} values, saved in {path.name} [{env}] (docs/deploy.md, 3)."
        )
    for name in missing:
        given = os.environ.get(name)
        if given is not None:
            refused = _check(name, given, declared[name])
            if refused:
                raise DeployError(f"{refused} (given as {name}={given})")
            answers[name] = given
            continue
        description = " ".join(str(declared[name].get("Description", "")).split())
        say(f"\n{name}: {description}")
        for _attempt in range(ATTEMPTS):
            try:
                value = ask(f"{name}: ").strip()
            except EOFError:
                raise DeployError(
                    f"no answer for {name}: run `make deploy ENV={env}` in a terminal, or give every value "
                    f"on the command line ({' '.join(f'{n}=...' for n in missing)})"
                ) from None
            refused = _check(name, value, declared[name])
            if refused is None:
                answers[name] = value
                break
            say(refused)
        else:
            raise DeployError(f"{name}: no valid answer after {ATTEMPTS} tries")
    return answers


def prepare(
    env: str, path: Path, ask: Callable[[str], str] = input, say: Callable[[str], None] = print
) -> Region:
    """What `make deploy` does before building: the checks, then the answers (asked and saved once)."""
    region, identity = preflight(env, path)
    say(f"AWS: {identity}, region {region.name} (from {region.source})")
    answers = ask_answers(env, path, ask, say)
    if answers or saved_region(env, path) != region.name:
        save_answers(env, path, answers, region.name)
        say(f"Saved in {path} [{env}]: the next `make deploy ENV={env}` asks nothing.")
    return region


def sam_deploy_args(env: str, path: Path) -> list[str]:
    """`sam deploy`'s arguments beyond `--config-env`: the answers' file and region, never --guided."""
    if needs_guided(env, path):
        raise DeployError(f"{path.name} [{env}] has no saved parameters: run `make deploy ENV={env}`")
    region = resolve_region(saved_region(env, path), f"{path.name} [{env}]")
    return ["--config-file", str(path), "--region", region.name]


def as_whsec(secret: str) -> str:
    """A Standard Webhooks secret in the form the libraries print and take: `whsec_` + base64."""
    return secret if secret.startswith("whsec_") else f"whsec_{secret}"


def signing_secret(secret_string: str) -> str:
    """The secret the backend must sign with: the first active one (the newest, during a rotation)."""
    from mediagen.edge.webhook_signature import parse_secret_value

    active = parse_secret_value(secret_string)
    if not active:
        raise DeployError("the WebhookSecrets secret holds no active secret")
    return as_whsec(active[0])


class Stack:
    """The environment's stack, in the region every command resolves alike (deploy/aws_session.py)."""

    def __init__(self, env: str, path: Path | None = None) -> None:
        path = path or samconfig_path()
        parameters = deploy_parameters(env, path)
        self.name = str(parameters.get("stack_name") or f"mediagen-{env}")
        self.region = resolve_region(saved_region(env, path), f"{path.name} [{env}]")
        self.session = session(self.region)

    def _failed(self, what: str, exc: Exception) -> DeployError:
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            try:
                caller_identity(self.session)  # the same one-line fix as make deploy-check
            except AwsSetupError as setup:
                return DeployError(str(setup))
        if isinstance(exc, ClientError) and "does not exist" in str(exc):
            return DeployError(
                f"no stack {self.name} in {self.region.name} (region from {self.region.source}): "
                "deploy it first (make deploy), or set the region where it is"
            )
        return DeployError(f"{what}: {exc}")

    def outputs(self) -> dict[str, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            stacks = self.session.client("cloudformation").describe_stacks(StackName=self.name)["Stacks"]
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(f"stack {self.name}", exc) from None
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    def output(self, key: str) -> str:
        outputs = self.outputs()
        if key not in outputs:
            raise DeployError(f"stack {self.name} has no output {key}: deploy the current template.yaml")
        return outputs[key]

    def secret(self, output_key: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        arn = self.output(output_key)
        try:
            value = self.session.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(f"secret {arn}", exc) from None
        return str(value)

    def put_secret(self, output_key: str, value: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        arn = self.output(output_key)
        try:
            self.session.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value)
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(f"secret {arn}", exc) from None


def ask_clerk_secret() -> str:
    """Clerk's signing secret: from CLERK_WEBHOOK_SECRET, else asked without echo in a terminal, never
    on a command line (shell history). Without a terminal, or with no answer: one line saying how."""
    given = os.environ.get("CLERK_WEBHOOK_SECRET")
    if given:
        return given
    how = "give it as CLERK_WEBHOOK_SECRET=whsec_... make clerk-webhook-secret, or run it in a terminal"
    if not sys.stdin.isatty():
        raise DeployError(f"no terminal to ask Clerk's signing secret: {how}")
    try:
        return getpass.getpass("Clerk's signing secret (whsec_...): ")
    except (EOFError, KeyboardInterrupt):
        raise DeployError(f"no signing secret given: {how}") from None


def clerk_secret_value(new: str, current: str, keep_previous: bool) -> str:
    """What ClerkWebhookSecrets holds after Clerk's signing secret `new` is handed over: the new one
    first; the ones active before too when `keep_previous` (Svix signs with both during its own
    rotation, so replacing is the usual case). A malformed secret is refused before anything is written."""
    import base64
    import binascii

    from mediagen.edge.webhook_signature import parse_secret_value

    secret = new.strip()
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith("whsec_") or len(key) < 16:
        raise DeployError(
            "Clerk's signing secret looks like whsec_<base64> (Webhooks, your endpoint, Signing Secret)"
        )
    previous = [s for s in parse_secret_value(current) if s.startswith("whsec_") and s != secret]
    return json.dumps({"secrets": [secret, *(previous if keep_previous else [])]})


COMMANDS = (
    "check",
    "prepare",
    "sam-deploy-args",
    "api-url",
    "webhook-secret",
    "generator-api-key",
    "clerk-webhook-url",
    "clerk-webhook-secret",
    "outputs",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--env", default="dev", choices=ENVIRONMENTS)
    arguments = parser.parse_args(argv)
    env, path = arguments.env, samconfig_path()
    try:
        if arguments.command == "check":
            region, identity = preflight(env, path)
            print(f"ready to deploy {env}: AWS {identity}, region {region.name} (from {region.source})")
            if needs_guided(env, path):
                print(
                    f"the first make deploy ENV={env} asks {len(REQUIRED_PARAMETERS)} values (docs/deploy.md)"
                )
        elif arguments.command == "prepare":
            prepare(env, path)
        elif arguments.command == "sam-deploy-args":
            print(shlex.join(sam_deploy_args(env, path)))
        else:
            stack = Stack(env, path)
            if arguments.command == "api-url":
                print(stack.output("ApiUrl"))
            elif arguments.command == "webhook-secret":
                print(signing_secret(stack.secret("WebhookSecretsArn")))
            elif arguments.command == "generator-api-key":
                print(stack.secret("GeneratorApiKeyArn"))
            elif arguments.command == "clerk-webhook-url":
                print(stack.output("ClerkWebhookUrl"))
            elif arguments.command == "clerk-webhook-secret":
                # The stack and its secret first: nobody types a secret for a stack that is not there.
                current = stack.secret("ClerkWebhookSecretsArn")
                keep = os.environ.get("KEEP_PREVIOUS", "") in ("1", "true")
                value = clerk_secret_value(ask_clerk_secret(), current, keep)
                stack.put_secret("ClerkWebhookSecretsArn", value)
                print("Clerk's signing secret is active (the webhook reads it within 5 minutes).")
            else:
                for key, value in sorted(stack.outputs().items()):
                    print(f"{key}\t{value}")
    except (DeployError, AwsSetupError) as error:
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
