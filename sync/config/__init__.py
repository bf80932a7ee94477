"""The YAML configuration as validated, frozen models; every problem reported at once.

`${VAR}` and `${VAR:-default}` in string values read the environment (`$${` is a literal `${`).
Secrets may come from `*_file` keys, read when used (see `TimeTrackConfig.client_settings`).
Every problem names the file and the key path (`jobs[0].policy.max_deletes`) and what is allowed.

Modules: `loader` (read, expand, validate), `paths` (which file; paths relative to it),
`safe_yaml`, `environment` (`${VAR}`), `secret_files`, `problems` (pydantic errors as key
paths), and the models: `base`, `sources`, `services`, `jobs`, `app`.
"""

from __future__ import annotations

from sync.config.app import AppConfig
from sync.config.environment import expand_env
from sync.config.jobs import JobConfig, PolicyConfig
from sync.config.loader import load_config
from sync.config.paths import CONFIG_ENV, DEFAULT_CONFIG_PATHS, resolve_config_path
from sync.config.secret_files import read_secret_file
from sync.config.services import LoggingConfig, MetricsConfig, StateConfig, TimeTrackConfig
from sync.config.sources import CsvSourceConfig, LdapSourceConfig

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
