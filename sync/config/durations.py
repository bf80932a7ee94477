"""Durations in the config: a number and a unit (`30s`, `15m`, `12h`, `2d`), or `0`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

DURATION = re.compile(r"^(\d+)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """`2d` -> 2 days; `0` (number or text) -> no time; anything else is a ValueError."""
    if isinstance(value, timedelta):
        return value
    text = str(value).strip()
    if text == "0" and not isinstance(value, bool):
        return timedelta(0)
    match = DURATION.match(text)
    if match is None or isinstance(value, bool):
        raise ValueError(
            f"must be 0 or a number and a unit s/m/h/d like 30m, 12h, 2d (got {value!r})"
        )
    return timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def describe_duration(span: timedelta) -> str:
    """A duration the way the config writes it, to two units: 93,784 s -> `1d 2h`."""
    left = max(0, int(span.total_seconds()))
    parts = []
    for unit, seconds in sorted(UNIT_SECONDS.items(), key=lambda item: -item[1]):
        count, left = divmod(left, seconds)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"
