"""Synchronous, thread-safe client of the TimeTrack users API (paging, retries, rate limit)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from sync.model import TimeTrackUser
from sync.timetrack.errors import ProtocolError
from sync.timetrack.retry import ClientStats
from sync.timetrack.session import ApiSession
from sync.timetrack.settings import ClientSettings
from sync.timetrack.users import (
    create_body,
    extract_list,
    extract_object,
    extract_total,
    normalize_user,
    update_body,
)

__all__ = ["ClientSettings", "ClientStats", "TimeTrackClient", "WriteResult", "normalize_user"]

log = structlog.get_logger(__name__)

PAGE_LIMIT = 1000
# A create that was retried after an unknown outcome may answer "username exists" with these.
_DUPLICATE_STATUSES = frozenset({400, 409, 422})


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one write: final status (0 if decided by a lookup), attempts, the user."""

    status_code: int
    attempts: int
    user: TimeTrackUser | None
    verified_by_lookup: bool = False


class TimeTrackClient:
    """The TimeTrack users API over one keep-alive httpx.Client, safe to share between threads."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._session = ApiSession(
            settings, transport=transport, sleep=sleep, rng=rng or random.Random(), clock=clock
        )
        self.stats: ClientStats = self._session.stats

    def __repr__(self) -> str:
        return f"TimeTrackClient(url={self.settings.url!r})"

    def __enter__(self) -> TimeTrackClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()

    # -- public API -------------------------------------------------------------------------

    def list_users(self) -> list[TimeTrackUser]:
        """Every user, read page by page (limit=1000); read again once if the total disagrees.

        Offset paging is no snapshot: a user deleted or created between two pages shifts the
        later ones, so one is skipped or listed twice. Where the answer carries a total (see
        `extract_total`), a listing whose pages carried different totals, or fewer users than
        the last total, changed while we paged: it is read once more. A second reading that
        agrees with its total is the answer; one that still disagrees is merged with the first
        (a user either reading saw is kept: an absence is never assumed) and logged as
        `list_total_mismatch`. Without a total nothing can be told here; the engine confirms
        the absences that matter (`sync.listing`).
        """
        first = self._list({})
        if first.agrees():
            return first.users
        log.info("list_changed_while_paging", **first.counts())
        second = self._list({})
        if second.agrees():
            return second.users
        log.warning("list_total_mismatch", **second.counts())
        merged = {user.id: user for user in first.users}
        merged.update((user.id, user) for user in second.users)
        return list(merged.values())

    def find_user(self, username: str) -> TimeTrackUser | None:
        """The user whose username equals `username` (casefolded), or None."""
        wanted = username.casefold()
        listed = self._list({"username": username}).users
        matches = [u for u in listed if u.username.casefold() == wanted]
        exact = [u for u in matches if u.username == username]
        if exact:
            return exact[0]
        return matches[0] if matches else None

    def get_user(self, user_id: str) -> TimeTrackUser:
        """One user by id; NotFoundError when it does not exist."""
        path = _user_path(user_id)
        out = self._session.request("GET", path)
        return self._user_answer(path, self._session.final(out, "GET", path))

    def confirm_user(self, user_id: str) -> TimeTrackUser | None:
        """One user by id, or None when TimeTrack's JSON 404 confirms it is gone.

        A 404 that is not JSON (a proxy's page for a path it does not route) confirms
        nothing: it is a ProtocolError, like any answer that is not the API's.
        """
        path = _user_path(user_id)
        out = self._session.request("GET", path)
        resp = out.response
        assert resp is not None
        if resp.status_code == 404:
            self._session.json("GET", path, resp)
            return None
        return self._user_answer(path, self._session.final(out, "GET", path))

    def create_user(self, fields: Mapping[str, Any]) -> WriteResult:
        """POST a new user (fields include the password); never creates it twice on retries."""
        username = str(fields.get("username") or "")
        if not username:
            raise ValueError("create_user needs a username")
        body = create_body(
            fields, personal_number_as_number=self.settings.personal_number_as_number
        )
        email = fields.get("email")

        def lookup() -> TimeTrackUser | None:
            return self._lookup_created(username, email)

        out = self._session.request("POST", "users", body=body, before_retry=lookup)
        if out.found is not None:
            return WriteResult(0, out.attempts, out.found, verified_by_lookup=True)
        resp = out.response
        assert resp is not None
        if out.uncertain and resp.status_code in _DUPLICATE_STATUSES:
            found = lookup()
            if found is not None:
                return WriteResult(0, out.attempts, found, verified_by_lookup=True)
        resp = self._session.final(out, "POST", "users")
        return self._created(resp, out.attempts, body, username, email)

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> WriteResult:
        """PUT a partial update; username, enabled and id are never sent."""
        body = update_body(
            fields, personal_number_as_number=self.settings.personal_number_as_number
        )
        if not body:
            return WriteResult(0, 0, None)
        path = _user_path(user_id)
        out = self._session.request("PUT", path, body=body)
        resp = self._session.final(out, "PUT", path)
        return WriteResult(resp.status_code, out.attempts, None)

    def delete_user(self, user_id: str) -> WriteResult:
        """DELETE a user; NotFoundError on 404 unless an earlier attempt may have deleted it."""
        path = _user_path(user_id)
        out = self._session.request("DELETE", path)
        resp = out.response
        assert resp is not None
        if resp.status_code == 404 and out.uncertain:
            return WriteResult(404, out.attempts, None)
        resp = self._session.final(out, "DELETE", path)
        return WriteResult(resp.status_code, out.attempts, None)

    # -- reads ------------------------------------------------------------------------------

    def _user_answer(self, path: str, resp: httpx.Response) -> TimeTrackUser:
        """The user of a 2xx answer to GET users/{id}."""
        raw = extract_object(self._session.json("GET", path, resp))
        if raw is None:
            raise self._session.protocol("GET", path, resp, "the answer holds no user object")
        return self._normalize("GET", path, resp, raw)

    def _list(self, filters: Mapping[str, str]) -> _Listing:
        """Page through GET users with `filters`; stops on a short page or a repeated page."""
        users: dict[str, TimeTrackUser] = {}
        totals: list[int | None] = []
        page = 0
        while True:
            params = {**filters, "limit": str(PAGE_LIMIT), "page_number": str(page)}
            out = self._session.request("GET", "users", params=params)
            resp = self._session.final(out, "GET", "users")
            data = self._session.json("GET", "users", resp)
            try:
                items = extract_list(data)
            except ProtocolError as exc:
                raise self._session.protocol("GET", "users", resp, exc.message) from None
            totals.append(extract_total(data))
            batch = [self._normalize("GET", "users", resp, item) for item in items]
            if page > 0 and batch and all(u.id in users for u in batch):
                log.warning(
                    "list_paging_ignored",
                    path=self._session.full("users"),
                    page_number=page,
                    size=len(batch),
                )
                break
            for user in batch:
                users.setdefault(user.id, user)
            if len(batch) < PAGE_LIMIT:
                break
            page += 1
        return _Listing(list(users.values()), tuple(totals))

    def _lookup_created(self, username: str, email: object) -> TimeTrackUser | None:
        """The user an earlier create attempt may have made: same username and (sent) email."""
        self.stats.count_lookup()
        found = self.find_user(username)
        if found is None:
            return None
        listed = found.get("email")
        # A server that does not list emails cannot contradict us; one that does must agree.
        if email and listed and str(listed).casefold() != str(email).casefold():
            log.info("create_lookup_email_differs", username=username, user_id=found.id)
            return None
        log.info("create_verified_by_lookup", username=username, user_id=found.id)
        return found

    def _created(
        self,
        resp: httpx.Response,
        attempts: int,
        body: Mapping[str, Any],
        username: str,
        email: object,
    ) -> WriteResult:
        """The user a successful POST made, from its answer or (no id in it) a lookup."""
        try:
            raw = extract_object(resp.json()) if resp.content.strip() else None
        except ValueError:
            raw = None
        if raw is not None and raw.get("id") not in (None, ""):
            sent = {k: v for k, v in body.items() if k != "password"}
            return WriteResult(
                resp.status_code, attempts, self._normalize("POST", "users", resp, {**sent, **raw})
            )
        found = self._lookup_created(username, email)
        if found is None:
            raise self._session.protocol(
                "POST", "users", resp, f"the answer has no id and user {username} is not listed"
            )
        return WriteResult(resp.status_code, attempts, found, verified_by_lookup=True)

    def _normalize(
        self, method: str, path: str, resp: httpx.Response, raw: object
    ) -> TimeTrackUser:
        """normalize_user, with a ProtocolError naming the request when the object is unusable."""
        if not isinstance(raw, Mapping):
            raise self._session.protocol(
                method, path, resp, f"expected a user object, got {raw!r:.60}"
            )
        try:
            return normalize_user(raw)
        except ProtocolError as exc:
            raise self._session.protocol(method, path, resp, exc.message) from None


@dataclass(frozen=True)
class _Listing:
    """One reading of a listing: the distinct users, and the total each page carried."""

    users: list[TimeTrackUser]
    totals: tuple[int | None, ...]

    def agrees(self) -> bool:
        """False when the pages' totals differ or the total exceeds the users listed.

        Pages without a total contradict nothing: a server that gives none agrees with anything.
        """
        given = {total for total in self.totals if total is not None}
        if not given:
            return True
        return len(given) == 1 and len(self.users) >= given.pop()

    def counts(self) -> dict[str, object]:
        """What a log line says about this reading."""
        return {
            "listed": len(self.users),
            "totals": sorted({t for t in self.totals if t is not None}),
        }


def _user_path(user_id: str) -> str:
    return f"users/{quote(str(user_id), safe='')}"
