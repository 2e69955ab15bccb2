"""Placeholder settings for importing the handlers outside Lambda without calling anything: every
handler checks its settings when it is imported (as at a cold start), so a tool that imports them
(the lowest-Python check, the API description's generator, the cold-import bench) gives them these.
Standard library only: the lowest-Python check imports it with the layer's requirements alone."""

import os
from collections.abc import MutableMapping

PLACEHOLDER_SETTINGS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AUTH_ISSUER": "https://issuer.example",
    "AUTH_JWKS_URL": "https://issuer.example/.well-known/jwks.json",
    "WEBHOOK_SECRETS": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "MEDIA_BUCKET": "media",
    "DISPATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dispatch",
    "GENERATOR_URL": "https://generator.example/jobs",
    "LIBRARY_CURSOR_KEY": "placeholder-library-cursor-key",
    "FILE_REMOVAL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/file-removal",
    "CLERK_WEBHOOK_SECRETS": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "ERASURE_HASH_KEY": "placeholder-erasure-hash-key-placeholder-erasure-hash-key",
    "ERASURE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/erasure",
    "EVENTS_HTTP_ENDPOINT": "https://example.appsync-api.us-east-1.amazonaws.com/event",
}


def apply_placeholders(environ: MutableMapping[str, str] = os.environ) -> None:
    """Each placeholder where the variable is not set already."""
    for name, value in PLACEHOLDER_SETTINGS.items():
        environ.setdefault(name, value)
