"""The emulator's server-side rate limit over real HTTP, on a clock the test steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from tests.emulator_fixtures import API_KEY, API_SECRET, api_client, new_user, running_emulator


class SteppedClock:
    """A clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def limited(clock: SteppedClock, **options: Any) -> Iterator[RunningEmulator]:
    """An emulator of its own whose rate limit runs on `clock`."""
    opts = EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET, **options)
    with serve_in_thread(EmulatorState(opts, clock=clock)) as emu:
        yield emu


def test_above_the_limit_a_request_is_answered_429_before_it_has_any_effect() -> None:
    clock = SteppedClock()
    with (
        limited(clock, rate_limit_per_second=2, rate_limit_burst=3) as emu,
        api_client(emu) as client,
    ):
        statuses = [client.post("users", json=new_user(f"u{n}")).status_code for n in range(5)]
        refused = client.post("users", json=new_user("late"))
        clock.now += 0.5  # one token at 2 a second
        again = client.post("users", json=new_user("late"))
        stats = emu.state.stats()
        users = [u["username"] for u in emu.state.users()]
    assert statuses == [201, 201, 201, 429, 429]
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.json()["errors"][0]["status"] == 429
    assert again.status_code == 201
    assert users == ["u0", "u1", "u2", "late"]
    assert stats["throttled"] == 3
    assert stats["answers"] == {"201": 4, "429": 3}
    assert stats["requests"] == {"POST": 7}


def test_retry_after_says_in_whole_seconds_when_the_next_token_is_due() -> None:
    clock = SteppedClock()
    with (
        limited(clock, rate_limit_per_second=0.25, rate_limit_burst=1) as emu,
        api_client(emu) as client,
    ):
        assert client.get("users").status_code == 200
        first = client.get("users").headers["Retry-After"]
        clock.now += 1.5
        second = client.get("users").headers["Retry-After"]
        clock.now += 2.5
        third = client.get("users").status_code
    assert (first, second, third) == ("4", "3", 200)


def test_the_limit_sends_retry_after_as_a_date_or_not_at_all_as_configured() -> None:
    clock = SteppedClock()
    for style in ("date", None):
        with (
            limited(clock, rate_limit_per_second=0.5, rate_limit_burst=1, retry_after=style) as emu,
            api_client(emu) as client,
        ):
            client.get("users")
            refused = client.get("users")
        assert refused.status_code == 429
        header = refused.headers.get("Retry-After")
        if style is None:
            assert header is None
        else:
            assert header is not None
            due = parsedate_to_datetime(header) - datetime.now(UTC)
            assert timedelta(seconds=1) <= due <= timedelta(seconds=4)


def test_admin_routes_are_not_limited_and_a_reset_refills_the_bucket() -> None:
    clock = SteppedClock()
    with (
        limited(clock, rate_limit_per_second=1, rate_limit_burst=1) as emu,
        api_client(emu) as client,
        httpx.Client(base_url=emu.admin_url + "/") as admin,
    ):
        assert client.get("users").status_code == 200
        assert client.get("users").status_code == 429
        assert all(admin.get("stats").status_code == 200 for _ in range(5))
        emu.state.reset()
        assert client.get("users").status_code == 200


def test_the_limit_can_be_switched_on_and_off_at_runtime_and_refuses_bad_values(
    emu: RunningEmulator,
) -> None:
    with api_client(emu) as client, httpx.Client(base_url=emu.admin_url + "/") as admin:
        assert all(client.get("users").status_code == 200 for _ in range(20))
        assert admin.post("options", json={"rate_limit_per_second": 0.001}).status_code == 200
        assert admin.post("options", json={"rate_limit_burst": 2}).status_code == 200
        assert [client.get("users").status_code for _ in range(3)] == [200, 200, 429]
        assert admin.post("options", json={"rate_limit_per_second": 0}).status_code == 200
        assert client.get("users").status_code == 200
        assert admin.post("options", json={"rate_limit_per_second": -1}).status_code == 400
        assert admin.post("options", json={"rate_limit_burst": 0}).status_code == 400
        assert admin.post("options", json={"rate_limit_burst": 1.5}).status_code == 400
        shown = admin.get("options").json()
    assert (shown["rate_limit_per_second"], shown["rate_limit_burst"]) == (0, 2)


def test_answers_are_counted_by_status_and_a_dropped_answer_is_none() -> None:
    with running_emulator(drop_rate=1.0) as emu, api_client(emu) as client:
        for _ in range(3):
            with pytest.raises(httpx.TransportError):
                client.get("users")
        emu.state.set_options(drop_rate=0.0, fail_rate=1.0)
        client.get("users")
        stats = emu.state.stats()
    assert stats["answers"] == {"500": 1}
    assert stats["throttled"] == 0
