"""RunLock: one run per state database at a time, across processes and hosts.

SQLite: `flock` on "<db>.lock" next to the database; PostgreSQL: a session advisory lock on a
dedicated connection. Both are released by the operating system or the server when the
holding process dies, even by SIGKILL, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy.pool import NullPool

from sync.errors import LockHeldError, StateError
from sync.state import db

log = structlog.get_logger(__name__)

# pg_try_advisory_lock key ("ttsr"); advisory locks are per database, so one key suffices.
PG_LOCK_KEY = 0x74747372
_APP_PREFIX = "timetrack-sync"
_HINT = (
    "wait for it to finish; the lock goes away by itself when that process ends "
    "(even if it is killed), so do not delete anything"
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunLock:
    """Context manager holding the run lock of a state database; LockHeldError when taken."""

    def __init__(self, state_url: str, *, job: str | None = None) -> None:
        self._url = db.parse_url(state_url)
        self._job = job
        self._fd: int | None = None
        self._conn: sa.Connection | None = None
        self._engine: sa.Engine | None = None
        target = db.sqlite_target(self._url)
        self.lock_path: Path | None = None if target is None else Path(f"{target.path}.lock")

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None or self._conn is not None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock without waiting; LockHeldError names the holder when it is taken."""
        if self.held:
            raise StateError("this RunLock is already held")
        if self.lock_path is not None:
            self._acquire_file(self.lock_path)
        else:
            self._acquire_pg()
        log.debug("run_lock_acquired", job=self._job, database=db.describe(self._url))

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)  # nobody holds it: no holder to report
            finally:
                os.close(fd)  # closing the descriptor drops the flock
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()  # ending the session drops the advisory lock
            finally:
                if self._engine is not None:
                    self._engine.dispose()
                    self._engine = None

    # -- SQLite: flock ----------------------------------------------------------------------

    def _acquire_file(self, path: Path) -> None:
        if not path.parent.is_dir():
            raise StateError(
                f"state database directory {path.parent} does not exist (lock file {path})",
                hint=f"create it (mkdir -p {path.parent}) or point state.url elsewhere",
            )
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StateError(
                f"cannot open the run lock file {path}: {error.strerror}",
                hint=f"make {path.parent} writable by the user running timetrack-sync",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeldError(
                f"another run is in progress {holder} (lock file {path})", hint=_HINT
            ) from None
        except OSError as error:
            os.close(fd)
            raise StateError(f"cannot lock {path}: {error.strerror}") from None
        info = f"{os.getpid()} {socket.gethostname()} {_stamp(datetime.now(UTC))}"
        if self._job:
            info += f" {self._job}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, (info + "\n").encode(), 0)
        self._fd = fd

    # -- PostgreSQL: advisory lock ----------------------------------------------------------

    def _acquire_pg(self) -> None:
        where = db.describe(self._url)
        # Holder details travel in application_name (max 63 bytes), readable by any session.
        name = f"{_APP_PREFIX} pid={os.getpid()} host={socket.gethostname()}"[:63]
        engine = sa.create_engine(
            self._url,
            poolclass=NullPool,
            hide_parameters=True,
            connect_args={"application_name": name},
        )
        try:
            with db.db_errors(where, "take the run lock", is_sqlite=False):
                conn = engine.connect()
                try:
                    got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(PG_LOCK_KEY)))
                    acquired = bool(got.scalar_one())
                    conn.commit()  # session-level lock: kept; no transaction left idle open
                    holder = "" if acquired else _pg_holder(conn)
                except BaseException:
                    conn.close()
                    raise
        except BaseException:
            engine.dispose()
            raise
        if not acquired:
            conn.close()
            engine.dispose()
            raise LockHeldError(
                f"another run is in progress {holder} (PostgreSQL advisory lock on {where})",
                hint=_HINT,
            )
        self._conn, self._engine = conn, engine


def _read_holder(fd: int) -> str:
    """'since <time>, pid <pid> on host <host>' from the lock file's content."""
    text = os.pread(fd, 400, 0).decode("utf-8", "replace").split()
    if len(text) < 3:
        return "(holder details not written yet)"
    pid, host, started = text[:3]
    job = f", job {text[3]}" if len(text) > 3 else ""
    return f"since {started}, pid {pid} on host {host}{job}"


def _pg_holder(conn: sa.Connection) -> str:
    row = conn.execute(
        sa.text(
            "SELECT a.application_name, a.backend_start, a.client_addr::text AS addr "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 "
            "AND l.objid = :key AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"key": PG_LOCK_KEY},
    ).first()
    conn.rollback()
    if row is None:
        return "(holder already gone; retry)"
    match = re.search(r"pid=(\d+) host=(\S+)", row.application_name or "")
    since = _stamp(row.backend_start) if row.backend_start else "an unknown time"
    if match is None:
        return f"since {since}, from {row.addr or 'a local connection'}"
    return f"since {since}, pid {match.group(1)} on host {match.group(2)}"
