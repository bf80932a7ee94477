"""TimeTrackClient against httpx.MockTransport: shapes, errors, retries, POST safety, limits."""

from __future__ import annotations

import email.utils
import json
import random
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from sync import __version__
from sync.timetrack.client import ClientSettings, TimeTrackClient, normalize_user
from sync.timetrack.errors import (
    AuthError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TimeTrackError,
    TransportError,
)
from sync.timetrack.retry import backoff_delay, parse_retry_after

SECRET = "tt-secret-Zq9xLw3Pv7"  # a test constant; every check below greps for it
URL = "https://acme.timetrackenterprise.test/api/v2/ext"
Handler = Callable[[httpx.Request], httpx.Response]
Logs = list[MutableMapping[str, Any]]


@pytest.fixture(autouse=True)
def logs() -> Iterator[Logs]:
    """Every log event of the test; none may contain the secret."""
    with capture_logs() as events:
        yield events
    for event in events:
        assert SECRET not in repr(event), event


@contextmanager
def expect(kind: type[BaseException], match: str | None = None) -> Iterator[Any]:
    """pytest.raises that also proves the error text (and its causes) never holds the secret."""
    with pytest.raises(kind, match=match) as info:
        yield info
    assert isinstance(info.value, TimeTrackError) or kind is not TimeTrackError
    seen: BaseException | None = info.value
    while seen is not None:
        assert SECRET not in str(seen), str(seen)
        assert SECRET not in repr(seen), repr(seen)
        seen = seen.__cause__ or seen.__context__


class Sleeps(list[float]):
    """A sleep that records the requested delays and returns at once, moving its own clock."""

    now = 0.0

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        """The time this sleep has slept to (a monotonic clock for the client)."""
        return self.now


def make(handler: Handler, **overrides: Any) -> tuple[TimeTrackClient, Sleeps]:
    options: dict[str, Any] = {"requests_per_second": 0}
    options.update(overrides)
    settings = ClientSettings(url=URL, api_key="key-1", api_secret=SECRET, **options)
    sleeps = Sleeps()
    client = TimeTrackClient(
        settings,
        transport=httpx.MockTransport(handler),
        sleep=sleeps,
        rng=random.Random(7),
        clock=sleeps.clock,
    )
    return client, sleeps


def user(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": n,
        "username": f"user{n}",
        "firstName": "Jörg",
        "lastName": "Müller",
        "email": f"user{n}@example.test",
        "enabled": True,
        **extra,
    }


def error_body(status: int, title: str, detail: str, code: int = 15020) -> dict[str, Any]:
    return {"errors": [{"title": title, "status": status, "code": code, "detail": detail}]}


def methods(requests: list[httpx.Request]) -> list[str]:
    return [r.method for r in requests]


# -- headers, reprs ------------------------------------------------------------------------


def test_every_request_carries_auth_json_and_user_agent_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(201, json=user(1))
        if request.url.path.endswith("/users"):
            return httpx.Response(200, json=[user(1)])
        return httpx.Response(200, json=user(1))

    client, _ = make(handler)
    client.list_users()
    client.get_user("1")
    client.create_user({**user(1), "password": "pw-Abc-123-xyz-!!"})
    client.update_user("1", {"firstName": "X"})
    client.delete_user("1")
    assert methods(seen) == ["GET", "GET", "POST", "PUT", "DELETE"]
    for request in seen:
        assert request.headers["X-TimeTrack-Api-Key"] == "key-1"
        assert request.headers["X-TimeTrack-Api-Secret"] == SECRET
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == f"timetrack-sync/{__version__}"
        assert request.url.path.startswith("/api/v2/ext/users")


def test_settings_and_client_reprs_hide_the_secret() -> None:
    client, _ = make(lambda r: httpx.Response(200, json=[]))
    assert SECRET not in repr(client.settings)
    assert SECRET not in str(client.settings)
    assert SECRET not in repr(client)
    assert "key-1" in repr(client.settings)


# -- list shapes and paging ----------------------------------------------------------------


@pytest.mark.parametrize("shape", ["bare", "data", "users", "items", "results"])
def test_list_accepts_each_list_shape(shape: str) -> None:
    rows = [user(1), user(2)]
    body: Any = rows if shape == "bare" else {shape: rows, "total": 2}
    client, _ = make(lambda r: httpx.Response(200, json=body))
    assert [u.username for u in client.list_users()] == ["user1", "user2"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"records": []}, "keys [records]"),
        ({"data": "nope"}, "keys [data]"),
        ("just text", "str 'just text'"),
        (42, "int 42"),
        (None, "null"),
    ],
)
def test_unknown_list_shape_is_a_protocol_error_naming_what_arrived(body: Any, named: str) -> None:
    client, _ = make(lambda r: httpx.Response(200, content=json.dumps(body).encode()))
    with expect(ProtocolError) as info:
        client.list_users()
    assert named in str(info.value)
    assert str(info.value).count("/api/v2/ext/users") == 1
    assert "GET /api/v2/ext/users" in str(info.value)


def test_malformed_json_is_a_protocol_error_quoting_an_excerpt() -> None:
    client, _ = make(lambda r: httpx.Response(200, text='[{"id": 1, "username": "a"'))
    with expect(ProtocolError, match="not JSON") as info:
        client.list_users()
    assert '[{"id": 1' in str(info.value)


def test_list_pages_with_limit_1000_until_a_short_page() -> None:
    everyone = [user(n) for n in range(2500)]
    pages: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        limit, page = request.url.params["limit"], request.url.params["page_number"]
        pages.append((limit, page))
        start = int(page) * int(limit)
        return httpx.Response(200, json=everyone[start : start + int(limit)])

    client, _ = make(handler)
    assert len(client.list_users()) == 2500
    assert pages == [("1000", "0"), ("1000", "1"), ("1000", "2")]


def test_server_ignoring_paging_stops_with_a_warning(logs: Logs) -> None:
    first_page = [user(n) for n in range(1000)]
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json={"data": first_page})

    client, _ = make(handler)
    users = client.list_users()
    assert len(users) == 1000
    assert len({u.id for u in users}) == 1000
    assert len(calls) == 2
    warnings = [e for e in logs if e["event"] == "list_paging_ignored"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"


def test_find_user_filters_a_substring_answer_to_the_exact_casefolded_username() -> None:
    seen: list[httpx.Request] = []
    answer = [user(1, username="anna.k"), user(2, username="ANNA"), user(3, username="joanna")]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    client, _ = make(handler)
    found = client.find_user("Anna")
    assert found is not None
    assert found.id == "2"
    assert seen[0].url.params["username"] == "Anna"
    assert seen[0].url.params["limit"] == "1000"
    assert client.find_user("ann") is None


# -- normalize_user ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        ("true", True),
        ("false", False),
        ("TRUE", True),
    ],
)
def test_normalize_user_reads_every_boolean_style(raw: object, expected: bool) -> None:
    normalized = normalize_user({"id": 5, "username": "a", "admin": raw, "enabled": raw})
    assert normalized.enabled is expected
    assert normalized.get("admin") is expected


def test_normalize_user_text_id_and_personal_number_keeps_unknown_drops_password() -> None:
    normalized = normalize_user(
        {"id": 1234, "username": "jd", "personalNumber": 1234, "costCenter": "K1", "password": "x"}
    )
    assert normalized.id == "1234"
    assert normalized.get("id") == "1234"
    assert normalized.get("personalNumber") == "1234"
    assert normalized.get("costCenter") == "K1"
    assert "password" not in normalized.fields
    assert normalized.enabled is True  # absent means enabled
    assert normalize_user({"id": 1, "username": "x", "personalNumber": "007"}).get(
        "personalNumber"
    ) == ("007")


def test_normalize_user_rejects_an_unreadable_enabled_and_a_missing_id() -> None:
    with expect(ProtocolError, match="enabled"):
        normalize_user({"id": 1, "username": "x", "enabled": "maybe"})
    with expect(ProtocolError, match="without an id"):
        normalize_user({"username": "x"})


# -- error model ---------------------------------------------------------------------------


def test_401_is_an_auth_error_naming_the_settings_never_the_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # A careless server echoing the secret back must not leak it either.
        text = f"<html><body><h1>401</h1>bad secret {SECRET}</body></html>"
        return httpx.Response(401, text=text)

    client, sleeps = make(handler)
    with expect(AuthError) as info:
        client.list_users()
    text = str(info.value)
    assert "GET /api/v2/ext/users" in text
    assert "401" in text
    assert "timetrack.api_key" in text
    assert "timetrack.api_secret_file" in text
    assert info.value.status_code == 401
    assert sleeps == []  # never retried


def test_403_is_an_auth_error() -> None:
    client, _ = make(lambda r: httpx.Response(403, json=error_body(403, "Forbidden", "no")))
    with expect(AuthError, match="403"):
        client.get_user("1")


def test_422_is_rejected_with_title_detail_and_code() -> None:
    body = error_body(422, "Validation failed", "email is invalid", code=15031)
    client, sleeps = make(lambda r: httpx.Response(422, json=body))
    with expect(RejectedError) as info:
        client.create_user({**user(1), "password": "pw"})
    exc = info.value
    assert (exc.title, exc.detail, exc.code) == ("Validation failed", "email is invalid", 15031)
    assert "POST /api/v2/ext/users: HTTP 422" in str(exc)
    assert "Validation failed: email is invalid (code 15031)" in str(exc)
    assert (exc.method, exc.path, exc.status_code, exc.attempts) == (
        "POST",
        "/api/v2/ext/users",
        422,
        1,
    )
    assert sleeps == []


def test_404_on_get_is_not_found() -> None:
    body = error_body(404, "Not found", "no user 9")
    client, _ = make(lambda r: httpx.Response(404, json=body))
    with expect(NotFoundError, match="no user 9"):
        client.get_user("9")


def test_html_502_page_is_retried_then_a_server_error_quoting_an_excerpt() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    client, sleeps = make(lambda r: httpx.Response(502, text=page), max_retries=2)
    with expect(ServerError) as info:
        client.list_users()
    assert info.value.attempts == 3
    assert info.value.status_code == 502
    assert "502 Bad Gateway nginx" in str(info.value)
    assert "<html>" not in str(info.value)
    assert "after 3 attempts" in str(info.value)
    assert len(sleeps) == 2


# -- retries, backoff, Retry-After ---------------------------------------------------------


def sequence(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler giving the answers in order (an exception is raised), then the last forever."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def test_429_retry_after_seconds_is_honoured() -> None:
    handler, _ = sequence(
        httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=[user(1)])
    )
    client, sleeps = make(handler)
    assert len(client.list_users()) == 1
    assert sleeps == [7.0]
    assert client.stats.snapshot()["rate_limited"] == 1
    assert client.stats.snapshot()["retries"] == 1


def test_429_retry_after_http_date_is_honoured() -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    handler, _ = sequence(
        httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200, json=[])
    )
    client, sleeps = make(handler)
    client.list_users()
    assert len(sleeps) == 1
    assert 15.0 < sleeps[0] <= 20.0


@pytest.mark.parametrize("header", ["3600", "date"])
def test_retry_after_is_capped(header: str) -> None:
    if header == "date":
        header = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    handler, _ = sequence(
        httpx.Response(429, headers={"Retry-After": header}), httpx.Response(200, json=[])
    )
    client, sleeps = make(handler, retry_after_cap_seconds=12.5)
    client.list_users()
    assert sleeps == [12.5]


def test_parse_retry_after_edge_values() -> None:
    assert parse_retry_after(None, cap=60) is None
    assert parse_retry_after("soon", cap=60) is None
    assert parse_retry_after("-5", cap=60) == 0.0
    assert parse_retry_after("0", cap=60) == 0.0
    past = email.utils.format_datetime(datetime.now(UTC) - timedelta(minutes=1), usegmt=True)
    assert parse_retry_after(past, cap=60) == 0.0


def test_429_still_after_every_retry_is_rate_limited_error() -> None:
    client, sleeps = make(
        lambda r: httpx.Response(429, headers={"Retry-After": "1"}), max_retries=3
    )
    with expect(RateLimitedError) as info:
        client.list_users()
    assert info.value.attempts == 4
    assert sleeps == [1.0, 1.0, 1.0]
    assert client.stats.snapshot()["rate_limited"] == 4


def test_backoff_delays_follow_full_jitter_within_bounds() -> None:
    client, sleeps = make(lambda r: httpx.Response(500), max_retries=8, max_retry_seconds=1e6)
    with expect(ServerError) as info:
        client.list_users()
    assert info.value.attempts == 9
    replay = random.Random(7)
    assert sleeps == [backoff_delay(i, replay) for i in range(8)]
    for i, delay in enumerate(sleeps):
        assert 0.0 <= delay <= min(30.0, 0.5 * 2**i)
    assert len(set(sleeps)) == len(sleeps)  # jittered, not a fixed schedule


def test_full_jitter_never_exceeds_the_cap() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(i, rng) for i in range(40) for _ in range(20)]
    assert max(delays) <= 30.0
    assert min(delays) >= 0.0


def test_retry_budget_stops_retrying_before_max_retries() -> None:
    response = httpx.Response(503, headers={"Retry-After": "4"})
    client, sleeps = make(lambda r: response, max_retries=6, max_retry_seconds=10)
    with expect(ServerError) as info:
        client.list_users()
    assert sleeps == [4.0, 4.0]
    assert info.value.attempts == 3


def test_slowloris_read_timeouts_are_retried_then_a_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, sleeps = make(handler, max_retries=4)
    with expect(TransportError, match="ReadTimeout") as info:
        client.get_user("1")
    assert info.value.attempts == 5
    assert len(sleeps) == 4
    assert client.stats.snapshot()["transport_errors"] == 5


def test_put_is_retried_after_a_dropped_connection() -> None:
    handler, seen = sequence(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(200, json={"id": 1}),
    )
    client, _ = make(handler)
    result = client.update_user("1", {"lastName": "Meier"})
    assert (result.status_code, result.attempts) == (200, 2)
    assert methods(seen) == ["PUT", "PUT"]


def test_delete_answering_404_after_an_unknown_outcome_counts_as_done() -> None:
    handler, seen = sequence(httpx.ReadError("connection reset"), httpx.Response(404))
    client, _ = make(handler)
    result = client.delete_user("5")
    assert (result.status_code, result.attempts) == (404, 2)
    assert methods(seen) == ["DELETE", "DELETE"]


def test_delete_answering_404_at_once_is_not_found() -> None:
    client, _ = make(lambda r: httpx.Response(404))
    with expect(NotFoundError):
        client.delete_user("5")


def test_delete_404_after_a_refused_connection_is_still_not_found() -> None:
    handler, _ = sequence(httpx.ConnectError("refused"), httpx.Response(404))
    client, _ = make(handler)
    with expect(NotFoundError):
        client.delete_user("5")


# -- POST safety ---------------------------------------------------------------------------


class FakeUsers:
    """A tiny server: POST creates and answers per a script; GET lists (optionally hidden)."""

    def __init__(self, *post_script: str, visible_after: int = 0) -> None:
        self.script = list(post_script)  # "ok", "500-after", "500-before", "timeout-after", ...
        self.users: Logs = []
        self.requests: list[httpx.Request] = []
        self.gets = 0
        self.visible_after = visible_after  # GETs that do not yet see created users

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            self.gets += 1
            rows = self.users if self.gets > self.visible_after else []
            name = request.url.params.get("username", "")
            return httpx.Response(200, json=[u for u in rows if name in u["username"]])
        step = self.script.pop(0) if self.script else "ok"
        body = json.loads(request.content)
        if step == "connect-error":
            raise httpx.ConnectError("refused", request=request)
        if step == "duplicate":
            return httpx.Response(422, json=error_body(422, "Duplicate", "username exists"))
        if step == "500-before":
            return httpx.Response(500)
        created = {k: v for k, v in body.items() if k != "password"} | {"id": 100 + len(self.users)}
        self.users.append(created)
        if step == "500-after":
            return httpx.Response(500, text="Internal Server Error")
        if step == "timeout-after":
            raise httpx.ReadTimeout("timed out", request=request)
        if step == "no-id":
            return httpx.Response(201, json={"status": "created"})
        return httpx.Response(201, json=created)


NEW = {"username": "jdoe", "firstName": "J", "lastName": "Doe", "email": "JDoe@example.test"}
PASSWORD = "Gen-Pw-0123456789-abcdef!"


def test_post_is_not_retried_blindly_after_a_500_the_lookup_finds_the_user() -> None:
    server = FakeUsers("500-after")
    client, _ = make(server)
    result = client.create_user({**NEW, "password": PASSWORD})
    assert methods(server.requests) == ["POST", "GET"]
    assert result.verified_by_lookup is True
    assert result.status_code == 0
    assert result.user is not None and result.user.id == "100"
    assert len(server.users) == 1


def test_post_after_a_500_without_effect_is_retried_once_the_lookup_is_empty() -> None:
    server = FakeUsers("500-before")
    client, _ = make(server)
    result = client.create_user({**NEW, "password": PASSWORD})
    assert methods(server.requests) == ["POST", "GET", "POST"]
    assert (result.status_code, result.attempts, result.verified_by_lookup) == (201, 2, False)
    assert len(server.users) == 1


def test_post_is_retried_blindly_after_a_connect_error() -> None:
    server = FakeUsers("connect-error")
    client, _ = make(server)
    result = client.create_user({**NEW, "password": PASSWORD})
    assert methods(server.requests) == ["POST", "POST"]
    assert result.status_code == 201
    assert result.attempts == 2


def test_post_retry_answering_duplicate_is_success_when_the_lookup_matches_our_email() -> None:
    # The first POST took effect but timed out; the user is not listed yet at the first lookup.
    server = FakeUsers("timeout-after", "duplicate", visible_after=1)
    client, _ = make(server)
    result = client.create_user({**NEW, "email": "jdoe@EXAMPLE.test", "password": PASSWORD})
    assert methods(server.requests) == ["POST", "GET", "POST", "GET"]
    assert result.verified_by_lookup is True
    assert result.user is not None and result.user.username == "jdoe"
    assert len(server.users) == 1


def test_post_retry_answering_duplicate_with_another_email_stays_rejected() -> None:
    server = FakeUsers("500-before", "duplicate")
    server.users.append({"id": 7, "username": "jdoe", "email": "someone.else@example.test"})
    client, _ = make(server)
    with expect(RejectedError, match="username exists"):
        client.create_user({**NEW, "password": PASSWORD})


def test_duplicate_on_the_first_attempt_is_rejected_without_a_lookup() -> None:
    server = FakeUsers("duplicate")
    client, _ = make(server)
    with expect(RejectedError):
        client.create_user({**NEW, "password": PASSWORD})
    assert methods(server.requests) == ["POST"]


def test_post_answer_without_an_id_is_looked_up_by_username() -> None:
    server = FakeUsers("no-id")
    client, _ = make(server)
    result = client.create_user({**NEW, "password": PASSWORD})
    assert methods(server.requests) == ["POST", "GET"]
    assert result.status_code == 201
    assert result.verified_by_lookup is True
    assert result.user is not None and result.user.id == "100"


def test_post_answer_with_an_id_gives_the_normalized_user_without_password() -> None:
    server = FakeUsers("ok")
    client, _ = make(server)
    result = client.create_user({**NEW, "password": PASSWORD, "personalNumber": "0042"})
    assert result.user is not None
    assert result.user.id == "100"
    assert "password" not in result.user.fields
    assert result.user.get("personalNumber") == "0042"
    assert json.loads(server.requests[0].content)["password"] == PASSWORD


def test_generated_password_never_reaches_logs(logs: Logs) -> None:
    server = FakeUsers("500-before", "timeout-after")
    client, _ = make(server)
    client.create_user({**NEW, "password": PASSWORD})
    assert logs
    assert all(PASSWORD not in repr(event) for event in logs)


# -- write bodies --------------------------------------------------------------------------


def test_update_never_sends_username_enabled_or_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client, _ = make(handler)
    fields = {"id": "3", "username": "new", "enabled": False, "lastName": "Neu", "language": "de"}
    client.update_user("3", fields)
    assert json.loads(seen[0].content) == {"lastName": "Neu", "language": "de"}
    assert seen[0].url.path == "/api/v2/ext/users/3"
    result = client.update_user("3", {"username": "only"})
    assert (result.status_code, result.attempts) == (0, 0)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("as_number", "value", "sent"),
    [
        (True, "1234", 1234),
        (True, "0", 0),
        (True, "007", "007"),
        (True, "E-1234", "E-1234"),
        (True, "12 34", "12 34"),
        (False, "1234", "1234"),
        (False, 1234, "1234"),
    ],
)
def test_personal_number_is_a_json_number_only_when_asked_and_plain(
    as_number: bool, value: object, sent: object
) -> None:
    server = FakeUsers()
    client, _ = make(server, personal_number_as_number=as_number)
    client.create_user({**NEW, "password": PASSWORD, "personalNumber": value})
    client.update_user("100", {"personalNumber": value})
    for request in server.requests:
        assert json.loads(request.content)["personalNumber"] == sent


# -- limits, logs, stats -------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def assert_rate_holds(times: list[float], rate: float, burst: int) -> None:
    """In every window [t_i, t_j] at most burst + rate * (t_j - t_i) requests started."""
    times = sorted(times)
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 1e-9


def test_client_requests_never_exceed_requests_per_second() -> None:
    clock = FakeClock()
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(clock())
        return httpx.Response(200, json=user(1))

    settings = ClientSettings(
        url=URL, api_key="k", api_secret=SECRET, requests_per_second=4, concurrency=3
    )
    client = TimeTrackClient(
        settings, transport=httpx.MockTransport(handler), sleep=clock.sleep, clock=clock
    )
    for _ in range(30):
        client.get_user("1")
    assert len(times) == 30
    assert_rate_holds(times, 4.0, 3)


def test_no_more_exchanges_in_flight_than_concurrency() -> None:
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]
    release = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        release.wait(0.05)  # hold the slot so other threads pile up behind the semaphore
        with lock:
            in_flight[0] -= 1
        return httpx.Response(200, json=user(1))

    client, _ = make(handler, concurrency=2)
    threads = [threading.Thread(target=client.get_user, args=("1",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 2


def test_each_request_is_logged_at_debug_without_headers_or_bodies(
    logs: Logs,
) -> None:
    client, _ = make(FakeUsers("500-before"))
    client.create_user({**NEW, "password": PASSWORD})
    requests = [e for e in logs if e["event"] == "http_request"]
    assert [(e["method"], e["status"], e["attempt"]) for e in requests] == [
        ("POST", 500, 1),
        ("GET", 200, 1),
        ("POST", 201, 2),
    ]
    assert requests[0]["path"] == "/api/v2/ext/users"
    assert set(requests[0]) == {"event", "log_level", "method", "path", "status", "duration_ms"} | {
        "attempt"
    }
    retries = [e for e in logs if e["event"] == "http_retry"]
    assert len(retries) == 1
    assert retries[0]["reason"] == "status 500"
    assert retries[0]["delay"] >= 0


def test_stats_count_requests_statuses_and_retries() -> None:
    handler, _ = sequence(
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(503),
        httpx.Response(200, json=[]),
    )
    client, _ = make(handler)
    client.list_users()
    snap = client.stats.snapshot()
    assert snap["requests"] == 3
    assert snap["retries"] == 2
    assert snap["rate_limited"] == 1
    assert snap["by_status"] == {429: 1, 503: 1, 200: 1}


def test_tls_verification_disabled_logs_a_warning(logs: Logs) -> None:
    make(lambda r: httpx.Response(200, json=[]), tls_verify=False)
    assert [e["log_level"] for e in logs if e["event"] == "tls_verification_disabled"] == [
        "warning"
    ]
