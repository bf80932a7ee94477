"""The user fields of the TimeTrack users API: names, defaults, how incoming values are cleaned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.timetrack.emulator.errors import invalid

BOOL_FIELDS = ("admin", "teamLead", "enabled")
TEXT_FIELDS = ("username", "firstName", "lastName", "email", "language")
FILTER_FIELDS = (*TEXT_FIELDS, "personalNumber")
REQUIRED_ON_CREATE = ("username", "firstName", "lastName", "email", "password")
NOT_UPDATABLE = ("username", "enabled")


def defaults() -> dict[str, Any]:
    """The values a new user has for the fields its creator left out."""
    return {
        "personalNumber": None,
        "language": "en",
        "admin": False,
        "teamLead": False,
        "enabled": True,
    }


def present(value: object) -> bool:
    """Whether a required field counts as given (not missing, null or blank)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


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


def clean_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a create or update body's fields (id and password left out)."""
    return {k: clean_value(k, v) for k, v in body.items() if k not in ("id", "password")}


def time_entry_count(value: object) -> int:
    """A user's number of recorded time entries: a whole number >= 0; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"time entries: must be a whole number >= 0, not {value!r}")
    return value
