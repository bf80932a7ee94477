"""`notify:` in the config: email and webhook targets, and which events each is told about."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sync.config.base import ConfigModel
from sync.config.durations import Duration
from sync.config.paths import relative_to_config
from sync.config.secret_files import read_secret_file

Event = Literal["failed", "guarded", "recovered", "conflicts", "offboarding", "every_run"]
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class _Target(ConfigModel):
    on: tuple[Event, ...] = ("failed", "guarded", "recovered")

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        # YAML 1.1 reads the key `on` as the boolean true.
        if isinstance(data, dict) and True in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data

    repeat_after: Duration = timedelta(hours=24)  # a job still failing (guarded) is reminded
    offboarding_after: Duration = timedelta(days=3)  # queue entries older than this are told
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("password_file", "secret_file", check_fields=False)
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return relative_to_config(value, info)

    @field_validator("on")
    @classmethod
    def _check_events(cls, value: tuple[Event, ...]) -> tuple[Event, ...]:
        if not value:
            raise ValueError("must list at least one event")
        return value


class EmailTarget(_Target):
    """Notices by mail, through an SMTP server (STARTTLS unless it is on this machine)."""

    type: Literal["email"]
    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    starttls: bool = True
    username: str | None = None
    password_file: Annotated[Path | None, Field(validate_default=True)] = None
    sender: str = Field(alias="from", min_length=3)
    to: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_tls_and_login(self) -> EmailTarget:
        if not self.starttls and self.smtp_host not in _LOOPBACK:
            raise ValueError(
                "starttls: false is only allowed for a relay on this machine (127.0.0.1)"
            )
        if (self.username is None) != (self.password_file is None):
            raise ValueError("set both username and password_file, or neither")
        return self

    @property
    def identity(self) -> str:
        """A stable name for the state DB's record of what this target was told."""
        return "email:" + ",".join(sorted(a.casefold() for a in self.to))

    def read_password(self, where: str) -> str | None:
        """The SMTP password, read now (it may rotate)."""
        return None if self.password_file is None else read_secret_file(self.password_file, where)


class WebhookTarget(_Target):
    """Notices as an HTTP POST: our JSON, or a Slack or Teams incoming-webhook message."""

    type: Literal["webhook"]
    url: str
    format: Literal["json", "slack", "teams"] = "json"
    secret_file: Annotated[Path | None, Field(validate_default=True)] = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname in _LOOPBACK:
            return value
        raise ValueError("must be an https:// URL (http:// only on this machine)")

    @property
    def identity(self) -> str:
        """A stable name that does not show the URL (a Slack URL is itself a secret)."""
        return "webhook:" + hashlib.sha256(self.url.encode()).hexdigest()[:16]

    @property
    def host(self) -> str:
        """The URL's host, for messages (never the path, which may hold a token)."""
        return urlsplit(self.url).hostname or "?"

    def read_secret(self, where: str) -> str | None:
        """The HMAC secret, read now."""
        return None if self.secret_file is None else read_secret_file(self.secret_file, where)


NotifyTarget = Annotated[EmailTarget | WebhookTarget, Field(discriminator="type")]
