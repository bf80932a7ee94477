"""The config models of a sync job: its source, mapping, schedule and safety policy."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from sync.config.base import ConfigModel
from sync.config.durations import DURATION, UNIT_SECONDS, Duration
from sync.config.sources import CsvSourceConfig, LdapSourceConfig
from sync.model import (
    OnRename,
    Policy,
    mapping_key_problem,
    match_on_problem,
    required_fields_problem,
)

_JOB_NAME = re.compile(r"^[a-z0-9_-]+$")
_POLICY_DEFAULTS = Policy()


class PolicyConfig(ConfigModel):
    """A job's safety settings (the defaults are the planner's Policy's)."""

    create: bool = _POLICY_DEFAULTS.create
    update: bool = _POLICY_DEFAULTS.update
    delete: bool = _POLICY_DEFAULTS.delete
    delete_grace_runs: int = Field(default=_POLICY_DEFAULTS.delete_grace_runs, ge=0)
    leaver_grace: Duration = _POLICY_DEFAULTS.leaver_grace
    lock_leavers: bool = _POLICY_DEFAULTS.lock_leavers
    delete_after: Duration = _POLICY_DEFAULTS.delete_after
    delete_retry_after: Duration = _POLICY_DEFAULTS.delete_retry_after
    max_deletes: int = Field(default=_POLICY_DEFAULTS.max_deletes, ge=0)
    max_delete_percent: float = Field(default=_POLICY_DEFAULTS.max_delete_percent, ge=0, le=100)
    min_source_records: int = Field(default=_POLICY_DEFAULTS.min_source_records, ge=0)
    max_source_shrink_percent: float = Field(
        default=_POLICY_DEFAULTS.max_source_shrink_percent, ge=0, le=100
    )
    max_invalid_percent: float = Field(default=_POLICY_DEFAULTS.max_invalid_percent, ge=0, le=100)
    adopt_existing: bool = _POLICY_DEFAULTS.adopt_existing
    protected: list[str] = Field(default_factory=list)
    on_rename: OnRename = _POLICY_DEFAULTS.on_rename
    plan_max_age: Duration = _POLICY_DEFAULTS.plan_max_age

    def to_policy(self) -> Policy:
        """The planner's Policy (protected usernames casefolded)."""
        return Policy(
            create=self.create,
            update=self.update,
            delete=self.delete,
            delete_grace_runs=self.delete_grace_runs,
            leaver_grace=self.leaver_grace,
            lock_leavers=self.lock_leavers,
            delete_after=self.delete_after,
            delete_retry_after=self.delete_retry_after,
            max_deletes=self.max_deletes,
            max_delete_percent=float(self.max_delete_percent),
            min_source_records=self.min_source_records,
            max_source_shrink_percent=float(self.max_source_shrink_percent),
            max_invalid_percent=float(self.max_invalid_percent),
            adopt_existing=self.adopt_existing,
            protected=frozenset(name.strip().casefold() for name in self.protected),
            on_rename=self.on_rename,
            plan_max_age=self.plan_max_age,
        )


def _check_mapping_key(name: str) -> str:
    problem = mapping_key_problem(name)
    if problem:
        raise ValueError(problem)
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
        # Imported here: APScheduler takes ~40 ms to import, which a config without a
        # schedule (every `sync` from cron) need not pay.
        from apscheduler.triggers.cron import CronTrigger

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
        match = DURATION.match(value.strip())
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
        problem = required_fields_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("match_on")
    @classmethod
    def _check_match_on(cls, value: str, info: ValidationInfo) -> str:
        mapping = info.data.get("mapping")
        problem = None if mapping is None else match_on_problem(value, mapping)
        if problem:
            raise ValueError(problem)
        return value

    def interval_seconds(self) -> float | None:
        """The interval in seconds, or None when the job has no interval."""
        if self.interval is None:
            return None
        match = DURATION.match(self.interval)
        assert match is not None  # validated
        return float(int(match.group(1)) * UNIT_SECONDS[match.group(2)])

    def active_expression(self) -> str | bool:
        """The effective `active`: the job's, else "not disabled" for AD, else True."""
        if self.active is not None:
            return self.active
        if isinstance(self.source, LdapSourceConfig) and self.source.flavor == "active_directory":
            return "{{ not disabled }}"
        return True
