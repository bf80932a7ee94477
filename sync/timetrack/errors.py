"""Errors of the TimeTrack API client, each carrying the request that failed.

    SyncError (sync.errors)
    └── TimeTrackError             attrs: method, path, status_code (int | None), attempts,
        │                          maybe_applied (a write whose outcome is unknown)
        ├── AuthError              401/403: check timetrack.api_key / timetrack.api_secret_file
        ├── NotFoundError          404
        ├── RejectedError          400/409/422 (and other 4xx): title, detail, code from the body
        ├── RateLimitedError       429, still after every retry
        ├── ServerError            5xx, still after every retry
        ├── ProtocolError          an answer we cannot use (names what arrived, ~200 chars)
        └── TransportError         connect/read timeout, dropped connection, TLS failure

Messages name the method, the URL path, the status and the server's title/detail. None of them
may carry the API secret: the client builds every message from the path (never headers) and
redacts the secret from any server text it quotes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sync.errors import SyncError

EXCERPT_CHARS = 200
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


class TimeTrackError(SyncError):
    """Base of every failure talking to TimeTrack."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
        attempts: int = 1,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.method = method
        self.path = path
        self.status_code = status_code
        self.attempts = attempts
        # A write gave up after an attempt that may have taken effect (a 5xx, a timeout, a
        # dropped answer): whether TimeTrack changed is unknown until someone looks.
        self.maybe_applied = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, method={self.method!r}, "
            f"path={self.path!r}, status_code={self.status_code!r}, attempts={self.attempts})"
        )


class AuthError(TimeTrackError):
    """TimeTrack refused the credentials (401) or the account's rights (403)."""


class NotFoundError(TimeTrackError):
    """The addressed user does not exist (404)."""


class RejectedError(TimeTrackError):
    """TimeTrack rejected the request's content: validation, duplicate username or email."""

    def __init__(
        self,
        message: str,
        *,
        title: str | None = None,
        detail: str | None = None,
        code: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.title = title
        self.detail = detail
        self.code = code


class RateLimitedError(TimeTrackError):
    """TimeTrack still answered 429 after every retry."""


class ServerError(TimeTrackError):
    """TimeTrack still answered 5xx after every retry."""


class ProtocolError(TimeTrackError):
    """TimeTrack answered something the client cannot use."""


class TransportError(TimeTrackError):
    """No usable HTTP answer: timeout, refused or dropped connection, TLS failure."""


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What a server error answer says, from the documented body or a plain-text excerpt."""

    title: str | None = None
    detail: str | None = None
    code: str | int | None = None
    excerpt: str | None = None  # the (redacted, truncated) raw text when it was not the JSON

    def describe(self) -> str:
        """'title: detail (code 15020)', or the quoted excerpt, or ''."""
        parts = [p for p in (self.title, self.detail) if p]
        text = ": ".join(parts)
        if self.code is not None and text:
            text += f" (code {self.code})"
        if not text and self.excerpt:
            text = repr(self.excerpt)
        return text


def excerpt(
    text: str, secret: str | None = None, limit: int = EXCERPT_CHARS, *, keep_tags: bool = False
) -> str:
    """A short one-line excerpt of server text: tags dropped (unless kept), secret redacted."""
    flat = _SPACE.sub(" ", text if keep_tags else _TAG.sub(" ", text)).strip()
    if secret:
        flat = flat.replace(secret, "***")
    if len(flat) > limit:
        flat = flat[: limit - 3] + "..."
    return flat


def parse_error_body(text: str, secret: str | None = None) -> ErrorBody:
    """Read {"errors":[{title,status,code,detail}]} (or a near variant); else keep an excerpt."""
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    entry: Any = None
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            entry = errors[0]
        elif isinstance(errors, dict):
            entry = errors
        elif any(k in data for k in ("title", "detail", "message", "error")):
            entry = data
    if entry is None:
        return ErrorBody(excerpt=excerpt(text, secret) or None)
    title = entry.get("title") or entry.get("error")
    detail = entry.get("detail") or entry.get("message")
    code = entry.get("code")
    return ErrorBody(
        title=excerpt(str(title), secret) if title else None,
        detail=excerpt(str(detail), secret) if detail else None,
        code=code if isinstance(code, (int, str)) and not isinstance(code, bool) else None,
    )
