"""Notifications end to end: real runs, a real SMTP server and a real webhook on 127.0.0.1.

Each run gets its time (`now=`), so `repeat_after` and `offboarding_after` are crossed
without sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sync.notify.deliver import SIGNATURE_HEADER
from sync.timetrack.emulator import RunningEmulator
from tests.e2e.test_cli import cli
from tests.notify_receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    Hook,
    Mailbox,
    free_port,
    smtp_server,
    webhook_receiver,
)
from tests.syncenv import API_SECRET, SyncEnv, make_env, person, run, write_csv

T0 = datetime(2030, 6, 1, 3, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
HOOK_SECRET = "hook-signing-secret-value"
EVERYTHING = "[failed, guarded, recovered, conflicts, offboarding]"


def secret_file(folder: Path, name: str, value: str) -> Path:
    path = folder / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def with_notify(env: SyncEnv, *, smtp_port: int, hook_url: str, on: str = EVERYTHING) -> SyncEnv:
    """Add an email and a webhook target to the env's config."""
    password = secret_file(env.dir, "smtp_password", SMTP_PASSWORD)
    signing = secret_file(env.dir, "webhook_secret", HOOK_SECRET)
    env.config.write_text(
        env.config.read_text()
        + f"""\
notify:
  - type: email
    smtp_host: 127.0.0.1
    smtp_port: {smtp_port}
    starttls: false
    username: {SMTP_USER}
    password_file: {password}
    from: timetrack-sync@example.com
    to: [it-admins@example.com]
    on: {on}
    timeout_seconds: 2
  - type: webhook
    url: {hook_url}
    secret_file: {signing}
    on: {on}
    timeout_seconds: 2
"""
    )
    return env


def no_secret_in(box: Mailbox, hook: Hook) -> None:
    delivered = b"".join(box.raw) + b"".join(body for _, body in hook.posts)
    for secret in (API_SECRET, SMTP_PASSWORD, HOOK_SECRET):
        assert secret.encode() not in delivered


def test_a_failing_job_is_told_once_reminded_after_a_day_and_its_recovery_told(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(3)]
    with smtp_server() as (port, box), webhook_receiver() as (url, hook):
        env = with_notify(make_env(tmp_path, emu.url, rows), smtp_port=port, hook_url=url)
        assert run(env, now=T0).status == "succeeded"
        assert box.messages == [] and hook.posts == []  # nothing to tell
        env.csv.unlink()  # the export is gone: every run now fails
        for hours in (1, 2, 3):
            assert run(env, now=T0 + hours * HOUR).status == "failed"
        assert len(box.messages) == 1  # three failed runs, one notice
        assert len(hook.posts) == 1
        run(env, now=T0 + 26 * HOUR)  # a day after the notice: a reminder
        assert len(box.messages) == 2 and len(hook.posts) == 2
        write_csv(env.csv, rows)
        assert run(env, now=T0 + 27 * HOUR).status == "succeeded"
        assert run(env, now=T0 + 28 * HOUR).status == "succeeded"

        subjects = box.subjects()
        assert [s.split(": ")[1].split(" (")[0] for s in subjects] == [
            "failed",
            "failed",
            "recovered",
        ]
        assert subjects[0].startswith("[timetrack-sync] hr: failed (exit 1: ")
        assert str(env.csv) in subjects[0]  # the cause, as the run's error names it
        failed = box.messages[0]
        assert failed["To"] == "it-admins@example.com"
        text = failed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Status: failed (exit 1)" in text and "timetrack-sync status --job hr" in text
        assert failed.get_body(("html",)) is not None
        events = [json.loads(body)["event"] for _, body in hook.posts]
        assert events == ["failed", "failed", "recovered"]
        for headers, body in hook.posts:
            expected = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
        no_secret_in(box, hook)


def test_guards_new_conflicts_and_long_waiting_leavers_are_told_once(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rows = [person(n) for n in range(6)]
    with smtp_server() as (port, box), webhook_receiver() as (url, hook):
        policy = (
            "delete: false\nmax_deletes: 1\nmax_delete_percent: 50\nmax_source_shrink_percent: 60"
        )
        env = make_env(tmp_path, emu.url, rows, policy=policy)
        with_notify(env, smtp_port=port, hook_url=url)
        assert run(env, now=T0).status == "succeeded"
        write_csv(env.csv, rows[3:])  # three leave at once: over max_deletes
        assert run(env, now=T0 + HOUR).status == "guarded"
        assert box.subjects() == [
            "[timetrack-sync] hr: guarded (max_deletes: 3 users to lock or delete, more than"
            " jobs[].policy.max_deletes = 1)"
        ]
        write_csv(env.csv, rows[1:])  # only one left: within the limit, locked
        emu.state.add_user(
            username="user9",
            firstName="Other",
            lastName="Person",
            email="other@example.com",
            personalNumber="X-9",
        )
        write_csv(env.csv, [*rows[1:], person(9)])  # user9 is taken: a conflict
        assert run(env, now=T0 + 2 * HOUR).status == "succeeded"
        assert box.subjects()[1:] == [
            "[timetrack-sync] hr: recovered (run 3 succeeded)",
            "[timetrack-sync] hr: 1 new conflicts",
        ]
        assert run(env, now=T0 + 3 * HOUR).status == "succeeded"
        assert len(box.messages) == 3  # the conflict is not told again
        run(env, now=T0 + 4 * 24 * HOUR)  # the locked leaver has waited over 3 days
        assert box.subjects()[3:] == ["[timetrack-sync] hr: 1 leavers still enabled"]
        assert "Leaver user0" in box.messages[3].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        run(env, now=T0 + 4 * 24 * HOUR + HOUR)
        assert len(box.messages) == 4
        no_secret_in(box, hook)


def test_a_dead_server_does_not_fail_the_run_and_the_notice_comes_with_the_next_run(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    port = free_port()  # nothing listens there yet
    with webhook_receiver() as (url, hook):
        hook.status = 500
        env = with_notify(
            make_env(tmp_path, emu.url, [person(0)]), smtp_port=port, hook_url=url, on="[every_run]"
        )
        first = run(env, now=T0)
        assert (first.status, first.exit_code, first.notices_failed) == ("succeeded", 0, 2)
        hook.status = 200
        with smtp_server(port) as (_, box):
            second = run(env, now=T0 + HOUR)
            assert second.notices_failed == 0
            assert len(box.messages) == 1 and box.subjects()[0].startswith(
                "[timetrack-sync] hr: succeeded ("
            )
        assert [json.loads(body)["event"] for _, body in hook.posts[-1:]] == ["every_run"]


def test_notify_test_sends_to_each_target_and_shows_the_answer(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    with smtp_server() as (port, box), webhook_receiver() as (url, hook):
        env = with_notify(make_env(tmp_path, emu.url, [person(0)]), smtp_port=port, hook_url=url)
        done = cli(env, "notify", "test")
        assert done.returncode == 0, done.stderr
        assert f"notify[0] email to it-admins@example.com via 127.0.0.1:{port}: sent" in done.stdout
        assert "notify[1] webhook (json) to 127.0.0.1: sent; 127.0.0.1 answered 200" in done.stdout
        assert box.subjects() == ["[timetrack-sync] test notice"]
        assert json.loads(hook.posts[0][1])["event"] == "test"
        hook.status = 503
        failing = cli(env, "notify", "test", "--target", "1")
        assert failing.returncode == 1
        assert (
            "notify[1] webhook (json) to 127.0.0.1: FAILED: 127.0.0.1 answered 503"
            in failing.stdout
        )
        assert "/hooks/" not in failing.stdout + failing.stderr  # the URL's path: a token
        no_secret_in(box, hook)


def test_doctor_tries_each_target_without_sending(tmp_path: Path, emu: RunningEmulator) -> None:
    with smtp_server() as (port, box), webhook_receiver() as (url, hook):
        env = with_notify(make_env(tmp_path, emu.url, [person(0)]), smtp_port=port, hook_url=url)
        done = cli(env, "doctor")
        assert done.returncode == 0, done.stdout + done.stderr
        assert (
            f"notify[0]: email to it-admins@example.com via 127.0.0.1:{port}: the server answers"
            " (250), login accepted" in done.stdout
        )
        assert "notify[1]: webhook (json) to 127.0.0.1: not contacted" in done.stdout
        assert box.messages == [] and hook.posts == []
    dead = cli(env, "doctor")
    assert dead.returncode == 1
    assert f"FAIL notify[0]: cannot reach 127.0.0.1:{port}" in dead.stdout
