"""The live progress namespace's onSubscribe handler (AppSync Events, direct Lambda integration).

AppSync has verified the Clerk token (OPENID_CONNECT: signature, issuer, expiry) before it calls this;
here are our own rules: the token's party and session (as on every user route), and the channel: the
person's own, or their active organization's, never another (mediagen.contract.channels). Anything else is
refused with UnauthorizedException, which AppSync answers to the client as `subscribe_error`.
"""

from typing import Any

from aws_lambda_powertools.event_handler import AppSyncEventsResolver
from aws_lambda_powertools.event_handler.events_appsync.exceptions import UnauthorizedException

from mediagen.contract.channels import may_subscribe
from mediagen.core.errors import NotAuthenticated
from mediagen.core.observability import MetricName, bind, count, logger, metrics
from mediagen.core.settings import load_settings
from mediagen.edge.auth import caller_of

load_settings()

app = AppSyncEventsResolver()


@app.on_subscribe("/*")  # every channel of every namespace: nothing is allowed by default
def authorize_subscription() -> None:
    event = app.current_event
    identity = event.get("identity") or {}
    claims = identity.get("claims") if isinstance(identity, dict) else None
    channel = event.info.channel_path
    try:
        caller = caller_of(claims if isinstance(claims, dict) else {})
    except NotAuthenticated as refused:
        count(MetricName.LIVE_SUBSCRIBE_REFUSED)
        raise UnauthorizedException(refused.message) from None
    bind(user_id=caller.user_id)
    if not may_subscribe(caller.user_id, caller.organization_id, channel):
        count(MetricName.LIVE_SUBSCRIBE_REFUSED)
        logger.info("Subscription refused", extra={"channel": channel[:200]})
        raise UnauthorizedException("You may subscribe to your own channel and your organization's only.")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return app.resolve(event, context)
