"""The emulator's switches: one for every unknown of the API, plus fault injection."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

LIST_SHAPES = ("bare", "data", "users", "items", "results")
BOOL_STYLES = ("json", "int", "string")
PERSONAL_NUMBER_STYLES = ("text", "number")
USERNAME_FILTERS = ("exact", "substring")
DELETE_MODES = ("hard", "soft")
# Where a wrapped list says how many users match: beside the array, or under `meta`.
LIST_TOTALS = ("none", "total", "totalCount", "meta.total")
# What a proxy in front of the API answers instead of it: a login page, or the body cut short.
PROXY_PAGES = ("none", "login", "truncated")

_CHOICES: dict[str, tuple[Any, ...]] = {
    "list_shape": LIST_SHAPES,
    "bool_style": BOOL_STYLES,
    "personal_number_style": PERSONAL_NUMBER_STYLES,
    "username_filter": USERNAME_FILTERS,
    "delete_mode": DELETE_MODES,
    "duplicate_status": (400, 409, 422),
    "delete_refused_status": (400, 409, 422),
    "list_total": LIST_TOTALS,
    "proxy_page": PROXY_PAGES,
}
_COUNTS = ("delete_during_listing", "create_during_listing", "proxy_after")
_RATES = (
    "fail_rate",
    "fail_after_write_rate",
    "rate_limit_rate",
    "drop_rate",
    "seed_time_entries_share",
)


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
    rate_limit_rate: float = 0.0  # 429 at random
    # Retry-After of the 429s: "N" seconds | "date" | None (header omitted). The server limit
    # below sends the seconds until its next token instead of N (as a date with "date").
    retry_after: str | None = "1"
    # A server-side limit (a token bucket): above this many requests a second, 429 (0: off).
    rate_limit_per_second: float = 0.0
    rate_limit_burst: int = 10  # requests the bucket lets through at once after a pause
    drop_rate: float = 0.0  # connection dropped (half before applying, half after)
    seed: int = 0
    duplicate_status: int = 409  # status for a duplicate username: 409 | 400 | 422
    unique_emails: bool = False  # also refuse a second user with the same email
    # A hard DELETE of a user with recorded time entries is refused with this status.
    delete_refused_status: int = 400  # 400 | 409 | 422
    seed_time_entries_share: float = 0.0  # share of generated users seeded with time entries
    list_total: str = "none"  # none | total | totalCount | meta.total (needs a wrapped shape)
    # An admin at work while a client pages: after each full page of an unfiltered listing,
    # delete that page's first user (every later user shifts back, so the next page skips
    # one) and/or create a user; each counts down by one per change until 0.
    delete_during_listing: int = 0
    create_during_listing: int = 0
    # A proxy answering API requests instead of the API, after `proxy_after` answered ones:
    # "login" a 200 HTML login page (the request never reaches the API), "truncated" the
    # API's own answer cut in half (a consistent Content-Length, so only the JSON is broken).
    proxy_page: str = "none"
    proxy_after: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first option with a value outside what is allowed."""
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: must be one of {', '.join(map(str, allowed))}")
        for name in _RATES:
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")
        for name in _COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: must be a whole number >= 0")
        if self.list_total != "none" and self.list_shape == "bare":
            raise ValueError("list_total: needs a wrapped list_shape (a bare array has no total)")
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError("latency_ms and jitter_ms: must be >= 0")
        if not float(self.rate_limit_per_second) >= 0:
            raise ValueError("rate_limit_per_second: must be >= 0 (0: no server limit)")
        burst = self.rate_limit_burst
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError("rate_limit_burst: must be a whole number >= 1")
        if self.retry_after not in (None, "date") and not str(self.retry_after).isdigit():
            raise ValueError('retry_after: must be a number of seconds, "date" or null')

    def change(self, **changes: Any) -> None:
        """Apply `changes` in place once all are valid; unknown names raise ValueError."""
        known = {f.name for f in fields(EmulatorOptions)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(unknown)}")
        if "retry_after" in changes and changes["retry_after"] is not None:
            changes["retry_after"] = str(changes["retry_after"])
        EmulatorOptions(**{**asdict(self), **changes}).validate()
        for name, value in changes.items():
            setattr(self, name, value)

    def public_dict(self) -> dict[str, Any]:
        """The options as a dict without the API secret."""
        data = asdict(self)
        data.pop("api_secret")
        return data


def parse_setting(text: str) -> tuple[str, Any]:
    """`NAME=VALUE` (the command line's `--set`) as an option name and a value of its type."""
    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    defaults: dict[str, Any] = asdict(EmulatorOptions())
    if not sep or name not in defaults:
        raise ValueError(
            f"{text!r}: give NAME=VALUE with NAME one of {', '.join(sorted(defaults))}"
        )
    default, raw = defaults[name], raw.strip()
    if name == "retry_after":
        return name, None if raw.lower() in ("none", "null", "") else raw
    if isinstance(default, bool):
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{name}: must be true or false (got {raw!r})")
        return name, raw.lower() in ("true", "1", "yes")
    kind: type[Any] = type(default)
    try:
        return name, kind(raw)
    except ValueError:
        raise ValueError(f"{name}: must be a {type(default).__name__} (got {raw!r})") from None
