"""Which notices a run owes (pure), what they say, and the notify config's rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sync.config.notify import EmailTarget, WebhookTarget
from sync.errors import SourceError
from sync.model import Conflict, ConflictKind, GuardVerdict, Plan
from sync.notify.events import STATUS, decide
from sync.notify.messages import notice_for
from sync.report import RunReport, RunStatus

NOW = datetime(2030, 6, 1, 3, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def target(**changes: Any) -> WebhookTarget:
    return WebhookTarget.model_validate(
        {"type": "webhook", "url": "https://hooks.example.com/x", **changes}
    )


def report(
    status: RunStatus, *, conflicts: tuple[str, ...] = (), dry_run: bool = False
) -> RunReport:
    found = tuple(Conflict(ConflictKind.USERNAME_TAKEN, k, f"u{k}", "taken") for k in conflicts)
    done = RunReport(job="hr", run_id=7, dry_run=dry_run, plan=Plan(conflicts=found))
    done.end(status)
    return done


def events(status: RunStatus, sent: dict[str, tuple[str, datetime]], **kw: Any) -> list[str]:
    on = kw.pop("on", ("failed", "guarded", "recovered", "conflicts"))
    return [d.event for d in decide(report(status, **kw), target(on=on), sent, NOW).due]


def test_a_failure_is_told_once_then_reminded_after_repeat_after() -> None:
    assert events(RunStatus.FAILED, {}) == ["failed"]
    assert events(RunStatus.FAILED, {STATUS: ("failed", NOW - HOUR)}) == []
    assert events(RunStatus.PARTIAL, {STATUS: ("failed", NOW - 25 * HOUR)}) == ["failed"]
    assert events(RunStatus.GUARDED, {STATUS: ("failed", NOW - HOUR)}) == ["guarded"]


def test_recovered_goes_only_to_a_target_told_of_the_failure() -> None:
    assert events(RunStatus.SUCCEEDED, {}) == []
    assert events(RunStatus.SUCCEEDED, {STATUS: ("guarded", NOW - HOUR)}) == ["recovered"]
    quiet = decide(
        report(RunStatus.SUCCEEDED), target(on=("failed",)), {STATUS: ("failed", NOW)}, NOW
    )
    assert quiet.due == [] and quiet.forget == {STATUS}


def test_conflicts_are_told_when_new_and_forgotten_when_over() -> None:
    sent = {"conflict:1": ("taken", NOW - 48 * HOUR)}
    decision = decide(
        report(RunStatus.SUCCEEDED, conflicts=("1", "2")), target(on=("conflicts",)), sent, NOW
    )
    [due] = decision.due
    assert [c.key for c in due.conflicts] == ["2"] and set(due.record) == {"conflict:2"}
    over = decide(report(RunStatus.SUCCEEDED), target(on=("conflicts",)), sent, NOW)
    assert over.due == [] and over.forget == {"conflict:1"}


def test_dry_runs_tell_nothing() -> None:
    assert events(RunStatus.FAILED, {}, dry_run=True, on=("failed", "every_run")) == []


def test_a_notice_names_job_status_guard_and_the_command_to_look_closer() -> None:
    guarded = RunReport(job="hr", run_id=9, dry_run=False)
    verdict = GuardVerdict(
        "max_deletes", True, False, "212 users to lock or delete, more than 25; no"
    )
    guarded.plan = Plan(guards=(verdict,))
    guarded.end(RunStatus.GUARDED)
    [due] = decide(guarded, target(), {}, NOW).due
    notice = notice_for(guarded, due)
    assert (
        notice.subject
        == "[timetrack-sync] hr: guarded (max_deletes: 212 users to lock or delete, more than 25)"
    )
    assert "Status: guarded (exit 3)" in notice.text
    assert "timetrack-sync plan --job hr --out plan.json" in notice.text
    assert json.loads(notice.body("json"))["event"] == "guarded"
    assert json.loads(notice.body("slack"))["text"].startswith("*[timetrack-sync] hr: guarded")
    teams = json.loads(notice.body("teams"))
    assert teams["@type"] == "MessageCard" and teams["title"] == notice.subject


def test_a_failed_run_names_its_error() -> None:
    failed = RunReport(job="hr", run_id=3, dry_run=False)
    failed.end_with_error(SourceError("cannot read CSV /srv/people.csv: file not found"))
    [due] = decide(failed, target(), {}, NOW).due
    assert notice_for(failed, due).subject == (
        "[timetrack-sync] hr: failed (exit 1: cannot read CSV /srv/people.csv: file not found)"
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"type": "webhook", "url": "http://hooks.example.com/x"}, "must be an https:// URL"),
        ({"type": "webhook", "url": "https://h.example.com/x", "on": []}, "at least one event"),
        (
            {
                "type": "email",
                "smtp_host": "smtp.example.com",
                "starttls": False,
                "from": "a@b.c",
                "to": ["x@y.z"],
            },
            "only allowed for a relay on this machine",
        ),
        (
            {
                "type": "email",
                "smtp_host": "127.0.0.1",
                "username": "u",
                "from": "a@b.c",
                "to": ["x@y.z"],
            },
            "set both username and password_file",
        ),
    ],
)
def test_unsafe_or_incomplete_targets_are_config_errors(data: dict[str, Any], problem: str) -> None:
    model = EmailTarget if data["type"] == "email" else WebhookTarget
    with pytest.raises(ValidationError, match=problem):
        model.model_validate(data)


def test_a_webhook_target_never_shows_its_url_path() -> None:
    hook = target(url="https://hooks.slack.com/services/T000/B000/SECRETTOKEN")
    assert "SECRETTOKEN" not in hook.identity and hook.host == "hooks.slack.com"
