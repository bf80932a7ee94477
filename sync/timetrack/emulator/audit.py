"""What the emulator saw: the writes the API applied and the API requests it answered."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WriteRecord:
    """One write the API applied (POST, PUT or DELETE) to one user."""

    method: str
    user_id: int
    username: str
    time: datetime


class Audit:
    """The write audit and the request counters by method, for tests and the admin routes."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.writes: list[WriteRecord] = []
        self.request_count: dict[str, int] = {}

    def record_write(self, method: str, user: Mapping[str, Any]) -> None:
        """Record that the API applied `method` to `user`."""
        record = WriteRecord(method, int(user["id"]), str(user["username"]), datetime.now(UTC))
        with self._lock:
            self.writes.append(record)
        log.debug("emulator_write", method=method, user_id=record.user_id, username=record.username)

    def count_request(self, method: str) -> int:
        """Count one API request; returns how many were counted in all, this one included."""
        with self._lock:
            self.request_count[method] = self.request_count.get(method, 0) + 1
            return sum(self.request_count.values())

    def clear(self) -> None:
        """Forget every write and request."""
        with self._lock:
            self.writes.clear()
            self.request_count.clear()

    def stats(self) -> dict[str, Any]:
        """Requests by method, the number of writes and each write, JSON-ready."""
        with self._lock:
            return {
                "requests": dict(self.request_count),
                "writes": len(self.writes),
                "write_log": [{**asdict(w), "time": w.time.isoformat()} for w in self.writes],
            }
