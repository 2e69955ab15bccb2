"""Every AWS call a function makes is allowed by the role the stack gives it (issue 24), proven offline.

The calls are recorded while the integration and e2e suites run (local/harness/aws_calls.py: botocore's
`before-parameter-build` hook, in this process and in every sandbox of the local services); the roles
come from template.yaml expanded by AWS's own SAM transform (deploy/permissions.py). The check runs
after every other test (marker `after_suites`), so it sees the calls of the whole session; run alone
(`pytest tests/integration/test_permissions.py`) it has nothing recorded and says so. The grants no call
used are listed too: after the whole suites, each must say why it is there (UNUSED_BECAUSE), or go.
"""

from pathlib import Path

import pytest

from deploy.permissions import Call, Grant, Role, denied, roles, unused
from local.harness import aws_calls

SUITES = ("tests/integration", "tests/e2e")
# Grants of the template's own policies that no test's call uses, each with why it stays. Empty: every
# statement of every function's role is used by its code (the managed policies SAM attaches are Lambda's
# own use of the role: deploy/permissions.py MANAGED_POLICIES says why, per policy).
GENERATIONS = "arn:aws:dynamodb:us-east-1:123456789012:table/GenerationsTable"
# A refused conditional write returns the item (ALL_OLD) in DynamoDB, in DynamoDB Local and in moto, so
# the tests never take the read that follows a refusal that returned nothing (the item is missing).
READ_BACK = (
    "the read after a refused conditional write that returned no item (mediagen.data.job_store: find, "
    "_slot): the stores return the item on refusal, so no test reaches it"
)
UNUSED_BECAUSE: dict[tuple[str, str, str], str] = {
    ("GenerateFunction", "dynamodb:GetItem", GENERATIONS): READ_BACK,
    (
        "GenerateFunction",
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:123456789012:table/JobsInFlightTable",
    ): READ_BACK,
    ("StuckJobSweeperFunction", "dynamodb:GetItem", GENERATIONS): READ_BACK,
    ("DispatchFunction", "dynamodb:GetItem", GENERATIONS): READ_BACK,
    (
        "ClerkWebhookFunction",
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:123456789012:table/ErasedPeopleTable",
    ): "the read after a refused put that returned no item (mediagen.data.erased_people: find)",
    (
        "LivePublisherFunction",
        "sqs:SendMessage",
        "arn:aws:sqs:us-east-1:123456789012:LivePublishDeadLetterQueue",
    ): "the stream's event source mapping (Lambda, not the code) sends the records it gives up on to its "
    "on-failure destination with the function's role; SAM grants it too (...GenerationsStreamSQSPolicy)",
}


def recorded_calls() -> list[Call]:
    import os

    directory = os.environ[aws_calls.VARIABLE]
    return [
        Call(entry["function"], entry["action"], entry["resource"], entry["operation"])
        for entry in aws_calls.recorded(directory)
    ]


def whole_suites_ran(config: pytest.Config, items: list[pytest.Item]) -> bool:
    """This session ran every test of the integration and e2e suites (not a selection of them)."""
    options = config.option
    if any(getattr(options, name, None) for name in ("keyword", "markexpr", "lf", "deselect")):
        return False
    root = Path(str(config.rootpath))
    arguments = [Path(arg.split("::")[0]) for arg in config.args] or [root / "tests"]
    whole = {(root / suite).resolve() for suite in SUITES}
    covered = {
        suite
        for suite in whole
        for argument in arguments
        if "::" not in str(argument)
        and (suite == argument.resolve() or suite.is_relative_to(argument.resolve()))
    }
    ran = {Path(str(item.path)).resolve() for item in items}
    return covered == whole and all(any(path.is_relative_to(suite) for path in ran) for suite in whole)


@pytest.mark.after_suites
def test_every_call_a_function_made_is_allowed_by_its_role(request: pytest.FixtureRequest) -> None:
    calls = recorded_calls()
    if not calls:
        assert not whole_suites_ran(request.config, request.session.items), (
            "the integration and e2e suites ran, yet no function's AWS call was recorded"
        )
        pytest.skip(
            "no function made an AWS call in this session: run this file with the tests that drive them "
            "(make test, or pytest tests/integration tests/e2e)"
        )
    problems = denied(calls, roles())
    assert problems == [], "AccessDenied waiting to happen:\n" + "\n".join(problems)


@pytest.mark.after_suites
def test_every_grant_is_used_or_says_why(request: pytest.FixtureRequest) -> None:
    if not whole_suites_ran(request.config, request.session.items):
        pytest.skip(
            "a grant is unused only if no test of the whole integration and e2e suites used it: "
            "run them all with this file (make test)"
        )
    calls = recorded_calls()
    found = unused(calls, roles())
    for (function, action, resource), grant in found.items():
        if grant.managed_reason:
            print(f"{function} may {action} on {resource}: {grant.source}, {grant.managed_reason}")
    inline = {key: grant for key, grant in found.items() if not grant.managed_reason}
    unexplained = sorted(
        f"{function} may {action} on {resource} ({grant.source})"
        for (function, action, resource), grant in inline.items()
        if (function, action, resource) not in UNUSED_BECAUSE
    )
    assert unexplained == [], "granted, never called; remove it or say why in UNUSED_BECAUSE:\n" + "\n".join(
        unexplained
    )
    stale = sorted(str(key) for key in UNUSED_BECAUSE if key not in inline)
    assert stale == [], f"UNUSED_BECAUSE explains grants that are used now, or gone: {stale}"


# --- the check itself, on the real roles -------------------------------------------------------------


def without(role: Role, action: str) -> Role:
    """The role less every statement that grants `action` (a grant removed from template.yaml)."""
    return Role(role.function, [grant for grant in role.grants if action not in grant.actions])


def test_a_removed_grant_is_an_access_denied() -> None:
    """Given the generate function's real role, its job's put in the transaction and its dispatch
    message are allowed; without the sqs:SendMessage statement, the send is reported."""
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/GenerationsTable"
    queue = "arn:aws:sqs:us-east-1:123456789012:DispatchQueue"
    calls = [
        Call("GenerateFunction", "dynamodb:PutItem", table, "TransactWriteItems"),
        Call("GenerateFunction", "sqs:SendMessage", queue, "SendMessage"),
    ]
    real = roles()
    assert denied(calls, real) == []
    broken = {**real, "GenerateFunction": without(real["GenerateFunction"], "sqs:SendMessage")}
    assert denied(calls, broken) == [
        f"GenerateFunction: SendMessage needs sqs:SendMessage on {queue}: not allowed by GenerateFunctionRole"
    ]


def test_the_resource_counts_not_only_the_action() -> None:
    """UpdateItem is granted to the cancel function on the jobs table only: on another table, refused;
    an index is not its table; a call on a name no environment variable carries is refused."""
    real = roles()
    other = "arn:aws:dynamodb:us-east-1:123456789012:table/NotificationsTable"
    assert denied([Call("CancelGenerationFunction", "dynamodb:UpdateItem", other, "UpdateItem")], real)
    index = "arn:aws:dynamodb:us-east-1:123456789012:table/NotificationsTable/index/unread"
    assert not denied([Call("NotificationsFunction", "dynamodb:Query", index, "Query")], real)
    assert denied(
        [Call("StuckJobSweeperFunction", "dynamodb:Query", index, "Query")], real
    )  # its grant is its own index
    unknown = "(not named by the function's environment: test-generations)"
    assert denied([Call("GenerationStatusFunction", "dynamodb:GetItem", unknown, "GetItem")], real)


def test_an_explicit_deny_wins() -> None:
    allow = Grant("Allow", ("s3:*",), ("arn:aws:s3:::MediaBucket/*",), "a")
    deny = Grant("Deny", ("s3:GetObject",), ("arn:aws:s3:::MediaBucket/private/*",), "b")
    role = Role("F", [allow, deny])
    assert role.allows("s3:GetObject", "arn:aws:s3:::MediaBucket/images/<key>")
    assert not role.allows("s3:GetObject", "arn:aws:s3:::MediaBucket/private/<key>")


def test_calls_become_the_actions_iam_checks() -> None:
    """A transaction needs each item's own action; a batch its batch action; a list the bucket's
    ListBucket; an unknown name stays visible in the resource."""
    needs = aws_calls.needs
    transaction = needs(
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "x"}}, {"ConditionCheck": {"TableName": "y"}}]},
    )
    assert [action for action, _ in transaction] == ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"]
    assert "x" in transaction[0][1]
    assert needs("s3", "ListObjectsV2", {"Bucket": "b"})[0][0] == "s3:ListBucket"
    assert (
        needs("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "images/j/0.png"}]}})[0][
            0
        ]
        == "s3:DeleteObject"
    )
    assert needs("sqs", "SendMessageBatch", {"QueueUrl": "u"})[0][0] == "sqs:SendMessage"
    assert needs("sts", "GetCallerIdentity", {}) == [("sts:GetCallerIdentity", "*")]
