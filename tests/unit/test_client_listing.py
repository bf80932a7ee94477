"""The client's listing against httpx.MockTransport: totals, answers that are not JSON, 404s."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from sync.timetrack.client import ClientSettings, TimeTrackClient
from sync.timetrack.errors import NotFoundError, ProtocolError, ServerError
from sync.timetrack.users import extract_total

SECRET = "tt-secret-Lst-4q8Wn2"  # a test constant; no error or log line may hold it
URL = "https://acme.timetrackenterprise.test/api/v2/ext"
Handler = Callable[[httpx.Request], httpx.Response]
Logs = list[MutableMapping[str, Any]]

LOGIN_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in - Corporate SSO</title></head>\n"
    f"<body><form action='/sso'><input name='token' value='{SECRET}'></form></body></html>"
)


@pytest.fixture(autouse=True)
def logs() -> Iterator[Logs]:
    with capture_logs() as events:
        yield events
    for event in events:
        assert SECRET not in repr(event), event


def make(handler: Handler) -> TimeTrackClient:
    settings = ClientSettings(url=URL, api_key="k", api_secret=SECRET, requests_per_second=0)
    return TimeTrackClient(
        settings,
        transport=httpx.MockTransport(handler),
        sleep=lambda _s: None,
        rng=random.Random(3),
    )


def user(n: int) -> dict[str, Any]:
    return {"id": n, "username": f"user{n}", "enabled": True}


def paged(readings: list[list[list[int]]], total: Callable[[int, int], int | None]) -> Handler:
    """Answers reading r, page p with the ids readings[r][p] and total(r, p) beside them."""
    calls = {"n": 0}
    pages_per = [len(r) for r in readings]

    def handler(request: httpx.Request) -> httpx.Response:
        n = calls["n"]
        calls["n"] += 1
        reading = next(i for i in range(len(readings)) if n < sum(pages_per[: i + 1]))
        page = n - sum(pages_per[:reading])
        assert request.url.params["page_number"] == str(page)
        body: dict[str, Any] = {"data": [user(i) for i in readings[reading][page]]}
        count = total(reading, page)
        if count is not None:
            body["total"] = count
        return httpx.Response(200, json=body)

    return handler


def ids(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


# -- totals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"data": [], "total": 7},
        {"data": [], "totalCount": 7},
        {"data": [], "total_count": "7"},
        {"items": [], "count": 7},
        {"data": [], "meta": {"total": 7}},
        {"results": [], "pagination": {"totalCount": 7}},
    ],
)
def test_a_wrapped_list_total_is_read_in_each_common_spelling(body: dict[str, Any]) -> None:
    assert extract_total(body) == 7


@pytest.mark.parametrize(
    "body", [[user(1)], {"data": []}, {"data": [], "total": True}, {"data": [], "total": -1}]
)
def test_no_total_or_an_unusable_one_is_none(body: object) -> None:
    assert extract_total(body) is None


def test_a_listing_that_agrees_with_its_total_is_read_once() -> None:
    handler = paged([[ids(1, 1000), ids(1001, 1500)]], lambda r, p: 1500)
    assert len(make(handler).list_users()) == 1500


def test_a_total_that_changed_between_pages_reads_the_listing_again(logs: Logs) -> None:
    # Reading 0: user 1 deleted after page 0 (total 1500 -> 1499), so 1001 was skipped.
    # Reading 1: consistent, and the answer on its own: user 1 is gone, 1001 is there.
    readings = [[ids(1, 1000), ids(1002, 1500)], [ids(2, 1001), ids(1002, 1500)]]
    handler = paged(readings, lambda r, p: 1500 if (r, p) == (0, 0) else 1499)
    listed = sorted(int(u.id) for u in make(handler).list_users())
    assert listed == ids(2, 1500)
    assert [e["event"] for e in logs if e["event"].startswith("list_")] == [
        "list_changed_while_paging"
    ]


def test_fewer_users_than_the_total_reads_the_listing_again() -> None:
    readings = [[ids(1, 999)], [ids(1, 1000), [1001]]]
    handler = paged(readings, lambda r, p: 1001)
    assert len(make(handler).list_users()) == 1001


def test_a_second_reading_that_still_disagrees_is_merged_with_a_warning(logs: Logs) -> None:
    # Each reading: a user deleted after its page 0, so each skips one and shows one gone.
    readings = [[ids(1, 1000), ids(1002, 1500)], [ids(2, 1001), ids(1003, 1500)]]
    handler = paged(readings, lambda r, p: 1500 - r - p)
    listed = sorted(int(u.id) for u in make(handler).list_users())
    assert listed == ids(1, 1500)  # a user either reading saw is kept
    (warning,) = (e for e in logs if e["event"] == "list_total_mismatch")
    assert warning["log_level"] == "warning"
    assert warning["listed"] == 1498


def test_without_a_total_nothing_is_read_twice() -> None:
    handler = paged([[ids(1, 1000), ids(1002, 1500)]], lambda r, p: None)
    assert len(make(handler).list_users()) == 1499


# -- answers that are not JSON ---------------------------------------------------------------


def test_an_html_login_page_names_its_content_type_and_first_bytes_not_the_secret() -> None:
    client = make(
        lambda r: httpx.Response(200, text=LOGIN_PAGE, headers={"content-type": "text/html"})
    )
    with pytest.raises(ProtocolError) as info:
        client.list_users()
    text = str(info.value)
    assert "GET /api/v2/ext/users: HTTP 200: the answer is not JSON" in text
    assert "content type text/html" in text
    assert "<!DOCTYPE html> <html><head><title>Sign in - Corporate SSO" in text
    assert f"{len(LOGIN_PAGE.encode())} bytes" in text
    assert "timetrack.url" in text  # the hint: a proxy or login page answers
    assert SECRET not in text and SECRET not in repr(info.value)


def test_a_truncated_json_body_names_the_json_content_type_and_its_start() -> None:
    body = b'{"data": [{"id": 1, "username": "user1"}, {"id": 2, "user'
    client = make(
        lambda r: httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )
    with pytest.raises(ProtocolError, match="content type application/json") as info:
        client.list_users()
    assert '{"data": [{"id": 1' in str(info.value)


def test_json_declared_as_html_is_refused_even_though_it_parses() -> None:
    client = make(
        lambda r: httpx.Response(200, content=b"[]", headers={"content-type": "text/html"})
    )
    with pytest.raises(ProtocolError, match="content type text/html"):
        client.list_users()


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/vnd.api+json", "text/json; charset=utf-8"]
)
def test_json_undeclared_or_declared_as_a_json_variant_is_read(content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    client = make(
        lambda r: httpx.Response(200, content=b'[{"id": 1, "username": "a"}]', headers=headers)
    )
    assert [u.username for u in client.list_users()] == ["a"]


def test_an_empty_answer_names_the_missing_content_type() -> None:
    client = make(lambda r: httpx.Response(200))
    with pytest.raises(ProtocolError, match=r"no content type, 0 bytes"):
        client.get_user("1")


# -- confirming one user -----------------------------------------------------------------------


def test_confirm_user_answers_the_user_or_none_for_the_documented_404() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/users/1"):
            return httpx.Response(200, json=user(1))
        body = {"errors": [{"title": "Not Found", "status": 404, "code": 15020, "detail": "no"}]}
        return httpx.Response(404, json=body)

    client = make(handler)
    found = client.confirm_user("1")
    assert found is not None and found.username == "user1"
    assert client.confirm_user("2") is None
    with pytest.raises(NotFoundError):
        client.get_user("2")


def test_a_404_that_is_a_proxy_page_confirms_no_absence() -> None:
    page = "<html><body><h1>404 Not Found</h1>nginx</body></html>"
    client = make(lambda r: httpx.Response(404, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(ProtocolError, match="content type text/html") as info:
        client.confirm_user("7")
    assert "GET /api/v2/ext/users/7: HTTP 404" in str(info.value)


def test_confirm_user_retries_a_5xx_like_any_read() -> None:
    answers = [httpx.Response(503), httpx.Response(200, json={"data": user(4)})]
    client = make(lambda r: answers.pop(0) if len(answers) > 1 else answers[0])
    found = client.confirm_user("4")
    assert found is not None and found.id == "4"
    always_down = make(lambda r: httpx.Response(500))
    with pytest.raises(ServerError):
        always_down.confirm_user("4")
