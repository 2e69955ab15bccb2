"""The merge rules as plain functions (no database, no AWS): milliseconds. The database-backed tests
prove the same rules end to end; these pin the edge cases and the memory bound."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from migration.legacy import LegacyGeneration, LegacyNotification
from migration.rules import LOST_ERROR, JobPlan, Planner

T = datetime(2025, 10, 23, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
DONE = "IMAGE_COMPLETED"


class Recorded:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def entry(self, section: str, **fields: object) -> None:
        self.entries.append((section, fields))


def generation(
    id_: str, at: datetime, status: str = "PENDING", size: str = "1024x1024", **fields: Any
) -> LegacyGeneration:
    values: dict[str, Any] = {
        "id": id_,
        "author_id": "u_alice",
        "author_clerk_id": "user_alice",
        "organization_id": None,
        "organization_clerk_id": None,
        "prompt": "prompt",
        "model": "m",
        "num_images": 1,
        "size": size,
        "status": status,
        "progress": 0,
        "error_message": None,
        "created_at": at,
        "updated_at": at,
        "completed_at": at if status in ("COMPLETED", "FAILED") else None,
        "files": (),
        "notifications": (),
        **fields,
    }
    return LegacyGeneration(**values)


def uuid_of(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def run(*generations: LegacyGeneration, window: timedelta = WINDOW) -> tuple[list[JobPlan], Recorded]:
    recorded = Recorded()
    planner = Planner(window, recorded)
    plans = [plan for g in generations for plan in planner.feed(g)] + planner.finish()
    return plans, recorded


def by_rule(plans: list[JobPlan]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for plan in plans:
        found.setdefault(plan.rule, set()).add(str(plan.job.job_id))
    return found


@pytest.mark.parametrize(
    ("gap", "merges"),
    [
        (timedelta(minutes=30), True),
        (timedelta(minutes=30, milliseconds=1), False),
        (timedelta(milliseconds=1), True),
        (timedelta(0), False),  # F must be created before U
    ],
)
def test_the_window_edge(gap: timedelta, merges: bool) -> None:
    plans, _ = run(generation("cm_f", T), generation(uuid_of(1), T + gap, "COMPLETED"))
    rules = by_rule(plans)
    if merges:
        assert rules == {"merged": {"cm_f"}}
        [plan] = plans
        assert plan.alias is not None and plan.alias.alias_of == "cm_f"
    else:
        assert rules == {"unattributed": {uuid_of(1)}, "lost": {"cm_f"}}


def test_a_tie_merges_nothing_and_both_stay_candidates() -> None:
    plans, recorded = run(
        generation("cm_a", T),
        generation("cm_b", T),
        generation(uuid_of(1), T + timedelta(minutes=1), "COMPLETED"),
    )
    assert by_rule(plans) == {"unattributed": {uuid_of(1)}, "lost": {"cm_a", "cm_b"}}
    assert ("ties", {"uuid": uuid_of(1), "candidates": ["cm_a", "cm_b"], "created_at": T}) in recorded.entries


def test_oldest_uuid_first_takes_the_closest_then_the_next_takes_what_is_left() -> None:
    plans, _ = run(
        generation("cm_far", T),
        generation("cm_near", T + timedelta(minutes=10)),
        generation(uuid_of(1), T + timedelta(minutes=12), "COMPLETED"),
        generation(uuid_of(2), T + timedelta(minutes=20), "COMPLETED"),
    )
    aliases = {str(p.alias.job_id): p.job.job_id for p in plans if p.alias is not None}
    assert aliases == {uuid_of(1): "cm_near", uuid_of(2): "cm_far"}


def test_only_the_same_model_images_and_size_merge() -> None:
    plans, _ = run(
        generation("cm_size", T, size="512x512"),
        generation("cm_count", T, num_images=4),
        generation("cm_model", T, model="other"),
        generation("cm_done", T, "COMPLETED"),  # finished: not a candidate
        generation(uuid_of(1), T + timedelta(minutes=1), "COMPLETED"),
    )
    rules = by_rule(plans)
    assert rules["unattributed"] == {uuid_of(1)}
    assert rules["lost"] == {"cm_size", "cm_count", "cm_model"}
    assert rules["as_was"] == {"cm_done"}


def test_merged_job_takes_f_identity_and_u_outcome_and_the_author_gets_the_notification() -> None:
    old = LegacyNotification("n1", "u_first", "user_first", "IMAGE_COMPLETED", "t", "m", True, T)
    front = generation("cm_f", T, prompt="the real prompt")
    record = generation(
        uuid_of(1),
        T + timedelta(minutes=5),
        "COMPLETED",
        author_id="u_first",
        author_clerk_id="user_first",
        prompt="rebuilt",
        progress=100,
        notifications=(old,),
    )
    [plan], recorded = run(front, record)
    job = plan.job
    assert (job.job_id, job.author_id, job.prompt, job.status, job.progress, job.source) == (
        "cm_f",
        "user_alice",
        "the real prompt",
        "completed",
        100,
        "api",
    )
    assert job.created_at == T and job.completed_at == T + timedelta(minutes=5)
    assert job.in_flight is None
    assert plan.notification is not None
    assert (plan.notification.user_id, plan.notification.read, plan.notification.unread_user_id) == (
        "user_alice",
        True,
        None,
    )
    assert recorded.counts["notifications.readdressed"] == 1
    # A moved notification is counted as moved, its read state under its own heading, not as carried
    assert recorded.counts.get("notifications.readdressed_read") == 1
    assert (
        "notifications.carried_read" not in recorded.counts and "notifications.carried" not in recorded.counts
    )


def test_only_the_authors_own_read_notifications_count_as_carried_and_read() -> None:
    """4,200 carried and 1,500 moved notifications printed "1,500 of which already read" under the
    carried ones, none of which was read."""
    plans = []
    for n in range(3):
        read_by_first_user = LegacyNotification(
            f"m{n}", "u_first", "user_first", "IMAGE_COMPLETED", "t", "m", True, T
        )
        unread_own = LegacyNotification(
            f"o{n}", "u_alice", "user_alice", "IMAGE_COMPLETED", "t", "m", False, T
        )
        plans += [
            generation(f"cm_done_{n}", T + timedelta(hours=n), "COMPLETED", notifications=(unread_own,)),
            generation(f"cm_f_{n}", T + timedelta(hours=n, minutes=1)),
            generation(
                uuid_of(n), T + timedelta(hours=n, minutes=5), "COMPLETED", author_id="u_first",
                author_clerk_id="user_first", notifications=(read_by_first_user,),
            ),
        ]  # fmt: skip
    _, recorded = run(*plans)
    assert (recorded.counts["notifications.carried"], recorded.counts["notifications.readdressed"]) == (3, 3)
    assert recorded.counts.get("notifications.carried_read", 0) == 0
    assert recorded.counts["notifications.readdressed_read"] == 3


def test_lost_job_is_failed_without_notification() -> None:
    [plan], _ = run(generation("cm_lost", T, "PROCESSING", progress=40))
    assert (plan.rule, plan.job.status, plan.job.error, plan.job.progress) == (
        "lost",
        "failed",
        LOST_ERROR,
        40,
    )
    assert plan.notification is None and plan.job.in_flight is None


def test_memory_follows_the_window_not_the_history() -> None:
    """A week of history, one unfinished front-end job a minute: the planner never holds more than
    the window's worth of candidates."""
    recorded = Recorded()
    planner = Planner(WINDOW, recorded)
    most = 0
    for minute in range(60 * 24 * 7):
        for _ in planner.feed(generation(f"cm_{minute}", T + timedelta(minutes=minute))):
            pass
        most = max(most, planner.held)
    assert most <= 31
    assert len(planner.finish()) <= 31
    assert recorded.counts["jobs.lost"] == 60 * 24 * 7


def test_generations_out_of_order_are_refused() -> None:
    planner = Planner(WINDOW, Recorded())
    planner.feed(generation("cm_b", T))
    with pytest.raises(ValueError, match="oldest first"):
        planner.feed(generation("cm_a", T - timedelta(seconds=1)))
