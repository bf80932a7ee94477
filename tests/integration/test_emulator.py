"""The TimeTrack emulator over real HTTP: the documented API, every switch, every fault."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.timetrack.emulator import (
    EmulatorOptions,
    EmulatorState,
    RunningEmulator,
    generate_users,
    load_seed_file,
    serve_in_thread,
)
from tests.emulator_fixtures import (
    API_SECRET,
    api_client,
    auth_headers,
    emulator,
    new_user,
    running_emulator,
)

__all__ = ["emulator"]  # the fixture is used by name

REPO = Path(__file__).resolve().parents[2]


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"][:1]
    assert {"title", "status", "code", "detail"} <= set(error)
    assert error["status"] == response.status_code
    return dict(error)


def _listed(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    if isinstance(body, list):
        return body
    (key,) = body
    return list(body[key])


# --- auth ---


@pytest.mark.parametrize(
    "headers",
    [{}, auth_headers(secret="wrong"), auth_headers(key="wrong")],
    ids=["missing", "wrong-secret", "wrong-key"],
)
def test_requests_without_valid_credentials_get_401_error_body(
    emulator: RunningEmulator, headers: dict[str, str]
) -> None:
    response = httpx.get(emulator.url + "/users", headers=headers)
    assert response.status_code == 401
    assert API_SECRET not in response.text
    assert _error(response)["title"]


def test_correct_credentials_list_users_with_and_without_trailing_slash(
    emulator: RunningEmulator,
) -> None:
    emulator.state.add_user(**new_user("anna"))
    with api_client(emulator) as client:
        assert [u["username"] for u in client.get("users").json()] == ["anna"]
        assert [u["username"] for u in client.get("users/").json()] == ["anna"]


# --- paging ---


def test_list_without_paging_params_returns_at_most_50() -> None:
    with running_emulator(seed_users=120) as emu, api_client(emu) as client:
        users = client.get("users").json()
    assert len(users) == 50
    assert [u["id"] for u in users] == list(range(1, 51))


def test_limit_1000_is_allowed_and_1001_is_refused() -> None:
    with running_emulator(seed_users=1001) as emu, api_client(emu) as client:
        assert len(client.get("users", params={"limit": 1000}).json()) == 1000
        refused = client.get("users", params={"limit": 1001})
        negative = client.get("users", params={"page_number": -1})
        empty = client.get("users", params={"limit": 0})
    assert refused.status_code == 400
    assert "1000" in _error(refused)["detail"]
    assert negative.status_code == 400
    assert empty.json() == []


def test_page_number_from_zero_iterates_every_user_once() -> None:
    seen: list[int] = []
    with running_emulator(seed_users=120) as emu, api_client(emu) as client:
        for page in range(4):
            batch = client.get("users", params={"page_number": page, "limit": 50}).json()
            seen.extend(u["id"] for u in batch)
            if len(batch) < 50:
                break
    assert seen == list(range(1, 121))


def test_ignore_paging_always_returns_the_first_page() -> None:
    with running_emulator(seed_users=30, ignore_paging=True) as emu, api_client(emu) as client:
        first = client.get("users", params={"page_number": 0, "limit": 10}).json()
        second = client.get("users", params={"page_number": 1, "limit": 10}).json()
    assert [u["id"] for u in first] == [u["id"] for u in second] == list(range(1, 11))


# --- switches for the unknowns ---


@pytest.mark.parametrize("shape", ["data", "users", "items", "results"])
def test_list_shape_wraps_the_array_under_its_key(shape: str) -> None:
    with running_emulator(seed_users=3, list_shape=shape) as emu, api_client(emu) as client:
        body = client.get("users").json()
    assert list(body) == [shape]
    assert len(body[shape]) == 3


@pytest.mark.parametrize(
    ("style", "true", "false"), [("json", True, False), ("int", 1, 0), ("string", "1", "0")]
)
def test_bool_style_controls_how_booleans_are_written(style: str, true: Any, false: Any) -> None:
    with running_emulator(bool_style=style) as emu, api_client(emu) as client:
        created = client.post("users", json=new_user("max", admin=True)).json()
        fetched = client.get(f"users/{created['id']}").json()
    for user in (created, fetched):
        assert user["admin"] == true and type(user["admin"]) is type(true)
        assert user["teamLead"] == false and type(user["teamLead"]) is type(false)
        assert user["enabled"] == true


def test_incoming_booleans_accept_1_0_and_strings(emulator: RunningEmulator) -> None:
    with api_client(emulator) as client:
        created = client.post("users", json=new_user("lea", admin="1", teamLead=0)).json()
    assert created["admin"] is True and created["teamLead"] is False


def test_numeric_personal_number_style_returns_digit_values_as_numbers() -> None:
    with running_emulator(personal_number_style="number") as emu, api_client(emu) as client:
        digits = client.post("users", json=new_user("a", personalNumber="0123")).json()
        text = client.post("users", json=new_user("b", personalNumber="E-00123")).json()
    assert digits["personalNumber"] == 123
    assert text["personalNumber"] == "E-00123"


def test_text_personal_number_style_returns_a_sent_number_as_text(
    emulator: RunningEmulator,
) -> None:
    with api_client(emulator) as client:
        created = client.post("users", json=new_user("a", personalNumber=1234)).json()
    assert created["personalNumber"] == "1234"


def test_exact_username_filter_matches_whole_name_case_insensitively() -> None:
    with running_emulator() as emu, api_client(emu) as client:
        for name in ("test", "test6", "Atest"):
            emu.state.add_user(**new_user(name))
        found = client.get("users", params={"username": "TEST"}).json()
    assert [u["username"] for u in found] == ["test"]


def test_substring_username_filter_matches_parts_beside_paging() -> None:
    with running_emulator(username_filter="substring") as emu, api_client(emu) as client:
        for name in ("test", "test6", "Atest", "other"):
            emu.state.add_user(**new_user(name))
        found = client.get("users", params={"username": "test"}).json()
        paged = client.get("users", params={"username": "test", "limit": 2, "page_number": 1})
    assert [u["username"] for u in found] == ["test", "test6", "Atest"]
    assert [u["username"] for u in paged.json()] == ["Atest"]


# --- create, update, delete ---


def test_created_users_get_integer_ids_from_1_and_never_show_the_password(
    emulator: RunningEmulator,
) -> None:
    with api_client(emulator) as client:
        first = client.post("users", json=new_user("a"))
        second = client.post("users", json=new_user("b"))
        listed = client.get("users")
        fetched = client.get("users/1")
    assert first.status_code == second.status_code == 201
    assert (first.json()["id"], second.json()["id"]) == (1, 2)
    for response in (first, second, listed, fetched):
        assert "password" not in response.text
        assert "Correct-Horse" not in response.text
    assert emulator.state.check_password(1, "Correct-Horse-Battery-9")


@pytest.mark.parametrize("field", ["username", "firstName", "lastName", "email", "password"])
def test_create_without_a_required_field_is_refused_naming_it(
    emulator: RunningEmulator, field: str
) -> None:
    body = new_user("a")
    del body[field]
    with api_client(emulator) as client:
        response = client.post("users", json=body)
    assert response.status_code in (400, 422)
    assert field in _error(response)["detail"]
    assert emulator.state.users() == []
    assert emulator.state.writes == []


def test_invalid_email_is_refused_with_422(emulator: RunningEmulator) -> None:
    with api_client(emulator) as client:
        response = client.post("users", json=new_user("a", email="not-an-email"))
    assert response.status_code == 422
    assert "email" in _error(response)["detail"]


@pytest.mark.parametrize("status", [409, 400])
def test_duplicate_username_is_refused_case_insensitively(status: int) -> None:
    with running_emulator(duplicate_status=status) as emu, api_client(emu) as client:
        assert client.post("users", json=new_user("Jose")).status_code == 201
        response = client.post("users", json=new_user("jOSE", email="other@example.com"))
        assert len(emu.state.users()) == 1
    assert response.status_code == status
    error = _error(response)
    assert error["code"] and "jOSE" in error["detail"]


def test_put_is_a_partial_update(emulator: RunningEmulator) -> None:
    user = emulator.state.add_user(**new_user("a", language="de"))
    with api_client(emulator) as client:
        response = client.put(f"users/{user['id']}", json={"firstName": "John", "password": "x2"})
    assert response.status_code == 200
    stored = emulator.state.get(user["id"])
    assert stored is not None
    assert (stored["firstName"], stored["lastName"], stored["language"]) == ("John", "Müller", "de")
    assert "password" not in response.text
    assert emulator.state.check_password(user["id"], "x2")


@pytest.mark.parametrize("field", ["username", "enabled"])
def test_put_refuses_username_and_enabled(emulator: RunningEmulator, field: str) -> None:
    user = emulator.state.add_user(**new_user("a"))
    value: Any = "renamed" if field == "username" else False
    with api_client(emulator) as client:
        response = client.put(f"users/{user['id']}", json={field: value, "firstName": "X"})
    assert response.status_code == 400
    assert field in _error(response)["detail"]
    assert emulator.state.get(user["id"]) == user
    assert emulator.state.writes == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_id_gets_404_with_the_documented_error_body(
    emulator: RunningEmulator, method: str
) -> None:
    with api_client(emulator) as client:
        response = client.request(method, "users/42", json={} if method == "PUT" else None)
    assert response.status_code == 404
    assert _error(response)["code"] == 15020


def test_hard_delete_removes_the_user(emulator: RunningEmulator) -> None:
    user = emulator.state.add_user(**new_user("a"))
    with api_client(emulator) as client:
        assert client.delete(f"users/{user['id']}").is_success
        assert client.get(f"users/{user['id']}").status_code == 404


def test_soft_delete_keeps_the_user_disabled() -> None:
    with running_emulator(delete_mode="soft") as emu, api_client(emu) as client:
        user = emu.state.add_user(**new_user("a"))
        assert client.delete(f"users/{user['id']}").is_success
        fetched = client.get(f"users/{user['id']}").json()
        listed = client.get("users").json()
    assert fetched["enabled"] is False
    assert [u["username"] for u in listed] == ["a"]


@pytest.mark.parametrize("status", [400, 409, 422])
def test_delete_of_a_user_with_time_entries_is_refused_with_the_help_page_text(
    status: int,
) -> None:
    with running_emulator(delete_refused_status=status) as emu, api_client(emu) as client:
        user = emu.state.add_user(**new_user("a"), time_entries=3)
        response = client.delete(f"users/{user['id']}")
        fetched = client.get(f"users/{user['id']}").json()
        assert emu.state.writes == []  # refused like any other refused write: no write audited
        assert emu.state.request_count["DELETE"] == 1
    assert response.status_code == status
    error = _error(response)
    assert error["detail"] == "User accounts cannot be deleted if they have recorded time entries."
    assert error["code"] == 15005
    assert error["title"]
    assert fetched == user  # unchanged, still enabled, and no time-entry count in the API


def test_soft_delete_disables_a_user_with_time_entries() -> None:
    with running_emulator(delete_mode="soft") as emu, api_client(emu) as client:
        user = emu.state.add_user(**new_user("a"), time_entries=3)
        assert client.delete(f"users/{user['id']}").status_code == 204
        fetched = client.get(f"users/{user['id']}").json()
        assert [(w.method, w.user_id) for w in emu.state.writes] == [("DELETE", user["id"])]
        assert emu.state.time_entries(user["id"]) == 3
    assert fetched["enabled"] is False


def test_time_entries_set_directly_decide_whether_a_delete_goes_through(
    emulator: RunningEmulator,
) -> None:
    kept, gone = (emulator.state.add_user(**new_user(name)) for name in ("kept", "gone"))
    emulator.state.set_time_entries(kept["id"], 1)
    with api_client(emulator) as client:
        assert client.delete(f"users/{kept['id']}").status_code == 400
        assert client.delete(f"users/{gone['id']}").status_code == 204
        emulator.state.set_time_entries(kept["id"], 0)
        assert client.delete(f"users/{kept['id']}").status_code == 204
    assert emulator.state.users() == []
    with pytest.raises(KeyError):
        emulator.state.set_time_entries(kept["id"], 1)
    with pytest.raises(ValueError, match="time entries"):
        emulator.state.add_user(**new_user("neg"), time_entries=-1)


def test_admin_routes_set_time_entries_and_enabled(emulator: RunningEmulator) -> None:
    user = emulator.state.add_user(**new_user("a"))
    with httpx.Client(base_url=emulator.admin_url + "/") as admin, api_client(emulator) as api:
        route = f"users/{user['id']}/time-entries"
        assert admin.get(route).json() == {"id": user["id"], "count": 0}
        assert admin.put(route, json={"count": 7}).json() == {"id": user["id"], "count": 7}
        assert admin.get(route).json() == {"id": user["id"], "count": 7}
        for bad in ({"count": -1}, {"count": "7"}, {"count": True}, {}):
            assert admin.put(route, json=bad).status_code == 400
        assert admin.put("users/99/time-entries", json={"count": 1}).status_code == 404
        disabled = admin.put(f"users/{user['id']}/enabled", json={"enabled": False})
        assert disabled.status_code == 200 and disabled.json()["enabled"] is False
        assert api.get(f"users/{user['id']}").json()["enabled"] is False
        assert admin.put(f"users/{user['id']}/enabled", json={"enabled": "no"}).status_code == 400
        assert admin.put("users/99/enabled", json={"enabled": True}).status_code == 404
        assert admin.put(f"users/{user['id']}/enabled", json={"enabled": True}).json()["enabled"]
        posted = admin.post("users", json={**new_user("b"), "timeEntries": 2}).json()
        assert "timeEntries" not in posted and "time_entries" not in posted
        assert admin.get(f"users/{posted['id']}/time-entries").json()["count"] == 2
    assert emulator.state.time_entries(user["id"]) == 7
    assert emulator.state.writes == []  # behind the API's back: no API writes


def test_post_without_id_in_answer_still_creates_the_user() -> None:
    with running_emulator(post_returns_id=False) as emu, api_client(emu) as client:
        response = client.post("users", json=new_user("a"))
        found = client.get("users", params={"username": "a"}).json()
    assert response.status_code == 201
    assert "id" not in response.json()
    assert [u["id"] for u in found] == [1]


def test_every_applied_write_is_audited_and_requests_are_counted(
    emulator: RunningEmulator,
) -> None:
    with api_client(emulator) as client:
        client.post("users", json=new_user("a"))
        client.post("users", json=new_user("A"))  # refused duplicate: no write
        client.put("users/1", json={"firstName": "B"})
        client.delete("users/1")
        client.get("users")
    audit = [(w.method, w.user_id, w.username) for w in emulator.state.writes]
    assert audit == [("POST", 1, "a"), ("PUT", 1, "a"), ("DELETE", 1, "a")]
    assert emulator.state.request_count == {"POST": 2, "PUT": 1, "DELETE": 1, "GET": 1}
    emulator.state.reset_counters()
    assert emulator.state.writes == [] and emulator.state.request_count == {}


# --- faults ---


def test_fail_rate_answers_500_before_any_effect() -> None:
    with running_emulator(fail_rate=1.0) as emu, api_client(emu) as client:
        response = client.post("users", json=new_user("a"))
        assert emu.state.users() == [] and emu.state.writes == []
        assert emu.state.request_count == {"POST": 1}
    assert response.status_code == 500
    assert _error(response)["status"] == 500


def test_fail_after_write_rate_applies_the_write_then_answers_500() -> None:
    with running_emulator(fail_after_write_rate=1.0) as emu, api_client(emu) as client:
        response = client.post("users", json=new_user("a"))
        read = client.get("users")
        assert [u["username"] for u in emu.state.users()] == ["a"]
        assert [w.method for w in emu.state.writes] == ["POST"]
    assert response.status_code == 500
    assert read.status_code == 200  # reads are not writes
    assert [u["username"] for u in read.json()] == ["a"]


@pytest.mark.parametrize("retry_after", ["3", "date", None])
def test_rate_limit_answers_429_with_the_configured_retry_after(retry_after: str | None) -> None:
    with (
        running_emulator(rate_limit_rate=1.0, retry_after=retry_after) as emu,
        api_client(emu) as client,
    ):
        response = client.post("users", json=new_user("a"))
        assert emu.state.users() == [] and emu.state.request_count == {"POST": 1}
    assert response.status_code == 429
    header = response.headers.get("Retry-After")
    if retry_after is None:
        assert header is None
    elif retry_after == "date":
        assert header is not None
        assert parsedate_to_datetime(header) > datetime.now(UTC) - timedelta(seconds=1)
    else:
        assert header == "3"


def test_dropped_connections_are_transport_errors_half_before_half_after_applying() -> None:
    outcomes: list[bool] = []
    with running_emulator(drop_rate=1.0, seed=3) as emu, api_client(emu) as client:
        for index in range(16):
            with pytest.raises(httpx.TransportError):
                client.post("users", json=new_user(f"u{index}"))
            outcomes.append(any(u["username"] == f"u{index}" for u in emu.state.users()))
        assert len(emu.state.writes) == sum(outcomes)
    assert any(outcomes) and not all(outcomes)


def test_latency_delays_each_answer_at_least_the_fixed_part() -> None:
    with running_emulator(latency_ms=150, jitter_ms=20) as emu, api_client(emu) as client:
        started = time.monotonic()
        assert client.get("users").status_code == 200
        elapsed = time.monotonic() - started
    assert elapsed >= 0.15


def _statuses(seed: int) -> list[int]:
    with (
        running_emulator(seed=seed, fail_rate=0.3, rate_limit_rate=0.2) as emu,
        api_client(emu) as client,
    ):
        return [client.get("users").status_code for _ in range(30)]


def test_seeded_faults_repeat_exactly() -> None:
    first = _statuses(seed=11)
    assert first == _statuses(seed=11)
    assert {200, 429, 500} <= set(first)
    assert first != _statuses(seed=12)


def test_faults_spare_admin_routes_and_option_changes_apply_at_once(
    emulator: RunningEmulator,
) -> None:
    with api_client(emulator) as client, httpx.Client(base_url=emulator.admin_url + "/") as admin:
        assert admin.post("options", json={"fail_rate": 1.0}).status_code == 200
        assert client.get("users").status_code == 500
        assert admin.get("stats").json()["requests"] == {"GET": 1}
        assert admin.get("users").status_code == 200
        emulator.state.options.fail_rate = 0.0  # direct changes count immediately too
        assert client.get("users").status_code == 200


def test_admin_options_refuse_unknown_or_invalid_values_and_hide_the_secret(
    emulator: RunningEmulator,
) -> None:
    with httpx.Client(base_url=emulator.admin_url + "/") as admin:
        assert admin.post("options", json={"no_such": 1}).status_code == 400
        assert admin.post("options", json={"list_shape": "xml"}).status_code == 400
        assert admin.post("options", json={"drop_rate": 2}).status_code == 400
        shown = admin.get("options")
    assert API_SECRET not in shown.text
    assert shown.json()["list_shape"] == "bare"
    assert API_SECRET not in repr(emulator.state.options)


def test_admin_routes_add_list_unpaged_and_reset(emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=emulator.admin_url + "/") as admin:
        for user in generate_users(60, seed=1):
            assert admin.post("users", json=user).status_code == 201
        assert len(admin.get("users").json()) == 60
        assert admin.post("users", json={"firstName": "no username"}).status_code == 400
        assert admin.post("reset").status_code == 200
        assert admin.get("users").json() == []
    assert emulator.state.writes == []  # direct inserts are not API writes


# --- serving ---


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_binding_to_a_non_loopback_address_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve_in_thread(EmulatorState(), host=host)


def test_cli_prints_the_url_and_key_but_never_the_secret_and_stops_on_sigterm() -> None:
    code = (
        "from sync.timetrack.emulator import EmulatorOptions, run_emulator_cli\n"
        "run_emulator_cli(EmulatorOptions(api_key='k1', api_secret='s3cr3t-value'),"
        " host='127.0.0.1', port=0, seed_users=5, seed_file=None, allow_public=False)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("TimeTrack emulator listening on http://127.0.0.1:")
        assert line.rstrip().endswith("/api/v2/ext (api key: k1)")
        url = line.split()[4]
        headers = auth_headers("k1", "s3cr3t-value")
        assert len(httpx.get(url + "/users", headers=headers).json()) == 5
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "s3cr3t-value" not in line + out + err


# --- seeding ---


def test_generated_users_are_realistic_unique_and_repeatable() -> None:
    users = generate_users(300, seed=5)
    assert users == generate_users(300, seed=5)
    assert len({u["username"].casefold() for u in users}) == 300
    assert len({u["email"] for u in users}) == 300
    assert len({u["personalNumber"] for u in users}) == 300
    assert any(not u["lastName"].isascii() or not u["firstName"].isascii() for u in users)
    assert all(u["username"].isascii() for u in users)
    assert {u["personalNumber"].startswith("E-") for u in users} == {True, False}
    state = EmulatorState(users=users)
    assert len(state.users()) == 300


def test_seeded_time_entries_share_is_repeatable_for_a_seed_and_leaves_users_alone() -> None:
    plain = generate_users(200, seed=4)
    users = generate_users(200, seed=4, time_entries_share=0.25)
    assert users == generate_users(200, seed=4, time_entries_share=0.25)
    with_entries = [u["username"] for u in users if u.get("time_entries", 0) > 0]
    assert len(with_entries) == 50
    assert [{k: v for k, v in u.items() if k != "time_entries"} for u in users] == plain
    other = generate_users(200, seed=5, time_entries_share=0.25)
    assert with_entries != [u["username"] for u in other if "time_entries" in u]
    with running_emulator(seed_users=200, seed=4, seed_time_entries_share=0.25) as emu:
        counted = [u["username"] for u in emu.state.users() if emu.state.time_entries(u["id"])]
        assert counted == with_entries
        assert all("time_entries" not in u and "timeEntries" not in u for u in emu.state.users())
    with running_emulator(seed_users=50) as emu:
        assert not any(emu.state.time_entries(u["id"]) for u in emu.state.users())


def test_seed_files_carry_optional_time_entries(tmp_path: Path) -> None:
    json_file = tmp_path / "users.json"
    json_file.write_text(json.dumps([{**new_user("a"), "timeEntries": 4}, new_user("b")]))
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(
        "username,firstName,lastName,email,timeEntries\n"
        "c,Zoë,Müller,c@example.com,12\n"
        "d,Zoë,Müller,d@example.com,\n",
        encoding="utf-8",
    )
    for path in (json_file, csv_file):
        state = EmulatorState(users=load_seed_file(path))
        assert [state.time_entries(u["id"]) for u in state.users()] == [
            4 if path is json_file else 12,
            0,
        ]
        assert all("timeEntries" not in u for u in state.users())
    bad = tmp_path / "bad.csv"
    bad.write_text("username,timeEntries\ne,many\n", encoding="utf-8")
    with pytest.raises(ValueError, match="timeEntries"):
        load_seed_file(bad)


def test_seed_file_loads_json_list_and_csv_with_header(tmp_path: Path) -> None:
    json_file = tmp_path / "users.json"
    json_file.write_text(json.dumps([new_user("a"), new_user("b")]), encoding="utf-8")
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(
        "username,firstName,lastName,email,admin,personalNumber\n"
        "soren,Søren,Jørgensen,soren@example.com,1,E-00123\n"
        "zoe,Zoë,Łukasz,zoe@example.com,false,\n",
        encoding="utf-8",
    )
    assert [u["username"] for u in load_seed_file(json_file)] == ["a", "b"]
    rows = load_seed_file(csv_file)
    assert rows[0] == {
        "username": "soren",
        "firstName": "Søren",
        "lastName": "Jørgensen",
        "email": "soren@example.com",
        "admin": True,
        "personalNumber": "E-00123",
    }
    assert rows[1]["admin"] is False and "personalNumber" not in rows[1]
    bad = tmp_path / "bad.json"
    bad.write_text('{"users": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="JSON list"):
        load_seed_file(bad)


def test_options_validate_their_values() -> None:
    with pytest.raises(ValueError, match="delete_mode"):
        EmulatorState(EmulatorOptions(delete_mode="archive"))
    with pytest.raises(ValueError, match="fail_rate"):
        EmulatorState(EmulatorOptions(fail_rate=1.5))
    with pytest.raises(ValueError, match="delete_refused_status"):
        EmulatorState(EmulatorOptions(delete_refused_status=403))
    with pytest.raises(ValueError, match="seed_time_entries_share"):
        EmulatorState(EmulatorOptions(seed_time_entries_share=1.5))
