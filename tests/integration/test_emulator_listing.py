"""The emulator's listing switches over real HTTP: totals, an admin between pages, a proxy."""

from __future__ import annotations

import httpx
import pytest

from sync.timetrack.emulator import EmulatorOptions
from tests.emulator_fixtures import api_client, running_emulator


def page(client: httpx.Client, number: int, limit: int = 10, **params: str) -> httpx.Response:
    return client.get("users", params={"limit": limit, "page_number": number, **params})


@pytest.mark.parametrize(
    ("spelling", "where"),
    [("total", ("total",)), ("totalCount", ("totalCount",)), ("meta.total", ("meta", "total"))],
)
def test_list_total_puts_the_matching_count_beside_the_page(
    spelling: str, where: tuple[str, ...]
) -> None:
    with (
        running_emulator(seed_users=25, list_shape="data", list_total=spelling) as emu,
        api_client(emu) as client,
    ):
        body = page(client, 2).json()
        assert len(body["data"]) == 5
        for key in where:
            body = body[key]
        assert body == 25


def test_list_total_needs_a_wrapped_shape() -> None:
    with pytest.raises(ValueError, match="list_total"):
        EmulatorOptions(list_total="total").validate()
    with pytest.raises(ValueError, match="delete_during_listing"):
        EmulatorOptions(delete_during_listing=-1).validate()


def test_delete_during_listing_deletes_a_full_pages_first_user_and_counts_down() -> None:
    with running_emulator(seed_users=25, delete_during_listing=2) as emu, api_client(emu) as client:
        first = [u["id"] for u in page(client, 0).json()]
        second = [u["id"] for u in page(client, 1).json()]
        third = [u["id"] for u in page(client, 2).json()]
        assert first == list(range(1, 11))
        assert second == list(range(12, 22))  # 1 gone: 11 moved onto page 0, skipped here
        assert third == [23, 24, 25]  # 12 gone too: 22 skipped
        assert emu.state.options.delete_during_listing == 0
        assert {u["id"] for u in emu.state.users()} == set(range(1, 26)) - {1, 12}
        assert emu.state.writes == []


def test_a_filtered_or_last_page_changes_nothing() -> None:
    with (
        running_emulator(seed_users=5, delete_during_listing=1, create_during_listing=1) as emu,
        api_client(emu) as client,
    ):
        name = emu.state.users()[0]["username"]
        assert len(page(client, 0, username=name).json()) == 1
        assert len(page(client, 0).json()) == 5  # short: the last page
        assert len(emu.state.users()) == 5


def test_create_during_listing_adds_a_user_listed_last() -> None:
    with running_emulator(seed_users=10, create_during_listing=1) as emu, api_client(emu) as client:
        assert len(page(client, 0).json()) == 10
        (created,) = page(client, 1).json()
        assert (created["id"], created["username"]) == (11, "admin.created1")


def test_proxy_login_page_answers_200_html_and_never_reaches_the_api() -> None:
    with running_emulator(seed_users=3, proxy_page="login") as emu, api_client(emu) as client:
        answer = client.post("users", json={"username": "x"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.text.startswith("<!DOCTYPE html>")
        assert len(emu.state.users()) == 3


def test_proxy_truncated_cuts_the_apis_own_answer_with_a_consistent_length() -> None:
    with running_emulator(seed_users=3, proxy_page="truncated") as emu, api_client(emu) as client:
        answer = page(client, 0)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.text.startswith('[{"id":1')
        with pytest.raises(ValueError):
            answer.json()


def test_proxy_after_lets_the_first_requests_through() -> None:
    with (
        running_emulator(seed_users=3, proxy_page="login", proxy_after=2) as emu,
        api_client(emu) as client,
    ):
        kinds = [page(client, 0).headers["content-type"] for _ in range(3)]
        assert kinds == ["application/json", "application/json", "text/html; charset=utf-8"]
