"""The configuration's pydantic models: frozen, unknown keys forbidden, defaults as documented.

Loading (YAML, ${VAR} expansion, error messages) lives in `sync.config`; these models only say
what is allowed (the sources' models are in `sync.config_sources`). Validators raise
`ValueError("@sub: ...")` when a problem belongs to another key than the one being validated;
the loader turns the marker into that key's path.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import structlog
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from sync.config_sources import (
    ConfigModel,
    CsvSourceConfig,
    LdapSourceConfig,
    read_secret_file,
    relative_to_config,
)
from sync.errors import ConfigError
from sync.model import MANAGED_FIELDS, REQUIRED_FIELDS, Policy

if TYPE_CHECKING:
    from sync.timetrack.client import ClientSettings

log = structlog.get_logger(__name__)

_JOB_NAME = re.compile(r"^[a-z0-9_-]+$")
_INTERVAL = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Why a TimeTrack field cannot be mapped, for the error message.
_REFUSED_FIELDS = {
    "password": "passwords are generated for new users and never synced",
    "enabled": "'enabled' is managed by the sync itself (set `active` instead)",
    "id": "'id' is assigned by TimeTrack",
}
_STATE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TimeTrackConfig(ConfigModel):
    """Where TimeTrack is and how to talk to it."""

    url: str
    api_key: SecretStr = Field(min_length=1)
    api_secret: SecretStr | None = Field(default=None, min_length=1)
    api_secret_file: Path | None = Field(default=None, validate_default=True)
    timeout_seconds: float = Field(default=30.0, gt=0)
    concurrency: int = Field(default=8, ge=1, le=32)
    requests_per_second: float = Field(default=20.0, ge=0)
    max_retries: int = Field(default=6, ge=0, le=100)
    ca_file: str | None = None
    tls_verify: bool = True
    personal_number_as_number: bool = False
    _where: str = PrivateAttr(default="timetrack")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        example = "must be an http(s) URL like https://ACCOUNT.timetrackenterprise.com/api/v2/ext"
        try:
            parts = urlsplit(value.strip())
        except ValueError:  # e.g. an unclosed '[': urlsplit's "Invalid IPv6 URL" names no fix
            raise ValueError(example) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(example)
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            log.warning("config_insecure_url", key="timetrack.url", host=parts.hostname)
        return value.strip().rstrip("/")

    @field_validator("api_secret_file")
    @classmethod
    def _check_secret_source(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        has_secret = info.data.get("api_secret") is not None
        if value is not None and has_secret:
            raise ValueError("set api_secret or api_secret_file, not both")
        if value is None and not has_secret and "api_secret" in info.data:
            raise ValueError(
                "set exactly one of api_secret_file (a file holding the secret) or api_secret "
                "(e.g. ${TIMETRACK_API_SECRET}); neither is set"
            )
        return relative_to_config(value, info)

    @field_validator("ca_file")
    @classmethod
    def _resolve_ca(cls, value: str | None, info: ValidationInfo) -> str | None:
        path = relative_to_config(Path(value), info) if value else None
        return str(path) if path else None

    def read_api_secret(self) -> str:
        """The API secret: the literal value, or the secret file read now (it may rotate)."""
        if self.api_secret is not None:
            return self.api_secret.get_secret_value()
        if self.api_secret_file is None:
            raise ConfigError(f"{self._where}: no api_secret or api_secret_file")
        return read_secret_file(self.api_secret_file, f"{self._where}.api_secret_file")

    def client_settings(self) -> ClientSettings:
        """Settings for TimeTrackClient; reads api_secret_file on every call."""
        from sync.timetrack.client import ClientSettings

        return ClientSettings(
            url=self.url,
            api_key=self.api_key.get_secret_value(),
            api_secret=self.read_api_secret(),
            timeout_seconds=self.timeout_seconds,
            concurrency=self.concurrency,
            requests_per_second=self.requests_per_second,
            max_retries=self.max_retries,
            ca_file=self.ca_file,
            tls_verify=self.tls_verify,
            personal_number_as_number=self.personal_number_as_number,
        )


class StateConfig(ConfigModel):
    """The state database."""

    url: str = "sqlite:////var/lib/timetrack-sync/state.db"
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        scheme, sep, rest = value.strip().partition("://")
        if scheme in ("postgresql", "postgres"):
            # SQLAlchemy's default PostgreSQL driver is psycopg2; we ship psycopg 3.
            scheme = "postgresql+psycopg"
        if not sep or scheme not in _STATE_SCHEMES:
            raise ValueError(
                "must be sqlite:////absolute/path/state.db or postgresql+psycopg://user@host/dbname"
            )
        return f"{scheme}://{rest}"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class LoggingConfig(ConfigModel):
    """Log level and format."""

    level: Annotated[
        Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(_lower)
    ] = "info"
    format: Literal["json", "console", "auto"] = "auto"


class MetricsConfig(ConfigModel):
    """The daemon's /metrics and /healthz listener (off when listen is not set)."""

    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"must be HOST:PORT like 127.0.0.1:9464 (got {value!r})")
        return value


class PolicyConfig(ConfigModel):
    """A job's safety settings."""

    create: bool = True
    update: bool = True
    delete: bool = False
    delete_grace_runs: int = Field(default=0, ge=0)
    max_deletes: int = Field(default=25, ge=0)
    max_delete_percent: float = Field(default=10.0, ge=0, le=100)
    min_source_records: int = Field(default=1, ge=0)
    max_source_shrink_percent: float = Field(default=30.0, ge=0, le=100)
    max_invalid_percent: float = Field(default=50.0, ge=0, le=100)
    adopt_existing: bool = True
    protected: list[str] = Field(default_factory=list)
    on_rename: Literal["conflict", "recreate"] = "conflict"

    def to_policy(self) -> Policy:
        """The planner's Policy (protected usernames casefolded)."""
        return Policy(
            create=self.create,
            update=self.update,
            delete=self.delete,
            delete_grace_runs=self.delete_grace_runs,
            max_deletes=self.max_deletes,
            max_delete_percent=float(self.max_delete_percent),
            min_source_records=self.min_source_records,
            max_source_shrink_percent=float(self.max_source_shrink_percent),
            max_invalid_percent=float(self.max_invalid_percent),
            adopt_existing=self.adopt_existing,
            protected=frozenset(name.strip().casefold() for name in self.protected),
            on_rename=self.on_rename,
        )


def _check_mapping_key(name: str) -> str:
    if name in _REFUSED_FIELDS:
        raise ValueError(f"cannot be mapped: {_REFUSED_FIELDS[name]}")
    if name not in MANAGED_FIELDS:
        raise ValueError(f"is not a TimeTrack user field; use one of {', '.join(MANAGED_FIELDS)}")
    return name


def _check_mapping_value(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    raise ValueError("must be a Jinja2 expression in quotes, a literal text, true/false or null")


def _check_active(value: Any) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    raise ValueError("must be true/false or a Jinja2 expression like \"{{ status == 'active' }}\"")


MappingKey = Annotated[str, BeforeValidator(_check_mapping_key)]
MappingValue = Annotated[str | bool | int | None, BeforeValidator(_check_mapping_value)]
SourceConfig = Annotated[CsvSourceConfig | LdapSourceConfig, Field(discriminator="type")]


class JobConfig(ConfigModel):
    """One sync job: a source, how its records map to TimeTrack users, and a policy."""

    name: str
    schedule: str | None = None
    interval: str | None = None
    # Daemon only: a random delay of up to this many seconds on each run (spreads the load of
    # several installations on one TimeTrack account), and whether to run once at start-up.
    jitter_seconds: int = Field(default=0, ge=0, le=3600)
    run_on_start: bool = True
    source: SourceConfig
    mapping: dict[MappingKey, MappingValue]
    match_on: Literal["username", "personalNumber", "email"] = Field(
        default="username", validate_default=True
    )
    active: Annotated[str | bool | None, BeforeValidator(_check_active)] = None
    policy: PolicyConfig = Field(default_factory=PolicyConfig)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _JOB_NAME.match(value):
            raise ValueError(f"must use only a-z, 0-9, '_' and '-' (got {value!r})")
        return value

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(
                f"must be a 5-field cron expression like '*/15 * * * *' ({exc}; got {value!r})"
            ) from None
        return value

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        match = _INTERVAL.match(value.strip())
        if not match or int(match.group(1)) == 0:
            raise ValueError(
                f"must be a number and a unit s/m/h/d like 30s, 15m, 2h (got {value!r})"
            )
        if info.data.get("schedule") is not None:
            raise ValueError("set schedule or interval, not both")
        return value.strip()

    @field_validator("mapping")
    @classmethod
    def _check_required(cls, value: dict[str, Any]) -> dict[str, Any]:
        missing = [name for name in REQUIRED_FIELDS if name not in value]
        if missing:
            raise ValueError(
                f"must map {', '.join(REQUIRED_FIELDS)} (missing: {', '.join(missing)})"
            )
        return value

    @field_validator("match_on")
    @classmethod
    def _check_match_on(cls, value: str, info: ValidationInfo) -> str:
        mapping = info.data.get("mapping")
        if mapping is not None and value not in mapping:
            raise ValueError(
                f"{value!r} is not mapped; add mapping.{value} or match on a mapped field"
            )
        return value

    def interval_seconds(self) -> float | None:
        """The interval in seconds, or None when the job has no interval."""
        if self.interval is None:
            return None
        match = _INTERVAL.match(self.interval)
        assert match is not None  # validated
        return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])

    def active_expression(self) -> str | bool:
        """The effective `active`: the job's, else "not disabled" for AD, else True."""
        if self.active is not None:
            return self.active
        if isinstance(self.source, LdapSourceConfig) and self.source.flavor == "active_directory":
            return "{{ not disabled }}"
        return True


class AppConfig(ConfigModel):
    """The whole configuration file."""

    timetrack: TimeTrackConfig
    state: StateConfig = Field(default_factory=StateConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    jobs: tuple[JobConfig, ...]
    path: Path = Field(
        default=Path("config.yaml"), exclude=True
    )  # set by load_config, not a YAML key

    @field_validator("jobs")
    @classmethod
    def _check_unique(cls, value: tuple[JobConfig, ...]) -> tuple[JobConfig, ...]:
        if not value:
            raise ValueError("must list at least one job")
        seen: dict[str, int] = {}
        for index, job in enumerate(value):
            if job.name in seen:
                raise ValueError(
                    f"@[{index}].name: {job.name!r} is already used by jobs[{seen[job.name]}]; "
                    "job names must be unique"
                )
            seen[job.name] = index
        return value

    def job(self, name: str) -> JobConfig:
        """The job called `name`; ConfigError naming the known jobs otherwise."""
        for job in self.jobs:
            if job.name == name:
                return job
        known = ", ".join(job.name for job in self.jobs)
        raise ConfigError(f"{self.path}: no job named {name!r}; known jobs: {known}")
