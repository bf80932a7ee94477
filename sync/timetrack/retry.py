"""Retry timing for the TimeTrack client: full-jitter backoff, Retry-After, counters."""

from __future__ import annotations

import email.utils
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0


def backoff_delay(retry_index: int, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**retry_index)] for the retry_index-th retry."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** min(retry_index, 32)))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(
    value: str | None, *, cap: float, now: Callable[[], datetime] | None = None
) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date), capped; None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = now() if now is not None else datetime.now(UTC)
        seconds = (when - current).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, min(seconds, cap))


@dataclass
class ClientStats:
    """Thread-safe counters of one client: requests, retries, 429s, answers by status, rate."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    transport_errors: int = 0
    lookups: int = 0  # username lookups made to settle an uncertain create
    by_status: dict[int, int] = field(default_factory=dict)
    rate_per_second: float = 0.0  # the pace after the last answer (0: no pace of our own)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_request(self, status: int | None, *, rate: float = 0.0) -> None:
        """Count one HTTP exchange and its status (None: no answer), and the pace after it."""
        with self._lock:
            self.requests += 1
            self.rate_per_second = rate
            if status is None:
                self.transport_errors += 1
                return
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if status == 429:
                self.rate_limited += 1

    def count_retry(self) -> None:
        """Count one retry."""
        with self._lock:
            self.retries += 1

    def count_lookup(self) -> None:
        """Count one username lookup made to settle an uncertain create."""
        with self._lock:
            self.lookups += 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the counters."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "transport_errors": self.transport_errors,
                "lookups": self.lookups,
                "by_status": dict(self.by_status),
                "rate_per_second": round(self.rate_per_second, 1),
            }
