"""The Starlette app of the TimeTrack emulator: the users API and the /_emulator admin routes."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.timetrack.emulator.errors import (
    CODE_AUTH,
    CODE_BAD_PAGING,
    CODE_BAD_REQUEST,
    ApiError,
    not_found,
)
from sync.timetrack.emulator.fields import BOOL_FIELDS, time_entry_count
from sync.timetrack.emulator.middleware import (
    FaultMiddleware,
    error_response,
    install_drop_log_filter,
)
from sync.timetrack.emulator.options import EmulatorOptions
from sync.timetrack.emulator.seed import seed_user
from sync.timetrack.emulator.state import EmulatorState

API_PREFIX = "/api/v2/ext"
ADMIN_PREFIX = "/_emulator"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def render_user(user: dict[str, Any], options: EmulatorOptions) -> dict[str, Any]:
    """A stored user as the API answers it, in the configured bool and personalNumber styles."""
    out = dict(user)
    for name in BOOL_FIELDS:
        if name in out and isinstance(out[name], bool):
            if options.bool_style == "int":
                out[name] = int(out[name])
            elif options.bool_style == "string":
                out[name] = "1" if out[name] else "0"
    number = out.get("personalNumber")
    if number is not None:
        text = str(number)
        numeric = options.personal_number_style == "number" and text.isdigit()
        out["personalNumber"] = int(text) if numeric else text
    return out


def _paging(request: Request, options: EmulatorOptions) -> tuple[int, int]:
    """(offset, limit) from page_number and limit; ApiError 400 when out of range."""
    try:
        page = int(request.query_params.get("page_number", "0"))
        limit = int(request.query_params.get("limit", str(DEFAULT_LIMIT)))
    except ValueError:
        raise ApiError(
            400, CODE_BAD_PAGING, "Bad Request", "page_number and limit must be integers"
        ) from None
    if page < 0:
        raise ApiError(400, CODE_BAD_PAGING, "Bad Request", "page_number must be >= 0")
    if not 0 <= limit <= MAX_LIMIT:
        raise ApiError(
            400, CODE_BAD_PAGING, "Bad Request", f"limit must be between 0 and {MAX_LIMIT}"
        )
    offset = 0 if options.ignore_paging else page * limit
    return offset, limit


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise ApiError(400, CODE_BAD_REQUEST, "Bad Request", "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, CODE_BAD_REQUEST, "Bad Request", "body must be a JSON object")
    return body


def _user_id(request: Request) -> int:
    raw = request.path_params["user_id"]
    if not raw.isdigit():
        raise not_found(raw)
    return int(raw)


class _Api:
    """Endpoints of the users API over one EmulatorState."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def _auth(self, request: Request) -> None:
        opts = self.state.options
        key = request.headers.get("x-timetrack-api-key", "")
        secret = request.headers.get("x-timetrack-api-secret", "")
        key_ok = hmac.compare_digest(key.encode(), opts.api_key.encode())
        secret_ok = hmac.compare_digest(secret.encode(), opts.api_secret.encode())
        if not (key_ok and secret_ok):
            raise ApiError(401, CODE_AUTH, "Unauthorized", "Invalid or missing API key or secret")

    async def users(self, request: Request) -> Response:
        """GET users (list, paged, filtered) and POST users (create)."""
        self._auth(request)
        opts = self.state.options
        if request.method == "POST":
            user = self.state.store.api_create(await _json_object(request), options=opts)
            if not opts.post_returns_id:
                return JSONResponse({}, status_code=201)
            return JSONResponse(render_user(user, opts), status_code=201)
        offset, limit = _paging(request, opts)
        filters = {
            k: v for k, v in request.query_params.items() if k not in ("page_number", "limit")
        }
        page, total = self.state.list_page(filters, offset, limit)
        rendered = [render_user(user, opts) for user in page]
        if opts.list_shape == "bare":
            return JSONResponse(rendered)
        body: dict[str, Any] = {opts.list_shape: rendered}
        if opts.list_total == "meta.total":
            body["meta"] = {"total": total}
        elif opts.list_total != "none":
            body[opts.list_total] = total
        return JSONResponse(body)

    async def user(self, request: Request) -> Response:
        """GET, PUT and DELETE users/{id}."""
        self._auth(request)
        user_id = _user_id(request)
        opts = self.state.options
        if request.method == "GET":
            return JSONResponse(render_user(self.state.store.api_get(user_id), opts))
        if request.method == "PUT":
            body = await _json_object(request)
            user = self.state.store.api_update(user_id, body, options=opts)
            return JSONResponse(render_user(user, opts))
        self.state.store.api_delete(user_id, options=opts)
        return Response(status_code=204)


def _admin_answer(action: Callable[[], Any], status: int = 200) -> Response:
    """What `action()` returns as JSON; an unknown user (KeyError) 404, a bad value 400."""
    try:
        return JSONResponse(action(), status_code=status)
    except KeyError as exc:
        return JSONResponse({"error": str(exc.args[0])}, status_code=404)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise ValueError(f"{name}: must be true or false, not {value!r}")
    return value


class _Admin:
    """Routes under /_emulator/: no API auth, loopback clients only."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    @staticmethod
    def _loopback(request: Request) -> None:
        host = request.client.host if request.client else ""
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                return
        raise HTTPException(403, "admin routes answer loopback clients only")

    async def users(self, request: Request) -> Response:
        """GET: every user unpaged; POST: insert one user directly (a seed row)."""
        self._loopback(request)
        if request.method == "POST":
            row = seed_user(await _json_object(request))
            return _admin_answer(lambda: self.state.add_user(**row), status=201)
        return JSONResponse(self.state.users())

    async def time_entries(self, request: Request) -> Response:
        """GET, or PUT {"count": N}: a user's recorded time entries (the API never shows them)."""
        self._loopback(request)
        user_id: int = request.path_params["user_id"]
        body = await _json_object(request) if request.method == "PUT" else None

        def answer() -> dict[str, int]:
            if body is not None:
                self.state.set_time_entries(user_id, time_entry_count(body.get("count")))
            return {"id": user_id, "count": self.state.time_entries(user_id)}

        return _admin_answer(answer)

    async def enabled(self, request: Request) -> Response:
        """PUT {"enabled": bool}: (de)activate a user as an admin does in the web UI."""
        self._loopback(request)
        user_id: int = request.path_params["user_id"]
        body = await _json_object(request)
        return _admin_answer(lambda: self.state.update(user_id, enabled=_flag(body, "enabled")))

    async def stats(self, request: Request) -> Response:
        """Request counters and the write audit."""
        self._loopback(request)
        return JSONResponse(self.state.stats())

    async def options(self, request: Request) -> Response:
        """POST a JSON patch of options; GET the current ones (never the secret)."""
        self._loopback(request)
        if request.method == "POST":
            try:
                self.state.set_options(**await _json_object(request))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.state.options.public_dict())

    async def reset(self, request: Request) -> Response:
        """Drop users, counters and writes (options stay)."""
        self._loopback(request)
        self.state.reset()
        return JSONResponse({"ok": True})


def create_app(state: EmulatorState) -> Starlette:
    """The Starlette app serving the users API and the /_emulator admin routes over `state`."""
    api, admin = _Api(state), _Admin(state)
    routes = [
        Route(f"{API_PREFIX}/users", api.users, methods=["GET", "POST"]),
        Route(f"{API_PREFIX}/users/", api.users, methods=["GET", "POST"]),
        Route(f"{API_PREFIX}/users/{{user_id}}", api.user, methods=["GET", "PUT", "DELETE"]),
        Route(f"{ADMIN_PREFIX}/users", admin.users, methods=["GET", "POST"]),
        Route(
            f"{ADMIN_PREFIX}/users/{{user_id:int}}/time-entries",
            admin.time_entries,
            methods=["GET", "PUT"],
        ),
        Route(f"{ADMIN_PREFIX}/users/{{user_id:int}}/enabled", admin.enabled, methods=["PUT"]),
        Route(f"{ADMIN_PREFIX}/stats", admin.stats, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/options", admin.options, methods=["GET", "POST"]),
        Route(f"{ADMIN_PREFIX}/reset", admin.reset, methods=["POST"]),
    ]

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, exc.status_code * 100, "Error", str(exc.detail))

    install_drop_log_filter()
    return Starlette(
        routes=routes,
        middleware=[Middleware(FaultMiddleware, state=state, prefix=API_PREFIX)],
        exception_handlers={ApiError: api_error, HTTPException: http_error},
    )
