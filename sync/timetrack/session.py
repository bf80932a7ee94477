"""One HTTP session with TimeTrack: auth headers, concurrency slots, pacing, retries, errors."""

from __future__ import annotations

import json
import random
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import structlog

from sync import __version__
from sync.model import TimeTrackUser
from sync.timetrack.errors import (
    AuthError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TimeTrackError,
    TransportError,
    excerpt,
    parse_error_body,
)
from sync.timetrack.pacing import Pacer
from sync.timetrack.retry import ClientStats, backoff_delay, parse_retry_after
from sync.timetrack.settings import ClientSettings

log = structlog.get_logger("sync.timetrack.client")

# The request never left this machine: a POST may be repeated without checking first.
_CERTAINLY_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
RATE_LIMIT_ADVICE = (
    "TimeTrack kept answering 429 Too Many Requests: set timetrack.max_requests_per_second "
    "below the rate it takes, or raise timetrack.max_retries"
)
# Media types whose body is read as JSON: declared JSON, or undeclared (no header, text/plain).
_JSON_MEDIA = frozenset({"application/json", "text/json"})
_UNDECLARED_MEDIA = frozenset({"", "text/plain"})
AUTH_ADVICE = "check the api_key and the API secret (timetrack.api_key / timetrack.api_secret_file)"


@dataclass(frozen=True)
class _Outcome:
    response: httpx.Response | None  # None when a lookup before a retry decided the outcome
    attempts: int
    uncertain: bool  # an earlier failed attempt may have taken effect on the server
    found: TimeTrackUser | None = None


@dataclass(frozen=True)
class _Failure:
    reason: str
    delay: float | None  # from Retry-After; None: use backoff
    maybe_applied: bool  # the server may have acted on the request
    response: httpx.Response | None
    error: httpx.HTTPError | None


class ApiSession:
    """Sends requests to TimeTrack with retries; shared by all threads of one client."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
        rng: random.Random,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.stats = ClientStats()
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._slots = threading.BoundedSemaphore(max(1, settings.concurrency))
        self.pacer = Pacer.for_settings(settings, clock=clock, sleep=sleep)
        self._base_path = httpx.URL(settings.url).path.rstrip("/")
        self._http = self._build_http(settings, transport)

    @staticmethod
    def _build_http(
        settings: ClientSettings, transport: httpx.BaseTransport | None
    ) -> httpx.Client:
        verify: ssl.SSLContext | bool = True
        if not settings.tls_verify:
            log.warning("tls_verification_disabled", url=settings.url)
            verify = False
        elif httpx.URL(settings.url).scheme != "https":
            # Plain HTTP never makes a TLS connection (redirects are not followed; a proxy's
            # TLS has its own context), so loading the trusted CAs (~20 ms) is skipped. A
            # context that trusts no CA would refuse any TLS server it were ever used for.
            verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        elif settings.ca_file:
            verify = ssl.create_default_context(cafile=settings.ca_file)
        headers = {
            "X-TimeTrack-Api-Key": settings.api_key,
            "X-TimeTrack-Api-Secret": settings.api_secret,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"timetrack-sync/{__version__}",
        }
        pool = max(1, settings.concurrency) + 2
        return httpx.Client(
            base_url=settings.url,
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_seconds),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            verify=verify,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        before_retry: Callable[[], TimeTrackUser | None] | None = None,
    ) -> _Outcome:
        """Send with retries; returns the final answer (any status but 429/5xx) or a lookup hit."""
        attempts, waited, uncertain = 0, 0.0, False
        while True:
            attempts += 1
            failure = self._attempt(method, path, params, body, attempts)
            if isinstance(failure, httpx.Response):
                return _Outcome(failure, attempts, uncertain)
            uncertain = uncertain or failure.maybe_applied
            delay = failure.delay
            if delay is None:
                delay = backoff_delay(attempts - 1, self._rng)
            if (
                attempts > self.settings.max_retries
                or waited + delay > self.settings.max_retry_seconds
            ):
                self._give_up(method, path, failure, attempts, uncertain=uncertain)
            waited += delay
            self.stats.count_retry()
            level = log.info if failure.reason == "status 429" else log.warning
            level(
                "http_retry",
                method=method,
                path=self.full(path),
                attempt=attempts,
                reason=failure.reason,
                delay=round(delay, 3),
            )
            self._sleep(delay)
            if uncertain and before_retry is not None:
                try:
                    found = before_retry()
                except TimeTrackError as exc:
                    exc.maybe_applied = True  # the lookup failed: the write's outcome is unknown
                    raise
                if found is not None:
                    return _Outcome(None, attempts, True, found)

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        attempt: int,
    ) -> httpx.Response | _Failure:
        """One exchange: the final response, or why it failed; a wait the server asks for."""
        try:
            resp = self._exchange(method, path, params, body, attempt)
        except _RETRYABLE as exc:
            if _is_tls_failure(exc):
                raise self._transport(method, path, exc, attempt, retried=False) from exc
            return _Failure(
                type(exc).__name__, None, not isinstance(exc, _CERTAINLY_UNSENT), None, exc
            )
        except httpx.HTTPError as exc:
            raise self._transport(method, path, exc, attempt, retried=False) from exc
        status = resp.status_code
        if status != 429 and status < 500:
            return resp
        delay = None
        if status in (429, 503):
            delay = parse_retry_after(
                resp.headers.get("Retry-After"), cap=self.settings.retry_after_cap_seconds
            )
            if delay:
                self.pacer.hold(delay)  # the server asked the client, not one thread, to wait
        return _Failure(f"status {status}", delay, status >= 500, resp, None)

    def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        attempt: int,
    ) -> httpx.Response:
        """One HTTP exchange inside a concurrency slot, when the pacer lets it go; logged."""
        with self._slots:
            asked = self._clock()
            start = self.pacer.acquire()
            status: int | None = None
            failed: dict[str, str] = {}
            try:
                resp = self._http.request(method, path, params=params, json=body)
                status = resp.status_code
                return resp
            except httpx.HTTPError as exc:
                failed["error"] = type(exc).__name__
                raise
            finally:
                self.pacer.answered(asked_at=asked, sent_at=start, status=status)
                self.stats.count_request(status, rate=self.pacer.rate)
                log.debug(
                    "http_request",
                    method=method,
                    path=self.full(path),
                    status=status,
                    duration_ms=round((self._clock() - start) * 1000, 1),
                    attempt=attempt,
                    **failed,
                )

    # -- errors -----------------------------------------------------------------------------

    def _give_up(
        self, method: str, path: str, failure: _Failure, attempts: int, *, uncertain: bool
    ) -> NoReturn:
        try:
            if failure.error is not None:
                raise self._transport(method, path, failure.error, attempts, retried=True)
            assert failure.response is not None
            self._raise_status(method, path, failure.response, attempts)
        except TimeTrackError as exc:
            exc.maybe_applied = uncertain and method != "GET"
            raise

    def final(self, out: _Outcome, method: str, path: str) -> httpx.Response:
        """The response of a finished request, raising the right error for a non-2xx status."""
        resp = out.response
        assert resp is not None
        if 200 <= resp.status_code < 300:
            return resp
        self._raise_status(method, path, resp, out.attempts)

    def _raise_status(
        self, method: str, path: str, resp: httpx.Response, attempts: int
    ) -> NoReturn:
        status = resp.status_code
        info = parse_error_body(resp.text, self.settings.api_secret)
        text = f"{method} {self.full(path)}: HTTP {status} {resp.reason_phrase}".rstrip()
        if info.describe():
            text += f": {info.describe()}"
        if attempts > 1:
            text += f" (after {attempts} attempts)"
        where: dict[str, Any] = {
            "method": method,
            "path": self.full(path),
            "status_code": status,
            "attempts": attempts,
        }
        if status in (401, 403):
            raise AuthError(f"{text}; {AUTH_ADVICE}", **where)
        if status == 404:
            raise NotFoundError(text, **where)
        if status == 429:
            raise RateLimitedError(text, hint=RATE_LIMIT_ADVICE, **where)
        if status >= 500:
            raise ServerError(text, **where)
        if 400 <= status < 500:
            raise RejectedError(text, title=info.title, detail=info.detail, code=info.code, **where)
        raise ProtocolError(f"{text}; expected a 2xx answer (is timetrack.url right?)", **where)

    def _transport(
        self, method: str, path: str, exc: httpx.HTTPError, attempts: int, *, retried: bool
    ) -> TransportError:
        detail = excerpt(str(exc), self.settings.api_secret) or type(exc).__name__
        text = f"{method} {self.full(path)}: {type(exc).__name__}: {detail}"
        if retried:
            text += f" (after {attempts} attempts)"
        hint = "check timetrack.ca_file / tls_verify" if _is_tls_failure(exc) else None
        return TransportError(
            text, method=method, path=self.full(path), attempts=attempts, hint=hint
        )

    def protocol(self, method: str, path: str, resp: httpx.Response, problem: str) -> ProtocolError:
        return ProtocolError(
            f"{method} {self.full(path)}: HTTP {resp.status_code}: {problem}",
            method=method,
            path=self.full(path),
            status_code=resp.status_code,
        )

    def json(self, method: str, path: str, resp: httpx.Response) -> Any:
        """The answer's JSON; else a ProtocolError naming its content type and first bytes.

        An answer declared as anything but JSON (a proxy's HTML login page, XML) is refused
        even where its body would parse; an undeclared or text/plain one is judged by its body
        (the vendor documents no header). The excerpt keeps tags (they show what answered) and
        never the API secret.
        """
        declared = resp.headers.get("content-type", "")
        media = declared.split(";", 1)[0].strip().casefold()
        broken = ""
        if media in _JSON_MEDIA or media.endswith("+json") or media in _UNDECLARED_MEDIA:
            try:
                return resp.json()
            except json.JSONDecodeError as exc:
                broken = f"; {exc.msg} at char {exc.pos}"  # at the very end: cut short
            except ValueError:
                broken = "; not UTF-8 text"
        got = excerpt(resp.text, self.settings.api_secret, keep_tags=True)
        kind = f"content type {declared}" if declared else "no content type"
        problem = f"the answer is not JSON ({kind}, {len(resp.content)} bytes{broken}): {got!r}"
        error = self.protocol(method, path, resp, problem)
        error.hint = "check timetrack.url: a proxy or a login page may answer instead of the API"
        raise error

    def full(self, path: str) -> str:
        """The URL path of `path` (relative to the base URL), for logs and messages."""
        return f"{self._base_path}/{path}"


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
