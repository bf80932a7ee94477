"""Dates in mapping expressions: the `date` filter and `days(n)`, for dated leavers and joiners.

`value | date` parses an ISO date (`2026-12-31`); any other layout needs its strptime format,
`value | date('%d.%m.%Y')`, because `01/02/2026` could be the 1st of February or the 2nd of
January. An empty or missing value gives None. A value that does not parse raises
DateValueError (bad data: the person is skipped); a format that cannot describe a date
raises DateFormatError (a config mistake). `days(n)` is a timedelta of n days, so that
`today >= start_date | date('%d.%m.%Y') - days(7)` reads as it is written.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import cast

from jinja2 import nodes

__all__ = ["DateFormatError", "DateValueError", "days", "parse_date", "prepare_date_filters"]

# Day over 12 and the last month: a format that lacks a part does not give this date back.
_SAMPLE = date(2026, 12, 31)
# strptime knows no flags or widths (`%-d`, `%10Y`: group 1 set and not `%`); refusing them
# early also keeps the round trip below from padding its sample to a huge width.
_DIRECTIVE = re.compile(r"%(%|[-_0^#]*\d|[-_^#])?")
_ISO_HINT = "an ISO date (YYYY-MM-DD); other layouts need their format, e.g. date('%d.%m.%Y')"
_INPUT_KEYWORD = "input_name"  # added to each `| date` whose input is a column (for messages)


class DateValueError(ValueError):
    """A value that is not a date in the expected format (the record is skipped)."""


class DateFormatError(Exception):
    """A date format that can never parse a date (a mistake in the config)."""


def days(count: int) -> timedelta:
    """A timedelta of `count` whole days, for arithmetic with `today` and parsed dates."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"days() takes a whole number, not {count!r}")
    return timedelta(days=count)


def parse_date(
    value: object, format: str | None = None, *, input_name: str | None = None
) -> date | None:
    """The date in `value` (ISO unless `format` is given); None when it is empty or missing."""
    if format is not None:
        _check_format(format)
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    text = str(value).strip()
    if not text:
        return None
    shown = f"{input_name} {text[:80]!r}" if input_name else repr(text[:80])
    if format is None:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise DateValueError(f"{shown} is not {_ISO_HINT}") from None
    try:
        return datetime.strptime(text, format).date()
    except ValueError:
        example = _SAMPLE.strftime(format)
        raise DateValueError(
            f"{shown} is not a date in the format {format!r} (e.g. {example!r})"
        ) from None


def _check_format(fmt: object) -> None:
    """DateFormatError unless `fmt` is a strptime format with a day, a month and a year."""
    if not isinstance(fmt, str):
        raise DateFormatError(f"date format {fmt!r} is not a string")
    _check_format_text(fmt)


@lru_cache(maxsize=64)
def _check_format_text(fmt: str) -> None:
    if any(m.group(1) not in (None, "%") for m in _DIRECTIVE.finditer(fmt)):
        raise DateFormatError(f"date format {fmt!r} has flags or widths (strptime takes none)")
    try:
        parsed = datetime.strptime(_SAMPLE.strftime(fmt), fmt).date()
    except ValueError as exc:
        raise DateFormatError(f"date format {fmt!r} is not valid: {exc}") from None
    if parsed != _SAMPLE:
        raise DateFormatError(f"date format {fmt!r} lacks the day, month or year (%d, %m, %Y)")


def prepare_date_filters(tree: nodes.Template) -> None:
    """Check each `| date` format given as a literal, and name its input column for messages."""
    for node in tree.find_all(nodes.Filter):
        if node.name != "date":
            continue
        if node.args and isinstance(node.args[0], nodes.Const):
            _check_format(node.args[0].value)
        keywords = cast("list[nodes.Keyword]", node.kwargs)  # Jinja annotates them as Pair
        name = _column_name(node.node)
        if name and all(k.key != _INPUT_KEYWORD for k in keywords):
            keywords.append(nodes.Keyword(_INPUT_KEYWORD, nodes.Const(name), lineno=node.lineno))


def _column_name(node: nodes.Node | None) -> str | None:
    """How the expression names a column: `exit_date`, `record['exit date']`, `record.x`."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getitem | nodes.Getattr) and isinstance(node.node, nodes.Name):
        if isinstance(node, nodes.Getattr):
            return f"{node.node.name}.{node.attr}"
        if isinstance(node.arg, nodes.Const):
            return f"{node.node.name}[{node.arg.value!r}]"
    return None
