"""The config model of the whole file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from sync.config.base import ConfigModel
from sync.config.jobs import JobConfig
from sync.config.notify import NotifyTarget
from sync.config.services import LoggingConfig, MetricsConfig, StateConfig, TimeTrackConfig
from sync.errors import ConfigError


class AppConfig(ConfigModel):
    """The whole configuration file."""

    timetrack: TimeTrackConfig
    state: StateConfig = Field(default_factory=StateConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    jobs: tuple[JobConfig, ...]
    notify: tuple[NotifyTarget, ...] = ()
    path: Path = Field(
        default=Path("config.yaml"), exclude=True
    )  # set by load_config, not a YAML key

    @field_validator("jobs")
    @classmethod
    def _check_not_empty(cls, value: tuple[JobConfig, ...]) -> tuple[JobConfig, ...]:
        # Unique job names are checked by the loader on the file's data (all duplicates at once).
        if not value:
            raise ValueError("must list at least one job")
        return value

    def job(self, name: str) -> JobConfig:
        """The job called `name`; ConfigError naming the known jobs otherwise."""
        for job in self.jobs:
            if job.name == name:
                return job
        known = ", ".join(job.name for job in self.jobs)
        raise ConfigError(f"{self.path}: no job named {name!r}; known jobs: {known}")
