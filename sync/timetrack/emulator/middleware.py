"""Fault injection over ASGI: counts API requests and answers, applies the server's rate limit,
what the fault dice drew, or what the proxy switch (`proxy_page`, after `proxy_after` answered
requests) puts in front of the API.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from email.utils import formatdate
from typing import Any

from starlette.responses import JSONResponse

from sync.timetrack.emulator.asgi import ASGIApp, Message, Receive, Scope, Send
from sync.timetrack.emulator.audit import Audit
from sync.timetrack.emulator.bucket import retry_after_seconds
from sync.timetrack.emulator.errors import CODE_RATE_LIMITED, CODE_SERVER, ApiError
from sync.timetrack.emulator.options import EmulatorOptions
from sync.timetrack.emulator.proxy import answer_as_proxy
from sync.timetrack.emulator.state import EmulatorState


class ConnectionDropped(Exception):
    """Raised after a response has started so that uvicorn closes the connection mid-answer."""


def error_response(status: int, code: int, title: str, detail: str, **kw: Any) -> JSONResponse:
    """A JSON response with the vendor's error body."""
    return JSONResponse(ApiError(status, code, title, detail).body(), status_code=status, **kw)


def _retry_after(options: EmulatorOptions, seconds: int | None = None) -> dict[str, str]:
    """The Retry-After header in the configured style: `seconds`, else the configured number."""
    if options.retry_after is None:
        return {}
    if options.retry_after == "date":
        # HTTP dates have whole seconds: round up so the date never lies in the past.
        return {"Retry-After": formatdate(math.ceil(time.time()) + (seconds or 1), usegmt=True)}
    return {"Retry-After": str(options.retry_after if seconds is None else seconds)}


def _rate_limited(options: EmulatorOptions, detail: str, seconds: int | None) -> JSONResponse:
    headers = _retry_after(options, seconds)
    return error_response(429, CODE_RATE_LIMITED, "Too Many Requests", detail, headers=headers)


def _counting(send: Send, audit: Audit, *, throttled: bool = False) -> Send:
    """`send` that counts the status of the answer it starts."""

    async def counted(message: Message) -> None:
        if message["type"] == "http.response.start":
            audit.count_answer(int(message["status"]), throttled=throttled)
        await send(message)

    return counted


class FaultMiddleware:
    """Counts API requests and answers; injects a proxy's answer, the server's rate limit, or
    the faults the seeded dice choose (API routes only)."""

    def __init__(self, app: ASGIApp, state: EmulatorState, prefix: str) -> None:
        self.app = app
        self.state = state
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._covers(scope):
            await self.app(scope, receive, send)
            return
        method = str(scope["method"])
        audit = self.state.audit
        answered = audit.count_request(method)
        proxy = self.state.options.proxy_page
        if proxy != "none" and answered > self.state.options.proxy_after:
            await answer_as_proxy(proxy, self.app, scope, receive, send)
            return
        plan = self.state.draw_faults(method)
        wait = self.state.throttle()  # the token is taken as the request arrives
        if plan.delay_seconds > 0:
            await asyncio.sleep(plan.delay_seconds)
        if wait is not None:
            limit = f"{self.state.options.rate_limit_per_second:g}"
            response = _rate_limited(
                self.state.options,
                f"rate limit of {limit} requests per second exceeded",
                retry_after_seconds(wait),
            )
            await response(scope, receive, _counting(send, audit, throttled=True))
            return
        fault = plan.before or plan.after
        # A dropped answer starts a 200 that never completes: it is no answer to count.
        out = send if fault == "drop" else _counting(send, audit)
        if plan.before is not None:
            await self._fault(plan.before, scope, receive, out)
        elif plan.after is not None:
            await self.app(scope, receive, _discard)  # the request has its effect; answer lost
            await self._fault(plan.after, scope, receive, out)
        else:
            await self.app(scope, receive, out)

    def _covers(self, scope: Scope) -> bool:
        path = str(scope.get("path", ""))
        return scope["type"] == "http" and (
            path == self.prefix or path.startswith(self.prefix + "/")
        )

    async def _fault(self, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        if kind == "drop":
            # Start an answer, then fail: uvicorn can no longer send a 500 and closes the
            # transport, so the client sees a connection closed mid-response.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"1024"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
            raise ConnectionDropped("emulator: connection dropped on purpose")
        if kind == "rate_limit":
            response = _rate_limited(self.state.options, "rate limit exceeded", None)
        else:
            response = error_response(
                500, CODE_SERVER, "Internal Server Error", "injected server error"
            )
        await response(scope, receive, send)


async def _discard(message: Message) -> None:
    return None


class _DropLogFilter(logging.Filter):
    """Hides uvicorn's traceback for connections the emulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def install_drop_log_filter() -> None:
    """Keep uvicorn from logging a traceback for each connection dropped on purpose."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropLogFilter) for f in logger.filters):
        logger.addFilter(_DropLogFilter())
