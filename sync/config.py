"""Load the YAML configuration into validated, frozen models; report every problem at once.

`${VAR}` and `${VAR:-default}` in string values read the environment (`$${` is a literal `${`).
Secrets may come from `*_file` keys, read when used (see `TimeTrackConfig.client_settings`).
Every problem names the file and the key path (`jobs[0].policy.max_deletes`) and what is allowed.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import structlog
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sync.config_models import (
    AppConfig,
    JobConfig,
    LoggingConfig,
    MetricsConfig,
    PolicyConfig,
    StateConfig,
    TimeTrackConfig,
)
from sync.config_sources import CsvSourceConfig, LdapSourceConfig, read_secret_file
from sync.config_yaml import parse_yaml
from sync.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATHS",
    "AppConfig",
    "CsvSourceConfig",
    "JobConfig",
    "LdapSourceConfig",
    "LoggingConfig",
    "MetricsConfig",
    "PolicyConfig",
    "StateConfig",
    "TimeTrackConfig",
    "expand_env",
    "load_config",
    "read_secret_file",
    "resolve_config_path",
]

log = structlog.get_logger(__name__)

CONFIG_ENV = "TIMETRACK_SYNC_CONFIG"
DEFAULT_CONFIG_PATHS = (Path("config.yaml"), Path("/etc/timetrack-sync/config.yaml"))
HINT = "config.example.yaml documents every key, with examples"
MAX_CONFIG_BYTES = 1_000_000
SECRET_KEYS = frozenset({"api_key", "api_secret", "bind_password"})
_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]*@")


def resolve_config_path(cli_value: str | None, env: Mapping[str, str]) -> Path:
    """--config, else $TIMETRACK_SYNC_CONFIG, else ./config.yaml if present, else /etc/..."""
    if cli_value:
        return Path(cli_value).expanduser()
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    local, system = DEFAULT_CONFIG_PATHS
    return local if local.is_file() else system


def load_config(path: Path, env: Mapping[str, str] | None = None) -> AppConfig:
    """Read, expand and validate the config file; ConfigError listing every problem."""
    env = os.environ if env is None else env
    where = str(path)
    data = parse_yaml(_read_text(path), where)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: the file must be a mapping with the keys timetrack, jobs "
            "(and optionally state, logging, metrics)",
            hint=HINT,
        )
    problems: list[tuple[str, str]] = []
    expanded = expand_env(data, env, problems)
    env_paths = {key for key, _ in problems}
    problems += _duplicate_job_names(expanded)
    if "path" in expanded:  # AppConfig.path is ours, not a YAML key
        problems.append(("path", "unknown key"))
        del expanded["path"]
    context = {"base_dir": path.absolute().parent}
    config: AppConfig | None = None
    try:
        config = AppConfig.model_validate({**expanded, "path": path}, context=context)
    except ValidationError as exc:
        problems += [p for p in _pydantic_problems(exc) if p[0] not in env_paths]
    problems = list(dict.fromkeys(problems))  # one report per problem, in order
    if problems or config is None:
        count = len(problems)
        raise ConfigError(
            f"{where}: {count} problem{'s' if count != 1 else ''}",
            problems=[
                f"{where}: {key}: {text}" if key else f"{where}: {text}" for key, text in problems
            ],
            hint=HINT,
        )
    _set_locations(config, where)
    _warn_literal_secrets(path, data)
    return config


def _located(where: str, key: str, text: str) -> str:
    return f"{where}: {key}: {text}" if key else f"{where}: {text}"


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; is it the config?")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        searched = ", ".join(str(p) for p in DEFAULT_CONFIG_PATHS)
        raise ConfigError(
            f"config file not found: {path}",
            hint=f"the config is taken from --config PATH, else ${CONFIG_ENV}, else {searched} "
            "(the first that exists); copy config.example.yaml to one of them",
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None


def expand_env(
    data: Any, env: Mapping[str, str], problems: list[tuple[str, str]], path: str = ""
) -> Any:
    """`data` with ${VAR} expanded in every string value; problems get (key path, text)."""
    if isinstance(data, dict):
        return {k: expand_env(v, env, problems, _join(path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, env, problems, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, str) and "$" in data:
        return _VAR.sub(lambda m: _substitute(m, env, problems, path), data)
    return data


def _substitute(
    match: re.Match[str], env: Mapping[str, str], problems: list[tuple[str, str]], path: str
) -> str:
    if match.group(0) == "$${":
        return "${"
    inner = match.group(1)
    if inner is None:
        problems.append((path, "'${' without a closing '}'; write $${ for a literal '${'"))
        return ""
    name, has_default, default = inner.partition(":-")
    if not _VAR_NAME.match(name):
        problems.append((path, f"'${{{inner}}}' is not ${{VAR}} or ${{VAR:-default}}"))
        return ""
    value = env.get(name)
    if value is None or (has_default and value == ""):
        if has_default:
            return default
        problems.append(
            (
                path,
                f"environment variable {name} is not set; set it (systemd: Environment= or "
                f"EnvironmentFile=), or give a default with ${{{name}:-default}}",
            )
        )
        return ""
    return value


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _duplicate_job_names(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    jobs = data.get("jobs")
    seen: dict[str, int] = {}
    problems = []
    for index, job in enumerate(jobs if isinstance(jobs, list) else []):
        name = job.get("name") if isinstance(job, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            problems.append(
                (
                    f"jobs[{index}].name",
                    f"{name!r} is already used by jobs[{seen[name]}]; job names must be unique",
                )
            )
        seen.setdefault(name, index)
    return problems


def _pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    return [_problem(error) for error in exc.errors(include_url=False)]


def _problem(error: ErrorDetails) -> tuple[str, str]:
    """(key path, message) for one pydantic error."""
    path, fields = _walk(error["loc"])
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
            path = f"{path}{sub}" if sub.startswith("[") else _join(path, sub)
        return path, text
    if kind.startswith("union_tag"):
        path = _join(path, "type")
    text = _MESSAGES.get(kind, error["msg"]).format(**{k: _number(v) for k, v in ctx.items()})
    if kind == "union_tag_invalid":
        text += f" (got {_show(ctx.get('tag'))})"
    elif kind not in ("missing", "union_tag_not_found") and last not in SECRET_KEYS:
        text += f" (got {_show(error['input'])})"
    return path, text


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


def _walk(loc: tuple[int | str, ...]) -> tuple[str, list[str]]:
    """The display path of a pydantic location, and the keys allowed where it ends."""
    path, current, fields = "", _unwrap(AppConfig), list(AppConfig.model_fields)
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = [f for f in current.model_fields if f != "path" or current is not AppConfig]
            info = current.model_fields.get(str(seg))
            current = _unwrap(info.annotation) if info else None
            path = _join(path, seg)
        elif _tagged(current) and isinstance(seg, str):
            current = _tagged(current).get(seg)  # discriminator value: not a key of the file
        elif isinstance(seg, int):
            path += f"[{seg}]"
            args = get_args(current)
            current = _unwrap(args[0]) if args else None
        else:
            path = _join(path, seg)
            args = get_args(current)
            current = _unwrap(args[-1]) if get_origin(current) is dict and args else None
    return path, fields


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


def _set_locations(config: AppConfig, where: str) -> None:
    """Tell the models holding secret files where they are, for their error messages."""
    config.timetrack._where = f"{where}: timetrack"
    for index, job in enumerate(config.jobs):
        if isinstance(job.source, LdapSourceConfig):
            job.source._where = f"{where}: jobs[{index}].source"


def _warn_literal_secrets(path: Path, data: Mapping[str, Any]) -> None:
    """Warn when a world-readable config file holds a secret written into it literally."""
    try:
        if not stat.S_IMODE(path.stat().st_mode) & 0o004:
            return
    except OSError:
        return
    keys = [("timetrack.api_secret", (data.get("timetrack") or {}).get("api_secret"))]
    for index, job in enumerate(data.get("jobs") or []):
        source = job.get("source") if isinstance(job, dict) else None
        if isinstance(source, dict):
            keys.append((f"jobs[{index}].source.bind_password", source.get("bind_password")))
    for key, value in keys:
        if isinstance(value, str) and "${" not in value:
            log.warning(
                "config_literal_secret_world_readable",
                path=str(path),
                key=key,
                hint=f"chmod 600 {path}, or use ${{VAR}} or a *_file key",
            )
