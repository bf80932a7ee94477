"""Read the config file, expand the environment, validate; report every problem at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sync.config.app import AppConfig
from sync.config.environment import expand_env
from sync.config.paths import CONFIG_ENV, DEFAULT_CONFIG_PATHS
from sync.config.problems import Problem, validation_problems
from sync.config.safe_yaml import parse_yaml
from sync.config.secret_files import warn_literal_secrets
from sync.config.sources import LdapSourceConfig
from sync.errors import ConfigError

HINT = "config.example.yaml documents every key, with examples"
MAX_CONFIG_BYTES = 1_000_000


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
    problems: list[Problem] = []
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
        problems += [p for p in validation_problems(exc, AppConfig) if p[0] not in env_paths]
    problems = list(dict.fromkeys(problems))  # one report per problem, in order
    if problems or config is None:
        count = len(problems)
        raise ConfigError(
            f"{where}: {count} problem{'s' if count != 1 else ''}",
            problems=[_located(where, key, text) for key, text in problems],
            hint=HINT,
        )
    _set_locations(config, where)
    warn_literal_secrets(path, data)
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


def _duplicate_job_names(data: Mapping[str, Any]) -> list[Problem]:
    """One problem for each job that reuses an earlier job's name."""
    # Checked on the file's data, before validation, so a job with other problems still counts.
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


def _set_locations(config: AppConfig, where: str) -> None:
    """Tell the models holding secret files where they are, for their error messages."""
    config.timetrack._where = f"{where}: timetrack"
    for index, job in enumerate(config.jobs):
        if isinstance(job.source, LdapSourceConfig):
            job.source._where = f"{where}: jobs[{index}].source"
