"""Listings the sync can trust: an admin changing users while we page, over real HTTP.

The emulator's churn switches delete (or create) a user right after a full page was served,
the way an admin in the web UI would: offset paging then skips the first user of the next
page. Neither the client (with a total to compare) nor the engine (without one, by asking
`GET users/{id}` for the owned users the listing lacks) may act on that false absence.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from sync.model import Action, Operation, match_key
from sync.state.store import StateStore
from sync.timetrack.client import ClientSettings, TimeTrackClient
from sync.timetrack.emulator import RunningEmulator
from tests.emulator_fixtures import running_emulator
from tests.syncenv import (
    API_KEY,
    API_SECRET,
    SyncEnv,
    journal,
    leave_pending,
    make_env,
    person,
    run,
    tt_user,
    usernames,
    write_csv,
)

PEOPLE = 2_500  # three pages of 1,000: page 0 and 1 full, so two boundaries can shift


def client_for(emu: RunningEmulator) -> TimeTrackClient:
    settings = ClientSettings(
        url=emu.url, api_key=API_KEY, api_secret=API_SECRET, requests_per_second=0
    )
    return TimeTrackClient(settings)


@pytest.fixture
def churning() -> Iterator[RunningEmulator]:
    """An emulator holding the TimeTrack users of PEOPLE people (ids 1..PEOPLE)."""
    with running_emulator(api_key=API_KEY, api_secret=API_SECRET) as emu:
        for n in range(PEOPLE):
            emu.state.add_user(**tt_user(n))
        yield emu


def adopted_env(
    tmp_path: Path, emu: RunningEmulator, people: int = PEOPLE, policy: str = "delete: true"
) -> SyncEnv:
    """A job that has adopted the first `people` users (no writes); counters cleared."""
    env = make_env(tmp_path, emu.url, [person(n) for n in range(people)], policy=policy)
    first = run(env)
    assert (first.status, first.summary()["adopt"]) == ("succeeded", people)
    assert emu.state.writes == []
    emu.state.reset_counters()
    return env


def tt_id(emu: RunningEmulator, username: str) -> str:
    (user,) = (u for u in emu.state.users() if u["username"] == username)
    return str(user["id"])


def linked_ids(env: SyncEnv) -> dict[str, str]:
    with StateStore(env.state_url) as store:
        return {key: link.tt_id for key, link in store.load_links("hr").items()}


# -- the emulator stages it, the client sees it -------------------------------------------


def test_a_delete_after_page_0_makes_offset_paging_skip_one_living_user(
    churning: RunningEmulator,
) -> None:
    churning.state.set_options(delete_during_listing=1)
    with client_for(churning) as client:
        listed = {u.id for u in client.list_users()}
    there = {str(u["id"]) for u in churning.state.users()}
    assert "1" in listed and "1" not in there  # deleted by the admin once page 0 was served
    assert there - listed == {"1001"}  # the first user of page 1 moved onto page 0: skipped
    assert churning.state.options.delete_during_listing == 0
    assert churning.state.writes == []  # an admin's change, not an API write


@pytest.mark.parametrize(
    ("shape", "total"), [("data", "total"), ("users", "totalCount"), ("results", "meta.total")]
)
def test_with_a_total_the_client_reads_a_changed_listing_again(
    churning: RunningEmulator, shape: str, total: str
) -> None:
    churning.state.set_options(list_shape=shape, list_total=total, delete_during_listing=1)
    with capture_logs() as logs, client_for(churning) as client:
        listed = sorted(u.id for u in client.list_users())
    assert listed == sorted(str(u["id"]) for u in churning.state.users())
    assert churning.state.request_count == {"GET": 6}  # two readings of three pages
    assert [e["event"] for e in logs if e["event"].startswith("list_")] == [
        "list_changed_while_paging"
    ]


def test_a_user_created_mid_listing_changes_the_total_and_is_listed(
    churning: RunningEmulator,
) -> None:
    churning.state.set_options(list_shape="data", list_total="total", create_during_listing=1)
    with client_for(churning) as client:
        listed = {u.username for u in client.list_users()}
    assert len(listed) == PEOPLE + 1
    assert "admin.created1" in listed


def test_a_total_that_never_agrees_merges_both_readings_with_a_warning(
    churning: RunningEmulator,
) -> None:
    # Every full page deletes its first user: both readings shift, neither agrees.
    churning.state.set_options(list_shape="data", list_total="total", delete_during_listing=4)
    with capture_logs() as logs, client_for(churning) as client:
        listed = {u.id for u in client.list_users()}
    there = {str(u["id"]) for u in churning.state.users()}
    deleted = {str(n) for n in range(1, PEOPLE + 1)} - there
    assert len(deleted) == 4
    assert any(e["event"] == "list_total_mismatch" for e in logs)
    assert there - listed == set()  # whatever a reading saw is kept, never assumed gone
    assert listed - there == deleted  # each was read before the admin deleted it


# -- the engine acts on no false absence ----------------------------------------------------


def test_admin_deleting_a_user_during_the_listing_causes_no_create_delete_or_failure(
    tmp_path: Path, churning: RunningEmulator
) -> None:
    env = adopted_env(tmp_path, churning)
    churning.state.set_options(delete_during_listing=1)
    with capture_logs() as logs:
        report = run(env)
    assert (report.status, report.exit_code) == ("succeeded", 0)
    summary = report.summary()
    assert (summary["create"], summary["delete"], summary["lock"], summary["failed"]) == (0,) * 4
    assert summary["unchanged"] == PEOPLE
    assert churning.state.writes == []
    # Three list pages, and one GET users/{id}: for the one owned user the listing skipped.
    assert churning.state.request_count == {"GET": 4}
    (confirmed,) = (e for e in logs if e["event"] == "listing_absences_confirmed")
    assert (confirmed["asked"], confirmed["skipped_by_listing"]) == (1, 1)
    assert confirmed["skipped_ids"] == ["1001"]
    assert len(linked_ids(env)) == PEOPLE


def test_the_user_the_admin_deleted_is_confirmed_gone_next_run_and_recreated(
    tmp_path: Path, churning: RunningEmulator
) -> None:
    env = adopted_env(tmp_path, churning)
    churning.state.set_options(delete_during_listing=1)
    assert run(env).summary()["create"] == 0  # user0 was listed on page 0, before the delete
    churning.state.reset_counters()
    with capture_logs() as logs:
        report = run(env)
    (confirmed,) = (e for e in logs if e["event"] == "listing_absences_confirmed")
    assert (confirmed["asked"], confirmed["absent"]) == (1, 1)  # GET users/1 answered 404
    # The person is still in HR: a link whose user is gone is stale and the person is
    # created again (planner rule 3); nothing else is touched.
    assert report.status == "succeeded"
    assert [(w.method, w.username) for w in churning.state.writes] == [("POST", "user0")]
    assert usernames(churning)["user0"] == 1
    assert linked_ids(env)[match_key("personalNumber", "E-00000")] == tt_id(churning, "user0")


def test_a_leaver_the_admin_deleted_mid_listing_ends_as_a_stale_link_without_writes(
    tmp_path: Path, churning: RunningEmulator
) -> None:
    env = adopted_env(tmp_path, churning, policy="delete: true\nleaver_grace: 30d")
    write_csv(env.csv, [person(0, status="inactive"), *(person(n) for n in range(1, PEOPLE))])
    churning.state.set_options(delete_during_listing=1)
    during = run(env)  # user0 listed, then deleted: a leaver in its grace, nothing to write
    assert (during.status, during.summary()["failed"]) == ("succeeded", 0)
    after = run(env)  # GET users/1 answers 404: the link is stale and dropped
    assert after.status == "succeeded"
    assert churning.state.writes == []
    assert match_key("personalNumber", "E-00000") not in linked_ids(env)
    assert len(linked_ids(env)) == PEOPLE - 1


def test_a_dry_run_during_the_change_previews_no_create(
    tmp_path: Path, churning: RunningEmulator
) -> None:
    env = adopted_env(tmp_path, churning)
    churning.state.set_options(delete_during_listing=1)
    preview = run(env, dry_run=True, detailed_exitcode=True)
    assert preview.exit_code == 0
    assert preview.plan is not None and preview.plan.is_empty
    assert churning.state.request_count == {"GET": 4}


def test_an_offline_dry_run_confirms_nothing(tmp_path: Path, churning: RunningEmulator) -> None:
    env = adopted_env(tmp_path, churning, people=10)
    churning.state.delete(1)
    report = run(env, dry_run=True, offline=True)
    assert report.exit_code == 0
    assert churning.state.request_count == {}


def test_owned_users_truly_gone_are_confirmed_by_one_get_each(
    tmp_path: Path, churning: RunningEmulator
) -> None:
    env = adopted_env(tmp_path, churning)
    for user_id in range(1, 51):
        churning.state.delete(user_id)  # an admin removed 50 users between two runs
    report = run(env, dry_run=True)
    assert report.plan is not None
    assert report.plan.summary()["create"] == 50  # gone for real: the people are created again
    assert churning.state.request_count == {"GET": 3 + 50}


# -- the journal's pending rows are judged on confirmed absences ----------------------------


def pending(action: Action, n: int, tt: str | None, **extra: Any) -> Operation:
    return Operation(action, match_key("personalNumber", f"E-{n:05d}"), f"user{n}", tt, **extra)


def test_a_pending_delete_of_a_user_the_listing_skipped_is_not_judged_done(
    tmp_path: Path, churning: RunningEmulator
) -> None:
    env = adopted_env(tmp_path, churning)
    write_csv(env.csv, [*(person(n) for n in range(PEOPLE) if n != 1000)])
    leave_pending(env, pending(Action.DELETE, 1000, "1001"))
    churning.state.set_options(delete_during_listing=1)
    report = run(env)
    # The crashed delete never reached TimeTrack, and the listing skipped user1000: GET finds
    # it, so the row is failed (not done, which would drop the link and leave the user be)
    # and this run's plan deletes it.
    deletes = [row for row in journal(env) if row[0] == "delete"]  # newest first
    assert deletes == [("delete", "user1000", "done"), ("delete", "user1000", "failed")]
    assert report.summary()["delete"] == 1
    assert [(w.method, w.user_id) for w in churning.state.writes] == [
        ("PUT", 1001),
        ("DELETE", 1001),
    ]


def test_a_pending_create_of_a_user_the_listing_skipped_is_linked_not_repeated(
    tmp_path: Path, churning: RunningEmulator
) -> None:
    # 1,001 users: page 0 full, and user1000 (id 1001) alone on page 1; the job owns 1,000.
    churning.state.add_user(**tt_user(PEOPLE))
    env = adopted_env(tmp_path, churning, people=1000)
    for user_id in range(1002, PEOPLE + 2):
        churning.state.delete(user_id)
    leave_pending(env, pending(Action.CREATE, 1000, None))  # a crash after TimeTrack created it
    write_csv(env.csv, [person(n) for n in range(1001)])
    churning.state.set_options(delete_during_listing=1)
    report = run(env)
    assert report.summary()["create"] == 0
    assert churning.state.writes == []
    assert usernames(churning)["user1000"] == 1
    assert linked_ids(env)[match_key("personalNumber", "E-01000")] == "1001"
