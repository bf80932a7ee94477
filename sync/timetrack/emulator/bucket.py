"""The server-side rate limit: a token bucket over the emulator's clock.

Each API request takes a token when it arrives; the bucket refills at `rate` tokens a second and
holds at most `burst`, so after a pause `burst` requests pass at once and then `rate` a second.
A request that finds no token is answered 429 before it has any effect, with the seconds until
the next token is due (a refused request takes no token, as with most real servers).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable


class TokenBucket:
    """`rate` requests a second with bursts of up to `burst`; thread-safe, driven by `clock`."""

    def __init__(self, clock: Callable[[], float], lock: threading.RLock) -> None:
        self._clock = clock
        self._lock = lock
        self._tokens: float | None = None  # None: full (at start, after a restart, while off)
        self._last = 0.0

    def restart(self) -> None:
        """Fill the bucket (a fresh server)."""
        with self._lock:
            self._tokens = None

    def take(self, rate: float, burst: int) -> float | None:
        """Take a token: None if the request may pass, else the seconds until a token is due."""
        with self._lock:
            now = self._clock()
            if rate <= 0:
                self._tokens = None  # off: full again whenever the limit is switched on
                return None
            tokens = float(burst) if self._tokens is None else self._tokens
            tokens = min(float(burst), tokens + (now - self._last) * rate)
            self._last = now
            if tokens >= 1.0:
                self._tokens = tokens - 1.0
                return None
            self._tokens = tokens
            return (1.0 - tokens) / rate


def retry_after_seconds(wait: float) -> int:
    """Whole seconds for a Retry-After header: the wait rounded up, at least 1."""
    return max(1, math.ceil(wait))
