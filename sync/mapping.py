"""From source records to desired TimeTrack users: the job's `mapping` and `active`.

Each mapped field is a literal (bool, int, None, or a string without `{{`, `{%`, `{#`) or
a Jinja2 template, compiled once per process (the daemon's runs and reloads reuse it) and
evaluated in an immutable sandbox with StrictUndefined, so a misspelt column is an error
rather than a silently blank field. Templates see the
record's attributes as top-level names (a name matches an attribute that differs only in
case when there is no exact one; LDAP attribute names are case-insensitive) and the whole
record as `record` (for names that are not identifiers: `record['e-mail']`). They also see
`today`, the run's date (a `datetime.date` the caller passes in: the mapper reads no clock),
`days(n)` and the `date` filter (sync.dates). `record`, `today` and `days` win over a source
column of the same name, which stays reachable as `record['today']`.

Errors are split by who must act:
- MappingError (the run stops, exit 2) for config mistakes: a syntax error, a name the
  record does not have, a sandbox violation, output over the size limit.
- Skipped (the person is left out and reported, the run goes on) for bad data: an
  invalid email, an empty required field, a value that is not a boolean, a date that does
  not parse, or a template that fails on this record's values (e.g. indexing past the end
  of a split).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from jinja2 import Template, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sync.dates import DateFormatError, DateValueError, days, prepare_date_filters
from sync.errors import MappingError
from sync.model import (
    BOOL_FIELDS,
    REQUIRED_FIELDS,
    DesiredUser,
    Person,
    Skipped,
    mapping_key_problem,
    match_on_problem,
    required_fields_problem,
)
from sync.model import match_key as make_match_key
from sync.sandbox import MAX_OUTPUT_CHARS, sandbox

__all__ = ["Mapper", "parse_bool"]

# Names the mapper provides to every expression; they win over a column of the same name.
_PROVIDED_NAMES = frozenset({"record", "today", "days"})
# Names a template may read that are not source columns (see referenced_names).
_NON_COLUMN_NAMES = _PROVIDED_NAMES | {"groups"}
_DATE_FORMAT_HINT = "give a strptime format with a day, month and year, e.g. '%d.%m.%Y'"
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


def parse_bool(value: object) -> bool | None:
    """True/False from a bool, 0/1, or true/false/1/0/yes/no/"" (any case); None if neither."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int):
        return {0: False, 1: True}.get(value)
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


# str methods whose first argument is a width: `email.ljust(10**9)` builds a 1 GB string
# before the output limit could see it.
_PLAIN_NAME = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _is_template(value: object) -> bool:
    return isinstance(value, str) and any(mark in value for mark in ("{{", "{%", "{#"))


def _guarded_only(tree: nodes.Template) -> frozenset[str]:
    """Names whose every use is `name | default(...)` or `name is defined` (optional)."""
    uses: dict[str, int] = {}
    guarded: dict[str, int] = {}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load":
            uses[name.name] = uses.get(name.name, 0) + 1
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        is_filter = isinstance(node, nodes.Filter) and node.name in ("default", "d")
        is_test = isinstance(node, nodes.Test) and node.name in ("defined", "undefined")
        if (is_filter or is_test) and isinstance(node.node, nodes.Name):
            guarded[node.node.name] = guarded.get(node.node.name, 0) + 1
    return frozenset(name for name, count in guarded.items() if count == uses.get(name))


@dataclass(frozen=True)
class Compiled:
    """A template compiled in a sandbox, with the top-level names it reads."""

    template: Template
    names: frozenset[str]  # every top-level name read
    required: frozenset[str]  # those without a default


@lru_cache(maxsize=256)
def compile_expression(env: ImmutableSandboxedEnvironment, source: str) -> Compiled:
    """`source` compiled in `env`, once per process for each (sandbox, text).

    Raises TemplateSyntaxError or DateFormatError (not cached); the caller names the field.
    """
    tree = env.parse(source)
    prepare_date_filters(tree)
    template = env.from_string(tree)
    names = frozenset(find_undeclared_variables(tree) - set(env.globals))
    return Compiled(template, names, names - _guarded_only(tree))


class _Expression:
    """One field's template, with the names it needs."""

    def __init__(self, env: ImmutableSandboxedEnvironment, label: str, source: str) -> None:
        self.label = label
        self.source = source
        try:
            compiled = compile_expression(env, source)
        except TemplateSyntaxError as exc:
            raise MappingError(
                f"{label}: template syntax error: {exc.message} in {source!r}",
                hint="fix the Jinja2 expression in the job's config",
            ) from exc
        except DateFormatError as exc:
            raise MappingError(f"{label}: {exc}", hint=_DATE_FORMAT_HINT) from None
        self.template = compiled.template
        self.names = compiled.names
        self.required = compiled.required
        self._globals = dict(env.globals)
        plain = _PLAIN_NAME.fullmatch(source)
        # `{{ first_name }}` renders a text column as it is: no need to run the template.
        self._column = plain.group(1) if plain and plain.group(1) in compiled.names else None

    def render(self, context: dict[str, Any], origin: str) -> str:
        """The rendered text; MappingError for config mistakes, ValueError for bad data."""
        missing = sorted(name for name in self.required if name not in context)
        if missing:
            available = ", ".join(sorted(k for k in context if k not in _PROVIDED_NAMES)) or "none"
            raise MappingError(
                f"{self.label}: {', '.join(missing)} is undefined for record {origin} "
                f"(available names: {available})",
                hint="use a name the source provides, or `name | default('')`",
            )
        try:
            return self._generate(context)
        except SecurityError as exc:
            raise MappingError(
                f"{self.label}: refused by the sandbox for record {origin}: {exc}",
                hint="mapping expressions may only read values, not Python internals",
            ) from exc
        except DateFormatError as exc:
            raise MappingError(f"{self.label}: {exc}", hint=_DATE_FORMAT_HINT) from None
        except DateValueError as exc:
            raise ValueError(f"{self.label}: {exc}") from None
        except MemoryError:
            raise MappingError(
                f"{self.label}: ran out of memory for record {origin}",
                hint="the expression builds a huge value (a loop doubling a string?); simplify it",
            ) from None
        except (TemplateError, ArithmeticError, LookupError, AttributeError, TypeError) as exc:
            # Data-dependent failures, e.g. `email.split('@')[1]` on a value without '@'.
            raise ValueError(f"{self.label}: cannot evaluate for this record: {exc}") from exc

    def _generate(self, context: dict[str, Any]) -> str:
        if self._column is not None:
            value = context.get(self._column)
            if isinstance(value, str):
                if len(value) > MAX_OUTPUT_CHARS:
                    raise SecurityError(f"output longer than {MAX_OUTPUT_CHARS} characters")
                return value
        # What Template.generate does, minus its copy of the globals (a ChainMap) into every
        # context: that was two thirds of the time of mapping a record. The context is made
        # from this dict as it is (shared), with the context's names winning as they do there.
        scope = self.template.new_context({**self._globals, **context}, shared=True)
        parts: list[str] = []
        size = 0
        for chunk in self.template.root_render_func(scope):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError(f"output longer than {MAX_OUTPUT_CHARS} characters")
            parts.append(chunk)
        return "".join(parts)


class Mapper:
    """Turns Person records into DesiredUser values (or Skipped ones) for one job."""

    def __init__(self, mapping: Mapping[str, Any], active: str | bool, match_on: str) -> None:
        self._check_fields(mapping, match_on)
        self.match_on = match_on
        self._env = sandbox()
        self._literals: dict[str, Any] = {}
        self._templates: dict[str, _Expression] = {}
        for field, value in mapping.items():
            if _is_template(value):
                self._templates[field] = _Expression(self._env, f"mapping.{field}", value)
            else:
                self._literals[field] = value
        self._fields = tuple(mapping)
        self._active: bool | _Expression
        if _is_template(active):
            self._active = _Expression(self._env, "active", str(active))
        else:
            literal = parse_bool(active)
            if literal is None:
                raise MappingError(f"active: {active!r} is neither a boolean nor a template")
            self._active = literal
        expressions = [*self._templates.values()]
        if isinstance(self._active, _Expression):
            expressions.append(self._active)
        self._names = frozenset().union(*(e.names for e in expressions))
        self._required = frozenset().union(*(e.required for e in expressions))

    @staticmethod
    def _check_fields(mapping: Mapping[str, Any], match_on: str) -> None:
        for name in mapping:
            problem = mapping_key_problem(name)
            if problem:
                raise MappingError(f"mapping.{name}: {problem}")
        problem = required_fields_problem(mapping)
        if problem:
            raise MappingError(f"mapping: {problem}")
        problem = match_on_problem(match_on, mapping)
        if problem:
            raise MappingError(f"match_on: {problem}")

    def referenced_names(self) -> frozenset[str]:
        """Top-level names the expressions read (the CSV's required columns).

        `record`, `groups` and Jinja globals are left out, and so are names that are only
        ever read as `name | default(...)` or tested with `is defined`: those are optional.
        """
        return self._required - _NON_COLUMN_NAMES

    def map_all(
        self, people: Iterable[Person], *, today: date
    ) -> tuple[list[DesiredUser], list[Skipped]]:
        """Map every person as of `today`; MappingError (a config mistake) stops at the first."""
        desired: list[DesiredUser] = []
        skipped: list[Skipped] = []
        for person in people:
            result = self.map(person, today=today)
            if isinstance(result, Skipped):
                skipped.append(result)
            else:
                desired.append(result)
        return desired, skipped

    def map(self, person: Person, *, today: date) -> DesiredUser | Skipped:
        """The desired user for one person as of `today`, or why the person is skipped."""
        context = self._context(person, today)
        key: str | None = None
        fields: dict[str, Any] = {}
        # The match field first, so that a later problem can still name the person's key.
        for field in (self.match_on, *(f for f in self._fields if f != self.match_on)):
            try:
                fields[field] = _coerce(field, self._value(field, context, person.origin))
            except ValueError as exc:
                return Skipped(origin=person.origin, key=key, reason=str(exc))
            if field == self.match_on:
                key = make_match_key(self.match_on, fields[field]) or None
                if key is None:
                    return Skipped(person.origin, None, f"empty match key ({self.match_on})")
        try:
            active = self._evaluate_active(context, person.origin)
        except ValueError as exc:
            return Skipped(origin=person.origin, key=key, reason=str(exc))
        fields = {field: fields[field] for field in self._fields}  # the config's order
        return DesiredUser(key=str(key), fields=fields, active=active, origin=person.origin)

    def _value(self, field: str, context: dict[str, Any], origin: str) -> Any:
        if field in self._literals:
            return self._literals[field]
        return self._templates[field].render(context, origin)

    def _evaluate_active(self, context: dict[str, Any], origin: str) -> bool:
        if isinstance(self._active, bool):
            return self._active
        text = self._active.render(context, origin)
        value = parse_bool(text)
        if value is None:
            raise ValueError(f"active: {text.strip()!r} is not true or false")
        return value

    def _context(self, person: Person, today: date) -> dict[str, Any]:
        attributes = dict(person.attributes)
        context = dict(attributes)
        absent = [n for n in self._names - _PROVIDED_NAMES if n not in attributes]
        if absent:
            by_folded: dict[str, list[str]] = {}
            for key in attributes:
                by_folded.setdefault(key.casefold(), []).append(key)
            for name in absent:
                matches = by_folded.get(name.casefold(), [])
                if len(matches) > 1:
                    raise MappingError(
                        f"{name} matches several attributes differing only in case "
                        f"({', '.join(sorted(matches))}) in record {person.origin}",
                        hint="use record['Exact'] to pick one",
                    )
                if matches:
                    context[name] = attributes[matches[0]]
        context.update(record=attributes, today=today, days=days)
        return context


def _coerce(field: str, value: Any) -> Any:
    """One mapped value in its TimeTrack type; ValueError (a skip reason) for bad data."""
    if field in BOOL_FIELDS:
        parsed = parse_bool(value)
        if parsed is None:
            raise ValueError(f"{field}: {_show(value)} is not true or false")
        return parsed
    if field == "personalNumber":
        if value is None or isinstance(value, bool):
            text = "" if value is None else str(value)
        else:
            text = str(value).strip()
        return text or None
    if isinstance(value, str):
        value = value.strip()
    if field in REQUIRED_FIELDS and (value is None or value == ""):
        raise ValueError(f"missing {field}")
    if field == "email" and not _looks_like_email(str(value)):
        raise ValueError(f"invalid email {_show(value)}")
    return value


def _looks_like_email(text: str) -> bool:
    if text.count("@") != 1 or any(char.isspace() for char in text):
        return False
    local, domain = text.split("@")
    return bool(local) and "." in domain.strip(".") and not domain.startswith(".")


def _show(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:80])
