"""What the local service prints when it has started (`make run`): its ports, its development secrets
and token, the generator, the origins, retention, DynamoDB, and a first request to try."""

from typing import TYPE_CHECKING

from deploy.base.cfn_functions import http_routes
from local.emulator.settings import MEDIA_BUCKET
from mediagen.contract.channels import USER_CHANNEL_PATTERN

if TYPE_CHECKING:
    from local.emulator.server import LocalService


def dynamodb_text(service: "LocalService") -> str:
    if not service.settings.dynamodb_local:
        fallback = " (DynamoDB Local could not run: see above)" if service.settings.dynamodb_fallback else ""
        return f"moto's, in memory{fallback}"
    kept = (
        "data kept in .local/"
        if service.settings.dynamodb_persist
        else "in memory (DYNAMODB_PERSIST=1 keeps it)"
    )
    return f"DynamoDB Local on {service.aws.dynamodb_endpoint}, {kept}"


def banner(service: "LocalService") -> str:
    """What the service prints when it has started: where everything is, and a first request to try."""
    s = service.settings
    token = "make token USER=user_1 ORG=org_1" if s.dev_key else f"a token from your issuer {s.issuer}"
    auth = "$(make -s token)" if s.dev_key else "$TOKEN"
    routes = {route.route_key for route in http_routes()}
    if "POST /api/images/generate" in routes:
        example = (
            f'curl -s -X POST {service.base_url}/api/images/generate -H "Authorization: Bearer {auth}" '
            "-H 'content-type: application/json' -d '{\"prompt\": \"Un phare breton\"}'"
        )
    else:
        example = f'curl -s {service.base_url}/api/images/job_1/status -H "Authorization: Bearer {auth}"'
    if s.generator_url:
        generator = f"GENERATOR_URL={s.generator_url}"
    elif s.generator_on:
        generator = (
            "local stand-in: jobs complete by themselves (LOCAL_GENERATOR=off: they wait for webhooks)"
        )
    else:
        generator = "off: jobs wait for webhooks (LOCAL_GENERATOR=on: the stand-in completes them)"
    port = service.http.port
    demo = "make demo" if port == 3000 else f"PORT={port} make demo"
    lines = [
        f"mediagen on {service.base_url}  ({len(routes)} routes of template.yaml; Ctrl-C stops it)",
        f"  token:          {token}" + ("  (development key in .local/)" if s.dev_key else ""),
        f"  webhook secret: {s.webhook_secrets.split(',')[0]}"
        + ("  (development secret)" if s.dev_secret else ""),
        f"  clerk secret:   {s.clerk_webhook_secrets.split(',')[0]}"
        + ("  (development secret; CLERK_WEBHOOK_SECRETS to set)" if s.dev_clerk_secret else "")
        + f"  -> POST {service.base_url}/api/webhooks/clerk",
        f"  generator:      {generator}",
        f"  CORS origins:   {service.authorized_parties or 'none (AUTH_AUTHORIZED_PARTIES)'}",
        "  retention:      "
        + (
            f"{s.retention_days} days after a job finishes (files stay: no bucket lifecycle locally)"
            if s.retention_days
            else "none: jobs are kept (RETENTION_DAYS)"
        ),
        f"  playground:     {service.playground.origin if service.playground else 'off (PLAYGROUND_PORT)'}",
        f"  live events:    {service.events.endpoint}  (Amplify API.Events.endpoint, defaultAuthMode oidc;"
        f" channel {USER_CHANNEL_PATTERN}; trust {service.events.certificate})",
        f"  embedded AWS:   {service.aws.endpoint}  (bucket {MEDIA_BUCKET})",
        f"  DynamoDB:       {dynamodb_text(service)}",
        f"  API description: {service.base_url}/openapi.json",
        f"  try:            {example}",
        f"  demo:           {demo}",
    ]
    return "\n".join(lines)
