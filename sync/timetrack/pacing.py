"""When each request may go: the client's pace and the server's Retry-After, shared by threads.

One `Pacer` serves every thread of a client. It spaces requests at the rate its controller
allows (a virtual schedule, GCRA: bursts up to `burst` requests, then one per 1/rate seconds),
keeps every thread from sending before a `Retry-After` the server gave anyone has passed, and
feeds each answer back to the controller. `requests_per_second: auto` adapts below an optional
`max_requests_per_second`; a number adapts below that number, its hard ceiling; `0` sends as
fast as the connections carry (Retry-After is still honoured: it is the server's request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from sync.timetrack.rate_control import RateController
from sync.timetrack.settings import ClientSettings

log = structlog.get_logger("sync.timetrack.pacing")


class Pacer:
    """Decides when each request may be sent; thread-safe."""

    def __init__(
        self,
        controller: RateController | None,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.controller = controller  # None: no pace of our own
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._due = -float("inf")  # when the next request would go, but for bursts
        self._hold_until = -float("inf")

    @classmethod
    def for_settings(
        cls,
        settings: ClientSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Pacer:
        """The pacer `requests_per_second` (and `max_requests_per_second`) ask for."""
        wanted = settings.requests_per_second
        if wanted == "auto":
            controller = RateController(ceiling=settings.max_requests_per_second)
        elif wanted > 0:
            controller = RateController(ceiling=float(wanted))
        else:
            controller = None
        return cls(controller, max(1, settings.concurrency), clock=clock, sleep=sleep)

    @property
    def rate(self) -> float:
        """The requests per second allowed now (0: no pace of our own)."""
        return self.controller.rate if self.controller is not None else 0.0

    def acquire(self) -> float:
        """Wait until this request may go; returns the time it goes (the clock's)."""
        with self._lock:
            now = self._clock()
            slot = self.reserve(now)
        while True:
            if slot > now:
                self._sleep(slot - now)
            with self._lock:
                now = self._clock()
                if not self.held(now):
                    return now
                # A Retry-After arrived while we slept toward a slot booked before it.
                slot = self.reserve(now)

    def held(self, now: float) -> bool:
        """Whether a server's Retry-After still forbids sending at `now`."""
        return now < self._hold_until

    def reserve(self, now: float) -> float:
        """Book the next slot at or after `now` (callers hold the lock, or are single-threaded)."""
        start = max(now, self._hold_until)
        if self.controller is None:
            return start
        interval = 1.0 / self.controller.rate
        # A burst may go at once while the rate is still rising from its start; once the server
        # has refused us, requests go evenly spaced, so a strict limit sees no bursts.
        burst = self.burst if self.controller.slow_start else 1
        slot = max(start, self._due - (burst - 1) * interval)
        self._due = max(self._due, slot) + interval
        if slot > start:
            self.controller.paced(now)
        return slot

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (the server's Retry-After), whichever thread asks next."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def answered(self, *, asked_at: float, sent_at: float, status: int | None) -> None:
        """Feed one answer (status None: none came) back to the controller."""
        if self.controller is None:
            return
        with self._lock:
            self.take(asked_at=asked_at, sent_at=sent_at, now=self._clock(), status=status)

    def take(self, *, asked_at: float, sent_at: float, now: float, status: int | None) -> None:
        """`answered` at a given time (callers hold the lock, or are single-threaded)."""
        assert self.controller is not None
        self.controller.answered(asked_at=asked_at, sent_at=sent_at, now=now, status=status)
        for change in self.controller.take_changes():
            log.debug("request_rate_changed", change=change, rate=round(self.controller.rate, 1))
