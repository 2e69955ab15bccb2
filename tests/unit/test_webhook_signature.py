"""Standard Webhooks: a delivery is accepted when any signature of its list is valid for an active
secret, whatever else the list holds (malformed entries, other versions, signatures of other secrets)."""

import pytest

from mediagen.core.errors import NotAuthenticated
from mediagen.edge.webhook_signature import verify_delivery
from tests.support import RETIRED_SECRET, WEBHOOK_SECRET, signed_headers

BODY = '{"job_id": "job_sig", "status": "processing", "progress": 10}'


def headers_with(signature_list: str) -> dict[str, str]:
    headers = signed_headers(BODY, webhook_id="msg_sig")
    headers["webhook-signature"] = signature_list.replace("VALID", headers["webhook-signature"])
    return headers


@pytest.mark.parametrize(
    "signatures",
    [
        "VALID",
        "v1 VALID",  # a bare version before the valid one
        "v1, VALID",
        "v1,not-base64!! VALID",
        "v2,c2lnbmF0dXJl VALID",  # another version: ignored
        "v1a,c2lnbmF0dXJl VALID",
        ", VALID",
        "VALID v1",
        "v1,c2lnbmF0dXJl  VALID",  # two spaces
    ],
)
def test_any_valid_signature_of_the_list_is_enough(signatures: str) -> None:
    assert verify_delivery(BODY.encode(), headers_with(signatures), [WEBHOOK_SECRET]) == "msg_sig"


@pytest.mark.parametrize("signatures", ["v1", "v1,", "v1,c2lnbmF0dXJl", "v1 v1,!!", ",,, ", "v2,VALID"])
def test_no_valid_signature_is_401(signatures: str) -> None:
    headers = headers_with(signatures.replace("VALID", "x"))
    with pytest.raises(NotAuthenticated):
        verify_delivery(BODY.encode(), headers, [WEBHOOK_SECRET])


def test_a_signature_of_a_retired_secret_next_to_a_valid_one_is_accepted() -> None:
    retired = signed_headers(BODY, secret=RETIRED_SECRET, webhook_id="msg_sig")["webhook-signature"]
    headers = headers_with(f"{retired} VALID")
    assert verify_delivery(BODY.encode(), headers, [WEBHOOK_SECRET]) == "msg_sig"
