"""The fault dice: seeded draws of latency, 429s, 500s before or after a write, and drops."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from sync.timetrack.emulator.options import EmulatorOptions

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})


@dataclass(frozen=True)
class FaultPlan:
    """What the dice decided for one request: a delay and at most one fault."""

    delay_seconds: float = 0.0
    before: str | None = None  # "rate_limit" | "fail" | "drop": the request has no effect
    after: str | None = None  # "fail" | "drop": the request had its effect


class FaultDice:
    """`random.Random(seed)` behind the fault switches, so a sequence of requests repeats."""

    def __init__(self, seed: int, lock: threading.RLock) -> None:
        self._lock = lock
        self._seed = seed
        self._rng = random.Random(seed)

    def restart(self, seed: int) -> None:
        """Start the draws over from `seed`."""
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)

    def draw(self, method: str, options: EmulatorOptions) -> FaultPlan:
        """Roll for one request; always six draws so sequences stay repeatable."""
        with self._lock:
            if options.seed != self._seed:  # the seed was assigned directly: restart the dice
                self.restart(options.seed)
            jitter, r_limit, r_fail, r_drop, r_half, r_after = (
                self._rng.random() for _ in range(6)
            )
        delay = (options.latency_ms + jitter * options.jitter_ms) / 1000.0
        if r_limit < options.rate_limit_rate:
            return FaultPlan(delay, before="rate_limit")
        if r_fail < options.fail_rate:
            return FaultPlan(delay, before="fail")
        if r_drop < options.drop_rate:
            return FaultPlan(delay, **{"before" if r_half < 0.5 else "after": "drop"})
        if method in WRITE_METHODS and r_after < options.fail_after_write_rate:
            return FaultPlan(delay, after="fail")
        return FaultPlan(delay)
