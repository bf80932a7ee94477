"""Switches, audit records and the error type of the TimeTrack emulator (no state here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

LIST_SHAPES = ("bare", "data", "users", "items", "results")
BOOL_STYLES = ("json", "int", "string")
PERSONAL_NUMBER_STYLES = ("text", "number")
USERNAME_FILTERS = ("exact", "substring")
DELETE_MODES = ("hard", "soft")
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
BOOL_FIELDS = ("admin", "teamLead", "enabled")
TEXT_FIELDS = ("username", "firstName", "lastName", "email", "language")
REQUIRED_ON_CREATE = ("username", "firstName", "lastName", "email", "password")
NOT_UPDATABLE = ("username", "enabled")

# 15020 is the vendor's documented "not found" code; the others are our own stand-ins.
CODE_AUTH = 10010
CODE_REQUIRED = 15001
CODE_INVALID = 15002
CODE_DUPLICATE = 15003
CODE_NOT_UPDATABLE = 15004
CODE_BAD_PAGING = 15010
CODE_NOT_FOUND = 15020
CODE_RATE_LIMITED = 42900
CODE_SERVER = 50000

_CHOICES: dict[str, tuple[Any, ...]] = {
    "list_shape": LIST_SHAPES,
    "bool_style": BOOL_STYLES,
    "personal_number_style": PERSONAL_NUMBER_STYLES,
    "username_filter": USERNAME_FILTERS,
    "delete_mode": DELETE_MODES,
    "duplicate_status": (400, 409, 422),
}
_RATES = ("fail_rate", "fail_after_write_rate", "rate_limit_rate", "drop_rate")


@dataclass
class EmulatorOptions:
    """Switches for every unknown of the API, plus fault injection; changeable at runtime."""

    api_key: str = "demo-key"
    api_secret: str = field(default="demo-secret", repr=False)
    list_shape: str = "bare"  # bare | data | users | items | results
    bool_style: str = "json"  # json | int (1/0) | string ("1"/"0")
    personal_number_style: str = "text"  # text | number (digits-only values as numbers)
    username_filter: str = "exact"  # exact | substring
    ignore_paging: bool = False
    post_returns_id: bool = True
    delete_mode: str = "hard"  # hard | soft (user stays, enabled=false)
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fail_rate: float = 0.0  # 500 before the request has any effect
    fail_after_write_rate: float = 0.0  # write applied, then answered 500
    rate_limit_rate: float = 0.0  # 429
    retry_after: str | None = "1"  # "N" seconds | "date" | None (header omitted)
    drop_rate: float = 0.0  # connection dropped (half before applying, half after)
    seed: int = 0
    duplicate_status: int = 409  # status for a duplicate username: 409 | 400 | 422
    unique_emails: bool = False  # also refuse a second user with the same email

    def validate(self) -> None:
        """Raise ValueError naming the first option with a value outside what is allowed."""
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: must be one of {', '.join(map(str, allowed))}")
        for name in _RATES:
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError("latency_ms and jitter_ms: must be >= 0")
        if self.retry_after not in (None, "date") and not str(self.retry_after).isdigit():
            raise ValueError('retry_after: must be a number of seconds, "date" or null')

    def public_dict(self) -> dict[str, Any]:
        """The options as a dict without the API secret."""
        data = asdict(self)
        data.pop("api_secret")
        return data


@dataclass(frozen=True)
class WriteRecord:
    """One write the API applied (POST, PUT or DELETE) to one user."""

    method: str
    user_id: int
    username: str
    time: datetime


@dataclass(frozen=True)
class FaultPlan:
    """What the dice decided for one request: a delay and at most one fault."""

    delay_seconds: float = 0.0
    before: str | None = None  # "rate_limit" | "fail" | "drop": the request has no effect
    after: str | None = None  # "fail" | "drop": the request had its effect


class ApiError(Exception):
    """An API answer with the vendor's error body; `errors` holds one entry per problem."""

    def __init__(self, status: int, code: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.errors: list[dict[str, Any]] = [
            {"title": title, "status": status, "code": code, "detail": detail}
        ]

    def body(self) -> dict[str, Any]:
        """The JSON body `{"errors": [...]}`."""
        return {"errors": self.errors}


def not_found(user_id: object) -> ApiError:
    """The 404 error for an unknown user id."""
    return ApiError(404, CODE_NOT_FOUND, "Not Found", f"User with id {user_id} not found")


def invalid(name: str, what: str) -> ApiError:
    return ApiError(422, CODE_INVALID, "Validation failed", f"Field '{name}' {what}")


def coerce_bool(name: str, value: object) -> bool:
    """A boolean from true/false, 1/0 or "1"/"0"/"true"/"false"; ApiError 422 otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "0", "false"):
        return value.strip().lower() in ("1", "true")
    raise invalid(name, "must be a boolean")


def clean_value(name: str, value: Any) -> Any:
    """The stored form of one incoming field value; ApiError 422 when it has the wrong type."""
    if name in BOOL_FIELDS:
        return coerce_bool(name, value)
    if name == "personalNumber":
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, str):
            return value.strip()
        raise invalid(name, "must be a string or a number")
    if name in TEXT_FIELDS:
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(name, "must be a string")
        value = value.strip()
        if name == "email" and value and ("@" not in value or " " in value):
            raise invalid(name, "is not a valid email address")
        return value
    return value  # unknown fields are kept as they came
