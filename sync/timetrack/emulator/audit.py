"""What the emulator saw: the writes the API applied, the API requests and how it answered."""

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
    """The write audit and the request counters, for tests, benchmarks and the admin routes."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.writes: list[WriteRecord] = []
        self.request_count: dict[str, int] = {}  # by method
        self.answer_count: dict[int, int] = {}  # by status sent (a dropped answer: none)
        self.throttled = 0  # the 429s of the server's rate limit (a part of answer_count[429])

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

    def count_answer(self, status: int, *, throttled: bool = False) -> None:
        """Count one answer by its status; `throttled`: a 429 of the server's rate limit."""
        with self._lock:
            self.answer_count[status] = self.answer_count.get(status, 0) + 1
            self.throttled += throttled

    def clear(self) -> None:
        """Forget every write, request and answer."""
        with self._lock:
            self.writes.clear()
            self.request_count.clear()
            self.answer_count.clear()
            self.throttled = 0

    def stats(self) -> dict[str, Any]:
        """Requests by method, answers by status, the writes and each write, JSON-ready."""
        with self._lock:
            return {
                "requests": dict(self.request_count),
                "answers": {str(status): n for status, n in sorted(self.answer_count.items())},
                "throttled": self.throttled,
                "writes": len(self.writes),
                "write_log": [{**asdict(w), "time": w.time.isoformat()} for w in self.writes],
            }
