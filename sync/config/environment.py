"""`${VAR}` and `${VAR:-default}` in string values read the environment; `$${` is a literal `${`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sync.config.problems import Problem, join_key

_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def expand_env(data: Any, env: Mapping[str, str], problems: list[Problem], path: str = "") -> Any:
    """`data` with ${VAR} expanded in every string value; problems get (key path, text)."""
    if isinstance(data, dict):
        return {k: expand_env(v, env, problems, join_key(path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, env, problems, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, str) and "$" in data:
        return _VAR.sub(lambda m: _substitute(m, env, problems, path), data)
    return data


def _substitute(
    match: re.Match[str], env: Mapping[str, str], problems: list[Problem], path: str
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
