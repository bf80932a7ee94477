"""`timetrack-sync sync` when something other than the API answers: exit 1, zero writes.

A proxy's HTML login page or a truncated body, while listing or while confirming an absence,
is a protocol error naming the content type and the first bytes, never a listing of nobody.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from tests.e2e.test_cli import cli
from tests.syncenv import API_KEY, API_SECRET, make_env, person, tt_user

PEOPLE = 1_100  # two list pages: the first full, so a delete after it shifts the second


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    for n in range(PEOPLE):
        state.add_user(**tt_user(n))
    with serve_in_thread(state) as running:
        yield running


@pytest.mark.parametrize(
    ("proxy", "named"),
    [
        # The login page's own first bytes, tags kept: they show what answered.
        ("login", r"\(content type text/html; charset=utf-8, 301 bytes\): '<!DOCTYPE html> <html"),
        # The API's own first bytes, and where the JSON broke off (near its very end).
        (
            "truncated",
            r"\(content type application/json, \d+ bytes; Expecting \w+ at char \d+\): "
            r"'\[\{\"id\":1,\"personalNumber\":\"E-00000\",",
        ),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True], ids=["sync", "dry_run"])
def test_a_proxy_answering_the_listing_fails_the_run_with_zero_writes(
    tmp_path: Path, emu: RunningEmulator, proxy: str, named: str, dry_run: bool
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(PEOPLE + 5)])
    emu.state.set_options(proxy_page=proxy)
    result = cli(env, "sync", *(["--dry-run"] if dry_run else []))
    assert result.returncode == 1, result.stdout + result.stderr
    (error,) = (line for line in result.stdout.splitlines() if line.startswith("error: "))
    assert error.startswith("error: GET /api/v2/ext/users: HTTP 200: the answer is not JSON ")
    assert re.search(named, error), error
    assert "Traceback" not in result.stderr
    assert API_SECRET not in result.stdout + result.stderr
    assert emu.state.writes == []
    assert len(emu.state.users()) == PEOPLE


def test_a_login_page_answering_the_confirmation_fails_the_run_with_zero_writes(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(PEOPLE)])
    adopted = cli(env, "sync")
    assert adopted.returncode == 0, adopted.stderr
    assert emu.state.writes == []
    # An admin deletes user0 once page 0 is served (page 1 then skips user1000), and the
    # proxy answers every request after the two list pages: the GET that confirms user1000.
    answered = sum(emu.state.request_count.values())
    emu.state.set_options(delete_during_listing=1, proxy_page="login", proxy_after=answered + 2)
    result = cli(env, "sync")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "GET /api/v2/ext/users/1001: HTTP 200: the answer is not JSON" in output
    assert "content type text/html" in output
    assert "Sign in" in output
    assert emu.state.writes == []
