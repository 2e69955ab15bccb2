"""A function's timeout is enforced in its sandbox, as Lambda does: the invocation fails with Lambda's
"Task timed out" error, and the next one finds the function initialised anew."""

import time
from collections.abc import Iterator

import pytest

from local.emulator.sandbox import Function, InvocationError, SandboxPool

SLEEPS = Function("Sleeps", "tests.integration.sandbox_functions.sleeps", timeout=1)
SWALLOWS = Function("Swallows", "tests.integration.sandbox_functions.swallows_errors", timeout=1)


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    with SandboxPool([SLEEPS, SWALLOWS], {}, sandboxes=2) as pool:
        yield pool


def test_an_invocation_past_its_timeout_fails_and_the_next_one_finds_a_new_init(pool: SandboxPool) -> None:
    # Given a sandbox that has answered twice in time
    pool.warm(SLEEPS.name, 1)
    first = pool.invoke(SLEEPS.name, {"seconds": 0})
    second = pool.invoke(SLEEPS.name, {"seconds": 0})
    assert second["initialisation"] == first["initialisation"] and second["invocations"] == 2
    assert 0 < first["remaining_ms"] <= 1000

    # When an invocation runs past the function's 1 s timeout
    started = time.monotonic()
    with pytest.raises(InvocationError, match=r"Task timed out after 1\.00 seconds"):
        pool.invoke(SLEEPS.name, {"seconds": 30})
    # Then it is stopped at the timeout (1 s), not when the handler would have returned (30 s): 25 s
    # leaves a loaded machine 24 s and still tells the two apart
    assert time.monotonic() - started < 25

    # And the next invocation runs in a function initialised anew (its module state is gone)
    after = pool.invoke(SLEEPS.name, {"seconds": 0})
    assert after["initialisation"] != first["initialisation"]
    assert after["invocations"] == 1


def test_a_handler_catching_every_exception_is_still_stopped(pool: SandboxPool) -> None:
    with pytest.raises(InvocationError, match="Task timed out"):
        pool.invoke(SWALLOWS.name, {"seconds": 30})
    assert pool.invoke(SWALLOWS.name, {"seconds": 0}) == "done"


def test_a_timeout_in_one_sandbox_leaves_the_others_invocations_alone(pool: SandboxPool) -> None:
    # When two invocations run at once, one of them past the timeout
    slow, quick = pool.invoke_all_at_once(SLEEPS.name, [{"seconds": 30}, {"seconds": 0.2}])

    # Then only that one fails
    assert isinstance(slow, InvocationError) and "Task timed out" in str(slow)
    assert isinstance(quick, dict) and quick["invocations"] >= 1
