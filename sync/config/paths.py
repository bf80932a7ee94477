"""Where the config file is, and file paths in it taken relative to its folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationInfo

CONFIG_ENV = "TIMETRACK_SYNC_CONFIG"
DEFAULT_CONFIG_PATHS = (Path("config.yaml"), Path("/etc/timetrack-sync/config.yaml"))


def resolve_config_path(cli_value: str | None, env: Mapping[str, str]) -> Path:
    """--config, else $TIMETRACK_SYNC_CONFIG, else ./config.yaml if present, else /etc/..."""
    if cli_value:
        return Path(cli_value).expanduser()
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    local, system = DEFAULT_CONFIG_PATHS
    return local if local.is_file() else system


def relative_to_config(value: Path | None, info: ValidationInfo) -> Path | None:
    """A relative path taken relative to the config file's folder (context `base_dir`)."""
    if value is None:
        return None
    value = value.expanduser()
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        return Path(base) / value
    return value
