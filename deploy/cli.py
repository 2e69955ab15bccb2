"""What a deployed stack hands to the teams around it, one command each (docs/deploy.md):

    python -m deploy.cli api-url --env dev            the front end's API base URL
    python -m deploy.cli webhook-secret --env dev     the whsec_ secret the generation backend signs with
    python -m deploy.cli generator-api-key --env dev  the key our dispatcher presents to the backend
    python -m deploy.cli outputs --env dev            every output of the stack
    python -m deploy.cli sam-deploy-args --env dev    `--guided` until samconfig.toml has the parameters

The stack name and region are those of samconfig.toml's `[<env>.deploy.parameters]` (the region falls
back to the AWS profile's). AWS credentials come from the usual places (AWS_PROFILE, SSO, ...).
"""

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"
# Parameters without a default: until samconfig.toml has them, `make deploy` asks (sam deploy --guided).
REQUIRED_PARAMETERS = ("AuthIssuer", "AuthJwksUrl", "AuthAuthorizedParties", "GeneratorUrl")


class DeployError(Exception):
    pass


def deploy_parameters(env: str, path: Path = SAMCONFIG) -> dict[str, Any]:
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    if env not in config:
        raise DeployError(f"samconfig.toml has no [{env}] environment (dev or prod)")
    parameters: dict[str, Any] = config[env].get("deploy", {}).get("parameters", {})
    return parameters


def needs_guided(env: str, path: Path = SAMCONFIG) -> bool:
    overrides = str(deploy_parameters(env, path).get("parameter_overrides", ""))
    return not all(f"{name}=" in overrides for name in REQUIRED_PARAMETERS)


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
    def __init__(self, env: str) -> None:
        import boto3

        parameters = deploy_parameters(env)
        self.name = str(parameters.get("stack_name") or f"mediagen-{env}")
        self.session = boto3.session.Session(region_name=parameters.get("region") or None)

    def outputs(self) -> dict[str, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            stacks = self.session.client("cloudformation").describe_stacks(StackName=self.name)["Stacks"]
        except (BotoCoreError, ClientError) as exc:
            raise DeployError(f"stack {self.name}: {exc}") from exc
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
            raise DeployError(f"secret {arn}: {exc}") from exc
        return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "command",
        choices=["api-url", "webhook-secret", "generator-api-key", "outputs", "sam-deploy-args"],
    )
    parser.add_argument("--env", default="dev")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "sam-deploy-args":
            print("--guided" if needs_guided(arguments.env) else "")
            return 0
        stack = Stack(arguments.env)
        if arguments.command == "api-url":
            print(stack.output("ApiUrl"))
        elif arguments.command == "webhook-secret":
            print(signing_secret(stack.secret("WebhookSecretsArn")))
        elif arguments.command == "generator-api-key":
            print(stack.secret("GeneratorApiKeyArn"))
        else:
            for key, value in sorted(stack.outputs().items()):
                print(f"{key}\t{value}")
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
