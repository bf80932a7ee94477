"""Pydantic's validation errors as config problems: a key path, what is wrong, what is allowed.

A problem is `(key path, text)`, the path written as in the file: `jobs[0].policy.max_deletes`.
An unknown key gets a did-you-mean suggestion or the list of keys allowed there; secret values
and passwords in URLs never appear in the text.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sync.config.secret_files import SECRET_KEYS

Problem = tuple[str, str]

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]*@")
_MESSAGES = {
    "missing": "required key is missing",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a text",
    "string_too_short": "must not be empty",
    "too_short": "must have at least {min_length} item(s)",
    "literal_error": "must be one of {expected}",
    "dict_type": "must be a mapping of keys",
    "model_type": "must be a mapping of keys",
    "model_attributes_type": "must be a mapping of keys",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "path_type": "must be a file path",
    "union_tag_invalid": "must be one of {expected_tags}",
    "union_tag_not_found": "required key is missing (csv or ldap)",
}


def join_key(path: str, key: object) -> str:
    """The key path of `key` inside `path` (`jobs[0]` + `name` -> `jobs[0].name`)."""
    return f"{path}.{key}" if path else str(key)


def validation_problems(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """One problem per error of validating `root`, in pydantic's order."""
    return [_problem(error, root) for error in exc.errors(include_url=False)]


def _problem(error: ErrorDetails, root: type[BaseModel]) -> Problem:
    """(key path, message) for one pydantic error."""
    path, fields = _walk(error["loc"], root)
    kind, ctx = error["type"], error.get("ctx") or {}
    last = next((s for s in reversed(error["loc"]) if isinstance(s, str)), "")
    if kind == "extra_forbidden":
        match = difflib.get_close_matches(str(error["loc"][-1]), fields, n=1, cutoff=0.6)
        if match:
            return path, f"unknown key; did you mean {match[0]!r}?"
        return path, f"unknown key; allowed here: {', '.join(fields)}"
    if kind == "value_error":
        text = str(ctx.get("error", error["msg"]))
        if text.startswith("@"):  # the validator names the key the problem belongs to
            sub, _, text = text[1:].partition(": ")
            path = f"{path}{sub}" if sub.startswith("[") else join_key(path, sub)
        return path, text
    if kind.startswith("union_tag"):
        path = join_key(path, "type")
    text = _MESSAGES.get(kind, error["msg"]).format(**{k: _number(v) for k, v in ctx.items()})
    if kind == "union_tag_invalid":
        text += f" (got {_show(ctx.get('tag'))})"
    elif kind not in ("missing", "union_tag_not_found") and last not in SECRET_KEYS:
        text += f" (got {_show(error['input'])})"
    return path, text


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(_number(value))
    text = _URL_PASSWORD.sub(r"\1***@", str(value))
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _walk(loc: tuple[int | str, ...], root: type[BaseModel]) -> tuple[str, list[str]]:
    """The display path of a pydantic location, and the keys allowed where it ends."""
    path, current, fields = "", _unwrap(root), _keys(root)
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = _keys(current)
            info = current.model_fields.get(str(seg))
            current = _unwrap(info.annotation) if info else None
            path = join_key(path, seg)
        elif _tagged(current) and isinstance(seg, str):
            current = _tagged(current).get(seg)  # discriminator value: not a key of the file
        elif isinstance(seg, int):
            path += f"[{seg}]"
            args = get_args(current)
            current = _unwrap(args[0]) if args else None
        else:
            path = join_key(path, seg)
            args = get_args(current)
            current = _unwrap(args[-1]) if get_origin(current) is dict and args else None
    return path, fields


def _keys(model: type[BaseModel]) -> list[str]:
    """The keys a file may give for `model` (excluded fields are set by the loader)."""
    return [name for name, info in model.model_fields.items() if not info.exclude]


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        annotation = get_args(annotation)[0]
    return annotation


def _tagged(annotation: Any) -> dict[str, type[BaseModel]]:
    """For a union of models with a Literal `type`: tag -> model."""
    args = get_args(annotation) if get_origin(annotation) in (Union, type(int | str)) else ()
    tags = {}
    for arg in args:
        if isinstance(arg, type) and issubclass(arg, BaseModel) and "type" in arg.model_fields:
            for tag in get_args(arg.model_fields["type"].annotation):
                tags[str(tag)] = arg
    return tags
