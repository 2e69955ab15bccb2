"""Live progress channel names (mediagen.contract.channels) and the local endpoint's SigV4 check."""

import re

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from local.emulator.events.protocol import channel_matches
from local.emulator.events.publish import sigv4_problem
from mediagen.contract.channels import (
    CHANNEL,
    job_channels,
    may_subscribe,
    organization_channel,
    segment,
    user_channel,
)

SEGMENT = re.compile(r"^[A-Za-z0-9-]{1,50}$")  # what AppSync accepts in a channel segment


def test_clerk_ids_map_to_readable_segments() -> None:
    assert user_channel("user_2abcDEF9") == "/jobs/users/user-2abcDEF9"
    assert organization_channel("org_2xyz") == "/jobs/orgs/org-2xyz"


@given(st.text(min_size=1, max_size=200))
def test_every_id_maps_to_a_valid_segment(identifier: str) -> None:
    assert SEGMENT.fullmatch(segment(identifier))
    assert CHANNEL.fullmatch(user_channel(identifier))


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_two_ids_never_share_a_channel(first: str, second: str) -> None:
    if first != second:
        assert segment(first) != segment(second)


def test_ids_that_are_not_clerk_shaped_are_hashed() -> None:
    assert segment("user-with-dash").startswith("sha-")
    assert segment("user_" + "a" * 60).startswith("sha-")  # too long for a segment
    assert segment("sha_abc") != segment("sha-abc")


def test_a_job_goes_to_its_author_and_its_organization_only() -> None:
    assert job_channels("user_a", "org_1") == ["/jobs/users/user-a", "/jobs/orgs/org-1"]
    assert job_channels("user_a", None) == ["/jobs/users/user-a"]
    assert job_channels(None, "org_1") == []  # unattributed: nobody's


@pytest.mark.parametrize(
    ("channel", "allowed"),
    [
        ("/jobs/users/user-a", True),
        ("/jobs/orgs/org-1", True),
        ("/jobs/users/user-b", False),
        ("/jobs/users/*", False),
        ("/jobs/*", False),
        ("/jobs/orgs/org-2", False),
    ],
)
def test_may_subscribe(channel: str, allowed: bool) -> None:
    assert may_subscribe("user_a", "org_1", channel) is allowed


def test_a_wildcard_subscription_receives_what_is_below_it() -> None:
    assert channel_matches("/jobs/users/*", "/jobs/users/user-a")
    assert not channel_matches("/jobs/users/*", "/jobs/usersx/a")
    assert channel_matches("/jobs/users/user-a", "/jobs/users/user-a")
    assert not channel_matches("/jobs/users/user-a", "/jobs/users/user-ab")


def signed(body: bytes, key: str = "AKIDLOCAL", secret: str = "secret") -> dict[str, str]:  # noqa: S107
    request = AWSRequest(
        method="POST",
        url="https://127.0.0.1:3002/event",
        data=body,
        headers={"content-type": "application/json"},
    )
    SigV4Auth(Credentials(key, secret, "session"), "appsync", "us-east-1").add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


def test_a_request_signed_by_the_publisher_is_accepted() -> None:
    body = b'{"channel": "/jobs/users/user-a", "events": ["{}"]}'
    headers = {**signed(body), "host": "127.0.0.1:3002"}
    assert sigv4_problem("POST", "https://127.0.0.1:3002/event", headers, body, "AKIDLOCAL", "secret") is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # another body
        lambda h, b: ({**h, "authorization": h["authorization"][:-2] + "00"}, b),  # another signature
        lambda h, b: ({k: v for k, v in h.items() if k != "authorization"}, b),  # unsigned
        lambda h, b: ({**h, "x-amz-date": "20200101T000000Z"}, b),  # old
        lambda h, b: ({**h, "x-amz-security-token": "other"}, b),  # a signed header changed
    ],
)
def test_anything_else_is_refused(tamper: object) -> None:
    body = b'{"channel": "/jobs/users/user-a", "events": ["{}"]}'
    headers, sent = tamper({**signed(body), "host": "127.0.0.1:3002"}, body)  # type: ignore[operator]
    assert sigv4_problem("POST", "https://127.0.0.1:3002/event", headers, sent, "AKIDLOCAL", "secret")


def test_other_credentials_are_refused() -> None:
    body = b"{}"
    headers = {**signed(body, key="AKIDOTHER"), "host": "127.0.0.1:3002"}
    assert sigv4_problem("POST", "https://127.0.0.1:3002/event", headers, body, "AKIDLOCAL", "secret")
