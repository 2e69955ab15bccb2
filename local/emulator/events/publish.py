"""The HTTP publish endpoint's checks (`POST /event`): the SigV4 signature of the publisher function's
request (service `appsync`, the local credentials), and the body's shape, `{"channel": ...,
"events": [<JSON text>, ...]}`, as AppSync Events takes it."""

import datetime
import hmac
import json
from collections.abc import Collection, Mapping
from typing import Any

from local.emulator.events.limits import MAX_EVENTS_PER_PUBLISH


def sigv4_problem(
    method: str, url: str, headers: Mapping[str, str], body: bytes, access_key: str, secret_key: str
) -> str | None:
    """Why a request is not signed by (access_key, secret_key) for service appsync, or None: the
    signature is computed again over the headers it names, with botocore's signer."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = headers.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return "the request is not signed (AWS_IAM)"
    parts = dict(part.strip().split("=", 1) for part in authorization[17:].split(",") if "=" in part.strip())
    scope = parts.get("Credential", "").split("/")
    signed = [name for name in parts.get("SignedHeaders", "").split(";") if name]
    amz_date = headers.get("x-amz-date", "")
    if len(scope) != 5 or scope[3] != "appsync" or scope[0] != access_key or "host" not in signed:
        return "the signature's credential is not the local publisher's"
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return "x-amz-date is missing or malformed"
    if abs((datetime.datetime.now(datetime.UTC) - signed_at).total_seconds()) > 300:
        return "the signature is more than 5 minutes old"
    token = headers.get("x-amz-security-token")
    request = AWSRequest(method=method, url=url, data=body, headers={n: headers.get(n, "") for n in signed})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key, token), "appsync", scope[2])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        return "the signature does not match"
    return None


def publish_problem(document: Any, namespaces: Collection[str]) -> str | None:
    """Why a publish body is not one AppSync Events takes, or None."""
    from mediagen.contract.channels import CHANNEL

    if not isinstance(document, dict):
        return "The body is a JSON object with channel and events."
    channel, events = document.get("channel"), document.get("events")
    if not isinstance(channel, str) or not CHANNEL.fullmatch(channel) or channel.endswith("/*"):
        return "channel must be a channel path (no wildcard)."
    if channel.split("/")[1] not in namespaces:
        return "No such channel namespace."
    if not isinstance(events, list) or not 0 < len(events) <= MAX_EVENTS_PER_PUBLISH:
        return f"events must be a list of 1 to {MAX_EVENTS_PER_PUBLISH} JSON texts."
    for event in events:
        if not isinstance(event, str):
            return "Each event is a JSON text."
        try:
            json.loads(event)
        except ValueError:
            return "Each event is a JSON text."
    return None
