"""Opening the state database: SQLite file safety, connection settings, readable errors."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url

from sync.errors import StateError

log = structlog.get_logger(__name__)

BUSY_TIMEOUT_MS = 5000
# Execution option: begin the transaction with BEGIN IMMEDIATE on SQLite (take the write
# lock up front, so a read-then-write transaction never fails with a stale snapshot).
WRITE = "tts_write"


@dataclass(frozen=True)
class SqliteTarget:
    """Where an SQLite URL points, and whether it opens read-only."""

    path: Path
    read_only: bool


def parse_url(url: str) -> URL:
    """Parse a state URL, with a StateError naming the setting when it is malformed."""
    try:
        return make_url(url)
    except exc.ArgumentError as error:
        raise StateError(
            f"state.url is not a valid database URL: {error}",
            hint="use sqlite:////var/lib/timetrack-sync/state.db or postgresql+psycopg://...",
        ) from None


def describe(url: URL) -> str:
    """The URL for messages: SQLite as its file path, others without the password."""
    target = sqlite_target(url)
    if target is not None:
        return str(target.path)
    return url.render_as_string(hide_password=True)


def sqlite_target(url: URL) -> SqliteTarget | None:
    """The file of an SQLite URL (None for other backends); in-memory databases are refused."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    read_only = False
    if str(url.query.get("uri", "")).lower() in ("true", "1"):
        # sqlite:///file:/path/state.db?mode=ro&uri=true
        database = database.removeprefix("file:")
        read_only = str(url.query.get("mode", "")) == "ro"
    if database in ("", ":memory:"):
        raise StateError(
            "an in-memory SQLite state database cannot keep state between runs",
            hint="set state.url to a file, e.g. sqlite:////var/lib/timetrack-sync/state.db",
        )
    return SqliteTarget(Path(database).absolute(), read_only)


def prepare_sqlite_file(target: SqliteTarget) -> None:
    """Create the database file 0600 before SQLite does (which would honour the umask)."""
    if target.read_only:
        return
    path = target.path
    if not path.parent.is_dir():
        raise StateError(
            f"state database directory {path.parent} does not exist (state file {path})",
            hint=f"create it (mkdir -p {path.parent}, owned by the service user) "
            "or point state.url elsewhere",
        )
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as error:
        raise StateError(
            f"cannot open state database {path}: {error.strerror}",
            hint=f"make {path} and its directory writable by the user running timetrack-sync",
        ) from None
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            # The journal names every user and change: not for other local accounts.
            os.fchmod(fd, 0o600)
            log.warning("state_db_permissions_fixed", path=str(path), old_mode=oct(mode))
    finally:
        os.close(fd)


def create_state_engine(url: str) -> sa.Engine:
    """An engine for the state database, with the SQLite pragmas and safe file creation."""
    parsed = parse_url(url)
    target = sqlite_target(parsed)
    # hide_parameters: no row value (usernames, changes) ever lands in an exception text.
    if target is None:
        return sa.create_engine(parsed, hide_parameters=True, pool_pre_ping=True)
    prepare_sqlite_file(target)
    engine = sa.create_engine(parsed, hide_parameters=True)
    _install_sqlite_hooks(engine, target)
    return engine


def _install_sqlite_hooks(engine: sa.Engine, target: SqliteTarget) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level; SQLAlchemy's "begin" event below issues BEGIN, so
        # DDL is transactional too and writers can ask for BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not target.read_only:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# (words in the driver's reason, the fix to suggest); {where} is the file or server.
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("readonly", "read-only", "permission"),
        "make {where} (and its directory) writable by the user running timetrack-sync",
    ),
    (("full", "no space"), "free disk space on the filesystem holding {where}"),
    (("locked", "busy"), "another process keeps the database busy; let it finish, then retry"),
    (
        ("unable to open",),
        "check that {where} exists, is a database and is readable and writable",
    ),
    (
        ("malformed", "not a database"),
        "{where} is damaged; restore it from a backup or move it away to start afresh",
    ),
)


def _hint(reason: str, where: str, is_sqlite: bool) -> str:
    text = reason.lower()
    for words, hint in _HINTS:
        if any(word in text for word in words):
            return hint.format(where=where)
    if is_sqlite:
        return f"check {where} and the filesystem it lives on"
    if any(word in text for word in ("connect", "refused", "timeout", "resolve", "host")):
        return "check state.url and that the PostgreSQL server is reachable"
    return "check the PostgreSQL server's log; report this if it persists"


@contextmanager
def db_errors(where: str, action: str, *, is_sqlite: bool = True) -> Iterator[None]:
    """Turn driver errors into a StateError naming the database, the reason and the fix."""
    try:
        yield
    except exc.DBAPIError as error:
        # Only the driver's own first line: SQLAlchemy's text would carry the statement.
        reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else ""
        reason = reason or type(error.orig).__name__
        raise StateError(
            f"state database {where}: cannot {action}: {reason}",
            hint=_hint(reason, where, is_sqlite),
        ) from None
