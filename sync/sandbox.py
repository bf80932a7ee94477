"""The Jinja2 sandbox mapping expressions run in, with limits so that none can hang a run.

The immutable sandbox already refuses Python internals (`__class__`, `__globals__`) and
mutation; on top of it, widths, repetitions, powers, %-formats and ranges that would build
output over `MAX_OUTPUT_CHARS` (or `MAX_RANGE` items) are refused with a SecurityError, which
the mapper reports as a MappingError.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from datetime import date
from functools import cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sync.dates import parse_date

MAX_RANGE = 10_000  # items one range() may produce
MAX_OUTPUT_CHARS = 10_000  # characters one field's template may render
_MAX_POWER_BITS = 10_000
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_PRINTF_SPEC = re.compile(r"%%|%(?:\([^)]*\))?[#0 +-]*(\d+|\*)?(?:\.(\d+|\*))?")
_STRFTIME_WIDTH = re.compile(r"%[-_0^#]*(\d+)")


def _check_width(value: object) -> None:
    """SecurityError for a width or count that would build a string over the output limit."""
    if isinstance(value, int) and value > MAX_OUTPUT_CHARS:
        raise SecurityError(f"width {value} is over the limit of {MAX_OUTPUT_CHARS}")


def _check_printf(fmt: str, args: Any) -> None:
    """Refuse `'%0999999999d' % 1`: a width or precision over the output limit."""
    starred = False
    for match in _PRINTF_SPEC.finditer(fmt):
        for spec in match.groups():
            starred |= spec == "*"
            _check_width(int(spec) if spec and spec.isdigit() else 0)
    for value in (args if isinstance(args, tuple) else (args,)) if starred else ():
        _check_width(value)


def _check_str_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse `'{:>999999999}'.format(x)`, also with the width in an argument ({:{w}})."""
    for _text, _field, spec, _conversion in string.Formatter().parse(fmt):
        for digits in re.findall(r"\d+", spec or ""):
            _check_width(int(digits))
        if spec and "{" in spec:
            mappings = [a for a in args if isinstance(a, Mapping)]
            values = [*args, *kwargs.values(), *(v for m in mappings for v in m.values())]
            for value in values:
                _check_width(value)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with limits so that an expression cannot hang or exhaust a run."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Refuse padding a string, or a date's strftime, to a width over the output limit."""
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and obj.__name__ in _PADDING_METHODS:
            for value in (*args, *kwargs.values()):
                _check_width(value)
        if isinstance(owner, date) and obj.__name__ == "strftime":
            for value in (*args, *kwargs.values()):
                for digits in _STRFTIME_WIDTH.findall(str(value)):
                    _check_width(int(digits))
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format / format_map, with their widths checked."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_str_format(fmt, args, kwargs)
            return wrapped(*args, **kwargs)

        return checked

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse repetitions, powers and %-formats whose result would be huge."""
        if operator == "%" and isinstance(left, str):
            _check_printf(left, right)
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if sized and len(seq) * count > MAX_OUTPUT_CHARS:
                    raise SecurityError(f"repetition longer than {MAX_OUTPUT_CHARS} items")
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and left.bit_length() * right > _MAX_POWER_BITS:
            raise SecurityError("power too large")
        return super().call_binop(context, operator, left, right)


def _limited_range(*args: int) -> range:
    """range() that refuses more than MAX_RANGE items."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise SecurityError(f"range of {len(result)} items (the limit is {MAX_RANGE})")
    return result


@cache
def sandbox() -> ImmutableSandboxedEnvironment:
    """The Jinja2 sandbox for mapping expressions, with the limits and the `date` filter.

    One per process, never changed once built: the templates compiled in it are kept
    (sync.mapping.compile_expression) and shared between runs and threads.
    """
    env = _Environment(undefined=StrictUndefined, autoescape=False)
    env.globals.pop("lipsum", None)  # lipsum(n=10**6) would bypass the output limit
    env.globals["range"] = _limited_range
    env.filters["date"] = parse_date
    # Filters are called directly, not through env.call: check their widths here.
    center, indent, printf = env.filters["center"], env.filters["indent"], env.filters["format"]

    def checked_center(value: str, width: int = 80) -> str:
        _check_width(width)
        return str(center(value, width))

    def checked_indent(text: str, width: int | str = 4, *args: Any, **kwargs: Any) -> str:
        _check_width(width)
        return str(indent(text, width, *args, **kwargs))

    def checked_format(value: str, *args: Any, **kwargs: Any) -> str:
        _check_printf(str(value), args or kwargs)
        return str(printf(value, *args, **kwargs))

    env.filters.update(center=checked_center, indent=checked_indent, format=checked_format)
    return env
