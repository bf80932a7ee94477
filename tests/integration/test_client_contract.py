"""The client's contract, over real HTTP against the emulator, under every quirk it can show."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from structlog.testing import capture_logs

from sync.model import normalize_personal_number
from sync.timetrack.client import ClientSettings, TimeTrackClient, WriteResult
from sync.timetrack.emulator import (
    EmulatorOptions,
    EmulatorState,
    RunningEmulator,
    generate_users,
    serve_in_thread,
)
from sync.timetrack.errors import AuthError, NotFoundError, RejectedError, TimeTrackError

KEY = "contract-key"
SECRET = "contract-secret-Hq82ZmN0"  # test constant; never in logs or errors
# TimeTrack's help page on leavers; the sync keeps it as the reason for retaining a user.
TIME_ENTRIES_REFUSAL = "User accounts cannot be deleted if they have recorded time entries."

QUIRKS: list[Any] = [
    pytest.param({}, id="defaults"),
    *(pytest.param({"list_shape": s}, id=f"list_{s}") for s in ("data", "users", "items")),
    pytest.param({"list_shape": "results"}, id="list_results"),
    pytest.param({"list_shape": "data", "list_total": "total"}, id="list_total"),
    pytest.param({"list_shape": "items", "list_total": "meta.total"}, id="list_meta_total"),
    pytest.param({"bool_style": "int"}, id="bool_int"),
    pytest.param({"bool_style": "string"}, id="bool_string"),
    pytest.param({"personal_number_style": "number"}, id="personal_number_number"),
    pytest.param({"username_filter": "substring"}, id="substring_filter"),
    pytest.param({"ignore_paging": True}, id="ignore_paging"),
    pytest.param({"post_returns_id": False}, id="post_without_id"),
    pytest.param({"delete_mode": "soft"}, id="soft_delete"),
]


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=KEY, api_secret=SECRET))
    with serve_in_thread(state) as running:
        yield running


def settings_for(url: str, **overrides: Any) -> ClientSettings:
    options: dict[str, Any] = {"requests_per_second": 0, "timeout_seconds": 10.0}
    options.update(overrides)
    return ClientSettings(url=url, api_key=KEY, api_secret=SECRET, **options)


def no_sleep(seconds: float) -> None:
    """Retries in these tests need no real waiting: the emulator's faults are dice, not time."""


@pytest.fixture(params=QUIRKS)
def quirk(request: pytest.FixtureRequest, emulator: RunningEmulator) -> dict[str, Any]:
    options: dict[str, Any] = request.param
    emulator.state.reset(EmulatorOptions(api_key=KEY, api_secret=SECRET, **options))
    return options


@pytest.fixture
def client(emulator: RunningEmulator, quirk: dict[str, Any]) -> Iterator[TimeTrackClient]:
    with TimeTrackClient(settings_for(emulator.url), sleep=no_sleep) as tt:
        yield tt


def new_user(username: str, **extra: Any) -> dict[str, Any]:
    return {
        "username": username,
        "firstName": "Zoë",
        "lastName": "Ørsted",
        "email": f"{username}@example.test",
        "password": "Pw-0123456789-abcdefgh!",
        **extra,
    }


class TestClientContract:
    """What every quirk setting of the server must still give the caller."""

    def test_create_then_get_and_find_return_the_normalized_user(
        self, client: TimeTrackClient
    ) -> None:
        result = client.create_user(new_user("zoe.o", personalNumber="1234", admin=True))
        assert result.user is not None
        created = client.get_user(result.user.id)
        assert created.id == result.user.id
        assert created.enabled is True
        assert created.get("admin") is True
        assert created.get("teamLead") in (False, None)
        assert created.get("personalNumber") == "1234"
        assert "password" not in created.fields
        found = client.find_user("ZOE.O")
        assert found is not None and found.id == created.id

    def test_list_users_reads_every_page_once(
        self, client: TimeTrackClient, emulator: RunningEmulator, quirk: dict[str, Any]
    ) -> None:
        for row in generate_users(1200, seed=3):
            emulator.state.add_user(**row)
        with capture_logs() as logs:
            users = client.list_users()
        ids = [u.id for u in users]
        assert len(ids) == len(set(ids))
        paging_warned = any(e["event"] == "list_paging_ignored" for e in logs)
        if quirk.get("ignore_paging"):
            assert len(users) == 1000  # all a server that ignores paging lets us see
            assert paging_warned
        else:
            assert len(users) == 1200
            assert not paging_warned

    def test_find_user_matches_only_the_exact_username(
        self, client: TimeTrackClient, emulator: RunningEmulator
    ) -> None:
        for name in ("anna", "anna.b", "joanna", "hanna"):
            emulator.state.add_user(**new_user(name))
        found = client.find_user("Anna")
        assert found is not None and found.username == "anna"
        assert client.find_user("ann") is None

    def test_update_changes_fields_but_never_sends_username_or_enabled(
        self, client: TimeTrackClient, emulator: RunningEmulator
    ) -> None:
        created = client.create_user(new_user("upd")).user
        assert created is not None
        result = client.update_user(
            created.id, {"username": "renamed", "enabled": False, "lastName": "Neu"}
        )
        assert result.status_code == 200
        stored = emulator.state.get(int(created.id))
        assert stored is not None
        assert (stored["username"], stored["lastName"]) == ("upd", "Neu")
        assert client.get_user(created.id).enabled is True

    def test_delete_removes_or_disables_the_user(
        self, client: TimeTrackClient, quirk: dict[str, Any]
    ) -> None:
        created = client.create_user(new_user("leaver")).user
        assert created is not None
        client.delete_user(created.id)
        after = client.find_user("leaver")
        if quirk.get("delete_mode") == "soft":
            assert after is not None and after.enabled is False
        else:
            assert after is None
            with pytest.raises(NotFoundError):
                client.get_user(created.id)

    def test_delete_of_a_user_with_time_entries_is_refused_or_disables(
        self, client: TimeTrackClient, emulator: RunningEmulator, quirk: dict[str, Any]
    ) -> None:
        created = client.create_user(new_user("tracked")).user
        assert created is not None
        emulator.state.set_time_entries(int(created.id), 12)
        if quirk.get("delete_mode") == "soft":
            client.delete_user(created.id)
            assert client.get_user(created.id).enabled is False
            return
        with pytest.raises(RejectedError) as info:
            client.delete_user(created.id)
        assert info.value.detail == TIME_ENTRIES_REFUSAL
        assert client.get_user(created.id).enabled is True

    def test_unknown_user_is_not_found(self, client: TimeTrackClient) -> None:
        with pytest.raises(NotFoundError):
            client.delete_user("987654")
        with pytest.raises(NotFoundError):
            client.get_user("987654")

    def test_duplicate_username_is_rejected_with_the_server_text(
        self, client: TimeTrackClient
    ) -> None:
        client.create_user(new_user("dup"))
        with pytest.raises(RejectedError) as info:
            client.create_user(new_user("DUP", email="other@example.test"))
        assert info.value.title
        assert info.value.status_code in (400, 409, 422)
        assert SECRET not in f"{info.value}{info.value!r}"

    def test_wrong_secret_is_an_auth_error_without_any_secret(
        self, emulator: RunningEmulator, quirk: dict[str, Any]
    ) -> None:
        wrong = "wrong-secret-777"
        settings = ClientSettings(
            url=emulator.url, api_key=KEY, api_secret=wrong, requests_per_second=0
        )
        with TimeTrackClient(settings, sleep=no_sleep) as bad, pytest.raises(AuthError) as info:
            bad.list_users()
        text = f"{info.value}{info.value!r}"
        assert wrong not in text and SECRET not in text
        assert "timetrack.api_secret_file" in text

    def test_personal_number_option_sends_plain_numbers_and_reads_back_text(
        self, emulator: RunningEmulator, quirk: dict[str, Any]
    ) -> None:
        settings = settings_for(emulator.url, personal_number_as_number=True)
        with TimeTrackClient(settings, sleep=no_sleep) as tt:
            tt.create_user(new_user("num", personalNumber="4711"))
            tt.create_user(new_user("lead", personalNumber="0042"))
            by_name = {u.username: u for u in tt.list_users()}
        assert by_name["num"].get("personalNumber") == "4711"
        # A server storing numbers drops leading zeros; text compares equal once normalized.
        lead = by_name["lead"].get("personalNumber")
        assert isinstance(lead, str)
        assert normalize_personal_number(lead) == normalize_personal_number("0042")


@pytest.mark.parametrize("status", [400, 409, 422])
def test_refused_delete_is_a_rejected_error_carrying_the_server_message(
    emulator: RunningEmulator, status: int
) -> None:
    emulator.state.reset(
        EmulatorOptions(api_key=KEY, api_secret=SECRET, delete_refused_status=status)
    )
    kept = emulator.state.add_user(**new_user("tracked"), time_entries=3)
    gone = emulator.state.add_user(**new_user("untracked"))
    with TimeTrackClient(settings_for(emulator.url), sleep=no_sleep) as tt:
        with pytest.raises(RejectedError) as info:
            tt.delete_user(str(kept["id"]))
        assert tt.delete_user(str(gone["id"])).status_code == 204
    error = info.value
    assert (error.status_code, error.attempts, error.maybe_applied) == (status, 1, False)
    assert error.detail == TIME_ENTRIES_REFUSAL
    assert TIME_ENTRIES_REFUSAL in str(error)
    assert f"HTTP {status}" in str(error)
    assert [u["username"] for u in emulator.state.users()] == ["tracked"]


FAULTS: list[Any] = [
    pytest.param(
        {"fail_rate": 0.1, "fail_after_write_rate": 0.1, "rate_limit_rate": 0.1}, id="5xx_429"
    ),
    pytest.param(
        {
            "fail_rate": 0.1,
            "fail_after_write_rate": 0.1,
            "rate_limit_rate": 0.1,
            "drop_rate": 0.05,
            "post_returns_id": False,
            "username_filter": "substring",
        },
        id="5xx_429_drops_quirky",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("faults", FAULTS)
def test_500_creates_under_faults_make_exactly_500_users(
    emulator: RunningEmulator, faults: dict[str, Any]
) -> None:
    emulator.state.reset(
        EmulatorOptions(api_key=KEY, api_secret=SECRET, retry_after="0", seed=11, **faults)
    )
    people = generate_users(500, seed=5)
    settings = settings_for(emulator.url, concurrency=8, max_retries=12, max_retry_seconds=1e6)
    with (
        capture_logs() as logs,
        TimeTrackClient(settings, sleep=no_sleep, rng=random.Random(1)) as tt,
        ThreadPoolExecutor(8) as pool,
    ):
        results: list[WriteResult] = list(
            pool.map(lambda p: tt.create_user({**p, "password": "Pw-0123456789-xyz!"}), people)
        )
        stats = tt.stats.snapshot()
    print(f"client stats under faults {sorted(faults)}: {stats}")  # shown with -s / -rP
    stored = emulator.state.users()
    usernames = [u["username"].casefold() for u in stored]
    assert len(stored) == 500
    assert len(set(usernames)) == 500
    assert set(usernames) == {p["username"].casefold() for p in people}
    assert all(r.user is not None for r in results)
    assert {r.user.username.casefold() for r in results if r.user} == set(usernames)
    assert stats["retries"] > 0, stats
    assert stats["rate_limited"] > 0, stats
    assert any(r.verified_by_lookup for r in results)
    assert all(SECRET not in repr(event) for event in logs)


def test_errors_over_real_http_are_timetrack_errors(emulator: RunningEmulator) -> None:
    emulator.state.reset(EmulatorOptions(api_key=KEY, api_secret=SECRET, fail_rate=1.0))
    settings = settings_for(emulator.url, max_retries=2)
    with TimeTrackClient(settings, sleep=no_sleep) as tt, pytest.raises(TimeTrackError) as info:
        tt.list_users()
    assert info.value.attempts == 3
    assert info.value.status_code == 500
