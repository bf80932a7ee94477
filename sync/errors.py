"""Errors a user can cause or meet, each with the exit code the CLI returns for it.

    SyncError                      exit 1 unless stated
    ├── ConfigError                exit 2: the config file is wrong (path, key, what is allowed)
    ├── UsageError                 exit 2: a command-line mistake
    ├── MappingError               exit 2: a mapping expression cannot be evaluated
    ├── SourceError                exit 1: the source could not be read completely
    ├── StateError                 exit 1: the state database is unusable
    │   └── LockHeldError          exit 1: another run holds the run lock
    ├── GuardError                 exit 3: a safety guard stopped the run before planning
    └── TimeTrackError             (sync.timetrack.errors: auth, rejected, rate limited, ...)

Every message says what happened, where (file:line, config key, server, URL) and what to do.
None may carry a secret: the API secret, a bind password or a generated user password.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes of every command."""

    OK = 0
    FAILED = 1  # a run failed, or an error stopped it
    USAGE = 2  # the config or the command line is wrong
    GUARDED = 3  # a safety guard held changes back
    CHANGES = 4  # a dry run with --detailed-exitcode found changes

    @classmethod
    def most_severe(cls, codes: Iterable[ExitCode]) -> ExitCode:
        """One exit code for several jobs: the first of 2, 1, 3, 4 present, else 0."""
        present = set(codes)
        for code in (cls.USAGE, cls.FAILED, cls.GUARDED, cls.CHANGES):
            if code in present:
                return code
        return cls.OK


class SyncError(Exception):
    """Base of every error timetrack-sync reports to the user."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(SyncError):
    """The configuration is invalid; `problems` lists every one found."""

    exit_code = ExitCode.USAGE

    def __init__(
        self, message: str, *, problems: list[str] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []

    def __str__(self) -> str:
        lines = [self.message, *(f"  - {p}" for p in self.problems)]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class UsageError(SyncError):
    """The command line asks for something impossible."""

    exit_code = ExitCode.USAGE


class MappingError(SyncError):
    """A mapping expression failed for a record (names the field and the record)."""

    exit_code = ExitCode.USAGE


class SourceError(SyncError):
    """The source could not be read completely; the run must not plan on a partial read."""

    exit_code = ExitCode.FAILED


class StateError(SyncError):
    """The state database cannot be opened, migrated or written."""

    exit_code = ExitCode.FAILED


class LockHeldError(StateError):
    """Another run of the same state database is in progress."""

    exit_code = ExitCode.FAILED


class GuardError(SyncError):
    """A safety guard stopped the run before planning (source too small or shrunk)."""

    exit_code = ExitCode.GUARDED


class PlanError(SyncError):
    """A saved plan that cannot be applied: stale, too old, or applied before."""

    exit_code = ExitCode.FAILED
