"""Active Directory specifics as pure functions: account flags, expiry, binary ids, filters.

Kept apart from the LDAP I/O so that each rule is unit-tested on values shaped like AD's.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "ACCOUNT_EXPIRES_NEVER",
    "IN_CHAIN_RULE",
    "UAC_ACCOUNTDISABLE",
    "account_expiry",
    "escape_filter_value",
    "format_guid",
    "format_sid",
    "in_chain_filter",
    "is_disabled",
    "uac_disabled",
]

UAC_ACCOUNTDISABLE = 0x2  # userAccountControl bit: the account is disabled
# accountExpires values that mean "never" (AD writes either, depending on the tool used).
ACCOUNT_EXPIRES_NEVER = frozenset({0, 0x7FFFFFFFFFFFFFFF})
IN_CHAIN_RULE = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN: nested membership
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_FILTER_SPECIALS = {"\\": r"\5c", "*": r"\2a", "(": r"\28", ")": r"\29", "\0": r"\00"}


def _first(value: Any) -> Any:
    """A record's value for a single-valued attribute (a one-item list counts as the value)."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _as_int(value: Any, name: str) -> int | None:
    value = _first(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} is not a number: {str(value)[:40]!r}") from None


def uac_disabled(user_account_control: Any) -> bool:
    """Whether userAccountControl has the ACCOUNTDISABLE bit (2) set; absent means enabled."""
    flags = _as_int(user_account_control, "userAccountControl")
    return flags is not None and bool(flags & UAC_ACCOUNTDISABLE)


def account_expiry(account_expires: Any) -> datetime | None:
    """When the account expires (UTC), or None for never (0, 2**63-1 or absent).

    AD stores 100-nanosecond intervals since 1601-01-01 UTC (a Windows FILETIME).
    """
    ticks = _as_int(account_expires, "accountExpires")
    if ticks is None or ticks in ACCOUNT_EXPIRES_NEVER or ticks < 0:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
    except OverflowError:  # beyond year 9999: as good as never
        return None


def is_disabled(attributes: Mapping[str, Any], now: datetime) -> bool:
    """AD's view of a disabled account: the UAC bit set, or accountExpires in the past."""
    folded = {key.casefold(): value for key, value in attributes.items()}
    if uac_disabled(folded.get("useraccountcontrol")):
        return True
    expires = account_expiry(folded.get("accountexpires"))
    return expires is not None and expires <= now


def format_guid(raw: bytes) -> str:
    """objectGUID in AD's canonical text form (mixed-endian, as PowerShell shows it)."""
    if len(raw) != 16:
        raise ValueError(f"objectGUID must be 16 bytes, got {len(raw)}")
    return str(uuid.UUID(bytes_le=raw))


def format_sid(raw: bytes) -> str:
    """objectSid in its canonical text form, e.g. S-1-5-21-1004336348-1177238915-682003330-512."""
    if len(raw) < 8:
        raise ValueError(f"objectSid is too short ({len(raw)} bytes)")
    revision, count = raw[0], raw[1]
    if len(raw) != 8 + 4 * count:
        raise ValueError(f"objectSid length {len(raw)} does not match {count} sub-authorities")
    authority = int.from_bytes(raw[2:8], "big")
    # MS-DTYP 2.4.2.1: authorities of 2**32 and above are written in hex.
    auth_text = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    subs = [int.from_bytes(raw[8 + 4 * i : 12 + 4 * i], "little") for i in range(count)]
    return "-".join(["S", str(revision), auth_text, *map(str, subs)])


def escape_filter_value(value: str) -> str:
    """A value escaped for an LDAP filter (RFC 4515): \\ * ( ) and NUL."""
    return "".join(_FILTER_SPECIALS.get(char, char) for char in value)


def in_chain_filter(group_dn: str, base_filter: str | None = None) -> str:
    """The filter for members of `group_dn`, nested groups included (AD's in-chain rule).

    With `base_filter`, only entries that also match it (the job's filter) are returned.
    """
    chain = f"(memberOf:{IN_CHAIN_RULE}:={escape_filter_value(group_dn)})"
    return f"(&{base_filter}{chain})" if base_filter else chain
