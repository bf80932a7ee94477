"""Sources of people: each yields Person records.

A source either yields every record it holds or raises SourceError; it never ends early
as if the read were complete (a run planned on a partial read would delete people).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sync.errors import SourceError
from sync.model import Person

if TYPE_CHECKING:
    from sync.config import CsvSourceConfig, LdapSourceConfig

__all__ = ["Source", "build_source"]


@runtime_checkable
class Source(Protocol):
    """Where people come from: an HR CSV export or an LDAP directory."""

    def describe(self) -> str:
        """A short name for messages and logs, e.g. "CSV /srv/hr/people.csv"."""
        ...

    def read(self) -> Iterator[Person]:
        """Yield every record; raise SourceError rather than stop early on a failure."""
        ...


def build_source(
    config: CsvSourceConfig | LdapSourceConfig, required_fields: frozenset[str]
) -> Source:
    """The source a job's `source` config describes; `required_fields` are names it must have."""
    cfg: Any = config  # duck-typed: the config models are pydantic, read by attribute only
    kind = getattr(cfg, "type", None)
    if kind == "csv":
        from sync.sources.hr_csv import HrCsvSource

        return HrCsvSource(
            Path(cfg.path),
            encoding=cfg.encoding,
            delimiter=cfg.delimiter,
            required_columns=required_fields,
        )
    if kind == "ldap":
        # Imported lazily: ldap3 is only needed by jobs that read a directory.
        try:
            ldap_source: Any = importlib.import_module("sync.sources.ldap")
        except ImportError as exc:
            if exc.name not in ("sync.sources.ldap", "ldap3"):
                raise
            raise SourceError(
                f"the LDAP source is not available: {exc}",
                hint="install timetrack-sync with its ldap3 dependency",
            ) from exc
        source: Source = ldap_source.LdapSource.from_config(cfg, required_fields=required_fields)
        return source
    raise SourceError(f"unknown source type {kind!r}", hint="use type: csv or type: ldap")
