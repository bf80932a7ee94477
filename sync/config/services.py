"""The config models of what the sync talks to and reports through: TimeTrack, state, logs."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import BeforeValidator, Field, PrivateAttr, SecretStr, ValidationInfo, field_validator

from sync.config.base import ConfigModel
from sync.config.paths import relative_to_config
from sync.config.secret_files import read_secret_file
from sync.errors import ConfigError
from sync.timetrack.settings import ClientSettings

log = structlog.get_logger(__name__)

# The client's defaults are the config's: only these fields of the placeholder are read.
_CLIENT_DEFAULTS = ClientSettings(url="", api_key="", api_secret="")
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
    timeout_seconds: float = Field(default=_CLIENT_DEFAULTS.timeout_seconds, gt=0)
    concurrency: int = Field(default=_CLIENT_DEFAULTS.concurrency, ge=1, le=32)
    requests_per_second: float | Literal["auto"] = _CLIENT_DEFAULTS.requests_per_second
    max_requests_per_second: float | None = Field(
        default=_CLIENT_DEFAULTS.max_requests_per_second, gt=0
    )
    max_retries: int = Field(default=_CLIENT_DEFAULTS.max_retries, ge=0, le=100)
    ca_file: str | None = _CLIENT_DEFAULTS.ca_file
    tls_verify: bool = _CLIENT_DEFAULTS.tls_verify
    personal_number_as_number: bool = _CLIENT_DEFAULTS.personal_number_as_number
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

    @field_validator("requests_per_second", mode="before")
    @classmethod
    def _check_rate(cls, value: object) -> object:
        if value == "auto" or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        ):
            return value
        raise ValueError(
            'must be "auto" (adapt to TimeTrack\'s answers), a number of requests per second '
            f"(a hard ceiling) or 0 (no limit) (got {value!r})"
        )

    @field_validator("max_requests_per_second")
    @classmethod
    def _check_max_rate(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("requests_per_second", "auto") != "auto":
            raise ValueError(
                "only applies to requests_per_second: auto; a number in requests_per_second "
                "is already the ceiling (remove one of the two)"
            )
        return value

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
        return ClientSettings(
            url=self.url,
            api_key=self.api_key.get_secret_value(),
            api_secret=self.read_api_secret(),
            timeout_seconds=self.timeout_seconds,
            concurrency=self.concurrency,
            requests_per_second=self.requests_per_second,
            max_requests_per_second=self.max_requests_per_second,
            max_retries=self.max_retries,
            ca_file=self.ca_file,
            tls_verify=self.tls_verify,
            personal_number_as_number=self.personal_number_as_number,
        )


class StateConfig(ConfigModel):
    """The state database."""

    url: str = "sqlite:////var/lib/timetrack-sync/state.db"
    auto_migrate: bool = True
    retention_days: int = Field(default=400, ge=1)

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
