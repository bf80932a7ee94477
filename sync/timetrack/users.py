"""TimeTrack user bodies: normalizing what the server lists, shaping what the client sends."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sync.model import BOOL_FIELDS, NOT_UPDATABLE, TimeTrackUser
from sync.timetrack.errors import ProtocolError, excerpt

LIST_KEYS: tuple[str, ...] = ("data", "users", "items", "results")
# Where a wrapped list may say how many users there are in all (the vendor documents none):
# beside the array, or inside a `meta`/`pagination` object.
TOTAL_KEYS: tuple[str, ...] = ("total", "totalCount", "total_count", "count")
TOTAL_HOLDERS: tuple[str, ...] = ("meta", "pagination")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_PLAIN_NUMBER = re.compile(r"(?:0|[1-9][0-9]*)")
_NEVER_KEPT = frozenset({"password"})


def to_bool(value: object) -> bool | None:
    """A boolean from true/false, 1/0, "1"/"0", "true"/"false"; None when it is none of them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def personal_number_text(value: object) -> object:
    """personalNumber as text: the number 1234 (or 1234.0) becomes "1234"; text stays as is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return value


def normalize_user(raw: Mapping[str, Any]) -> TimeTrackUser:
    """A TimeTrackUser from a server user object: bools, personalNumber text, id as str."""
    if not isinstance(raw, Mapping):
        raise ProtocolError(f"expected a user object, got {describe_value(raw)}")
    user_id = raw.get("id")
    username = raw.get("username")
    if user_id is None or isinstance(user_id, bool) or str(user_id).strip() == "":
        raise ProtocolError(f"user object without an id: {describe_value(raw)}")
    if not isinstance(username, (str, int)) or isinstance(username, bool) or username == "":
        raise ProtocolError(f"user object without a username: {describe_value(raw)}")
    if isinstance(user_id, float) and user_id.is_integer():
        user_id = int(user_id)
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _NEVER_KEPT:
            continue
        fields[name] = _normalize_value(name, value)
    fields["id"] = str(user_id)
    fields["username"] = str(username)
    enabled_raw = raw.get("enabled")
    enabled = True if enabled_raw is None else to_bool(enabled_raw)
    if enabled is None:
        raise ProtocolError(f"user {user_id}: enabled is not a boolean: {enabled_raw!r:.40}")
    fields["enabled"] = enabled
    return TimeTrackUser(id=str(user_id), username=str(username), enabled=enabled, fields=fields)


def _normalize_value(name: str, value: object) -> object:
    """One listed field in its normal form (unrecognized booleans are kept as they came)."""
    if name in BOOL_FIELDS:
        as_bool = to_bool(value)
        return as_bool if as_bool is not None else value
    if name == "personalNumber":
        return personal_number_text(value)
    return value


def extract_list(data: object) -> list[Any]:
    """The user list from a bare array or an object holding it under data/users/items/results."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in LIST_KEYS:
            if isinstance(data.get(key), list):
                return list(data[key])
    raise ProtocolError(
        "expected a JSON array of users or an object with one under "
        f"{'/'.join(LIST_KEYS)}, got {describe_value(data)}"
    )


def extract_total(data: object) -> int | None:
    """The total a wrapped list answer carries (`total`, `meta.total`, ...); None if none."""
    if not isinstance(data, dict):
        return None
    holders = [data, *(data[k] for k in TOTAL_HOLDERS if isinstance(data.get(k), dict))]
    for holder in holders:
        for key in TOTAL_KEYS:
            total = _count(holder.get(key))
            if total is not None:
                return total
    return None


def _count(value: object) -> int | None:
    """A whole number >= 0 (also as digits text); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def extract_object(data: object) -> Mapping[str, Any] | None:
    """The user object of a single-user answer (bare, or under data/user); None if absent."""
    if isinstance(data, dict):
        if "id" in data or "username" in data:
            return data
        for key in ("data", "user"):
            inner = data.get(key)
            if isinstance(inner, dict):
                return inner
    return None


def describe_value(data: object) -> str:
    """What arrived, for a protocol error: type plus a short excerpt (keys of an object)."""
    if isinstance(data, dict):
        keys = ", ".join(str(k) for k in list(data)[:10])
        return excerpt(f"an object with keys [{keys}]")
    if isinstance(data, list):
        return f"an array of {len(data)} items"
    if data is None:
        return "null"
    return excerpt(f"{type(data).__name__} {data!r}")


def create_body(fields: Mapping[str, Any], *, personal_number_as_number: bool) -> dict[str, Any]:
    """The POST body: every given field but id, personalNumber as text or plain number."""
    body = {k: v for k, v in fields.items() if k != "id"}
    if "personalNumber" in body:
        body["personalNumber"] = outgoing_personal_number(
            body["personalNumber"], as_number=personal_number_as_number
        )
    return body


def update_body(fields: Mapping[str, Any], *, personal_number_as_number: bool) -> dict[str, Any]:
    """The PUT body: the given fields without username, enabled and id (the vendor's rule)."""
    body = {k: v for k, v in fields.items() if k not in NOT_UPDATABLE}
    if "personalNumber" in body:
        body["personalNumber"] = outgoing_personal_number(
            body["personalNumber"], as_number=personal_number_as_number
        )
    return body


def outgoing_personal_number(value: object, *, as_number: bool) -> object:
    """A JSON number only when asked and the text is plain digits without a leading zero."""
    text = personal_number_text(value)
    if as_number and isinstance(text, str) and _PLAIN_NUMBER.fullmatch(text.strip()):
        return int(text.strip())
    return text
