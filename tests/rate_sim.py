"""A discrete-event simulation of our pacer against a server: simulated time, no threads, no sleeps.

Workers take operations from a queue; each asks the real `Pacer` for a slot, the simulated server
answers at that moment (a token bucket limit, random 429s, a latency that may grow with load),
and the answer reaches the pacer one latency later, as it would over HTTP. A 429 makes the pacer
hold everyone for the Retry-After and its worker retry the same operation after it.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from sync.timetrack.pacing import Pacer
from sync.timetrack.rate_control import RateController


@dataclass
class SimServer:
    """What the simulated TimeTrack answers: 200, or 429 with a Retry-After."""

    latency: float = 0.020
    limit: float | None = None  # a token bucket of this many requests a second ...
    burst: int = 10  # ... holding this many
    random_429: float = 0.0  # share answered 429 whatever the rate ...
    random_from: int = 0  # ... from this request on ...
    random_until: int | None = None  # ... until this one
    retry_after: float | None = 1.0
    queue_latency: float = 0.0  # extra latency per request a second above `limit`
    seed: int = 1
    _tokens: float = 0.0
    _last: float = 0.0
    _seen: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._tokens = float(self.burst)

    def answer(self, at: float) -> int:
        """The status for a request arriving at `at`."""
        self._seen += 1
        randomly = self.random_from < self._seen <= (self.random_until or self._seen)
        if randomly and self._rng.random() < self.random_429:
            return 429
        if self.limit is None:
            return 200
        self._tokens = min(self.burst, self._tokens + (at - self._last) * self.limit)
        self._last = at
        if self._tokens < 1:
            return 429
        self._tokens -= 1
        return 200


@dataclass
class SimResult:
    """What a simulated load did."""

    seconds: float
    requests: int
    refused: int  # answered 429
    rates: list[tuple[float, float]]  # (time, the pacer's rate) after each answer
    refusals: list[float]  # when each 429 arrived

    def rate_at(self, when: float) -> float:
        """The pacer's rate at simulated time `when`."""
        current = self.rates[0][1]
        for at, rate in self.rates:
            if at > when:
                break
            current = rate
        return current


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(
    server: SimServer,
    *,
    operations: int,
    workers: int = 8,
    controller: RateController | None = None,
) -> SimResult:
    """Run `operations` through `workers` paced by a real Pacer; every one ends answered 200."""
    clock = _Clock()
    pacer = Pacer(controller or RateController(), workers, clock=clock, sleep=_no_sleep)
    # (time, order, kind, status, when the request was queued, when it was sent)
    events: list[tuple[float, int, str, int, float, float]] = []
    order = 0
    left = operations
    requests = refused = 0
    refusals: list[float] = []
    rates: list[tuple[float, float]] = [(0.0, pacer.rate)]

    def push(at: float, kind: str, status: int = 0, asked: float = 0.0, sent: float = 0.0) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, status, asked, sent))

    for _ in range(workers):
        push(0.0, "ready")
    retrying = 0
    while events:
        at, _, kind, status, asked, sent = heapq.heappop(events)
        clock.now = at
        if kind == "ready":
            if not retrying and left == 0:
                continue
            if retrying:
                retrying -= 1
            else:
                left -= 1
            push(pacer.reserve(at), "send", asked=at)
        elif kind == "send":
            if pacer.held(at):  # a Retry-After came after this slot was booked
                push(pacer.reserve(at), "send", asked=asked)
                continue
            requests += 1
            status = server.answer(at)
            extra = server.queue_latency * max(0.0, pacer.rate - (server.limit or pacer.rate))
            push(at + server.latency + extra, "answer", status, asked=asked, sent=at)
        else:
            pacer.take(asked_at=asked, sent_at=sent, now=at, status=status)
            rates.append((at, pacer.rate))
            if status == 429:
                refused += 1
                refusals.append(at)
                retrying += 1
                wait = server.retry_after or 0.0
                if wait:
                    pacer.hold(wait)
                push(at + wait, "ready")
            else:
                push(at, "ready")
    return SimResult(clock.now, requests, refused, rates, refusals)


def _no_sleep(seconds: float) -> None:
    raise AssertionError("the simulation books slots; nothing may sleep")
