"""How fast to send: an adaptive request rate driven by TimeTrack's answers, like TCP's window.

TimeTrack documents no rate limit, so a fixed number is wrong both ways. The controller starts
at `INITIAL_RATE` and, while our own pace is what holds requests back, doubles every
`DOUBLING_SECONDS` (slow start), so that within about a second it carries what the connections
can. Growth is measured between answers and capped per answer, so time spent waiting out a
server's `Retry-After` grows nothing.

The first 429 or 503 ends slow start and cuts the rate by a third, or to the rate the server
was delivering over its latest answers if that is lower, once per episode: answers to requests
queued before the last cut belong to the episode that caused it (eight workers hitting one
limit together are one signal, not eight). After a cut the rate grows back at slow-start speed
to just below the rate that was refused, then probes by 1% a second, so a rate found just under
a real limit is held for many seconds before it is probed again: every probe that overshoots
costs everyone a `Retry-After`. A refusal while the rate is not above that resume level (still
recovering, or holding) leaves the level where it is. A cut never goes below half the best
rate that ever worked (the rate of a run of answers without a 429; at first the rate we started
at), so a server that answers a few 429s at random, far below any limit, cannot drive the rate
to a crawl.
Only when almost a third of the last answers were refused near that floor does the floor come
down: what once worked no longer does. Rising latency, the early sign of a queue at the server,
holds all growth.

Everything here is pure: callers pass the time and the answers; nothing sleeps or locks.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

INITIAL_RATE = 50.0
DOUBLING_SECONDS = 0.2
PROBE_PER_SECOND = 0.01  # above the resume rate, grow by this share of the rate a second
MAX_GROWTH_SECONDS = 0.05  # one answer grows the rate by at most this much time's worth
CUT_FACTOR = 2 / 3
DELIVERED_SHARE = 1.0  # a cut goes at least to this share of the rate the server delivered
DELIVERED_SECONDS = 0.25  # ... measured over at least this long ...
DELIVERED_ANSWERS = 64  # ... and over at most this many of the latest answers
RECOVER_SHARE = 0.9  # after a cut, grow fast back up to this share of the refused rate
PROBE_MARGIN = 0.02  # a refusal this far above the resume rate came from probing
FLOOR_SHARE = 0.5  # a cut keeps at least this share of the best rate that worked
FLOOR_BREAK_SHARE = 0.3  # this share of the last REFUSAL_WINDOW answers refused near the floor
REFUSAL_WINDOW = 32  # ... lowers the floor (5% refused at random almost never reach it)
MIN_RATE = 1.0
CLEAN_ANSWERS = 16  # a rate "worked" when it was delivered for this many answers ...
CLEAN_SECONDS = 0.5  # ... and this long, without a 429
PACE_BOUND_SECONDS = 0.25  # a caller waited for our pace this recently: we are the bottleneck
LATENCY_RISE = 1.5  # smoothed latency above this multiple of the lowest seen, ...
LATENCY_SLACK_SECONDS = 0.010  # ... plus this much, holds growth
LATENCY_SMOOTHING = 1 / 8
OVERLOAD_STATUSES = frozenset({429, 503})
LOGGED_CHANGE = 1.25  # growth is logged each time the rate has moved by this factor


@dataclass
class RateController:
    """The adaptive request rate of one client; `rate` is the requests per second to allow."""

    ceiling: float | None = None  # a hard upper bound (requests_per_second or max_...)
    rate: float = INITIAL_RATE
    slow_start: bool = True
    best: float = 0.0  # the highest rate delivered for a while without a 429
    resume: float = 0.0  # after a cut, grow at slow-start speed back up to this rate
    cuts: int = 0
    _last_cut_at: float = -math.inf
    _last_paced_at: float = -math.inf
    _last_answer_at: float | None = None
    _clean_since: float | None = None  # the first answer of the current run without a 429
    _clean_answers: int = 0
    # When the latest answers since the last 429 came (the server's recent delivery rate).
    _run: deque[float] = field(default_factory=lambda: deque(maxlen=DELIVERED_ANSWERS))
    _refused: deque[bool] = field(default_factory=lambda: deque(maxlen=REFUSAL_WINDOW))
    _lowest_latency: float = math.inf
    _latency: float | None = None
    _logged_rate: float = 0.0
    _changes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rate = self._bounded(self.rate)
        self.best = self.best or self.rate  # the rate we start at is presumed to work
        self._logged_rate = self.rate

    @property
    def floor(self) -> float:
        """The lowest rate a cut may leave."""
        return self._bounded(FLOOR_SHARE * self.best)

    def paced(self, now: float) -> None:
        """A caller had to wait for our pace at `now`: the pace, not the server, is the limit."""
        self._last_paced_at = now

    def answered(self, *, asked_at: float, sent_at: float, now: float, status: int | None) -> None:
        """Take one answer (status None: none) to a request queued at `asked_at`, sent later."""
        if status is None:
            return  # a dropped connection says nothing about the rate
        since = now - self._last_answer_at if self._last_answer_at is not None else 0.0
        self._last_answer_at = now
        self._measure_latency(now - sent_at)
        self._refused.append(status in OVERLOAD_STATUSES)
        if status in OVERLOAD_STATUSES:
            self._overloaded(asked_at, now)
            return
        self._count_clean(now)
        if now - self._last_paced_at <= PACE_BOUND_SECONDS and not self._latency_rising():
            self._grow(min(since, MAX_GROWTH_SECONDS))

    def take_changes(self) -> list[str]:
        """The notable rate changes since the last call (for a debug log), oldest first."""
        changes, self._changes = self._changes, []
        return changes

    # -- the rules ---------------------------------------------------------------------------

    def _count_clean(self, now: float) -> None:
        # The server's burst allowance can make a short run look faster than the server is.
        if self._clean_since is None:
            self._clean_since = now
        self._clean_answers += 1
        self._run.append(now)
        span = now - self._clean_since
        if span >= CLEAN_SECONDS and self._clean_answers >= CLEAN_ANSWERS:
            self.best = max(self.best, self._clean_answers / span)
            self._clean_since, self._clean_answers = now, 0

    def _overloaded(self, asked_at: float, now: float) -> None:
        self._clean_since, self._clean_answers = None, 0
        delivered = self._delivered(now)
        self._run.clear()
        if asked_at < self._last_cut_at:
            return  # queued before the last cut: part of the episode that caused it
        before = self.rate
        near_floor = before <= self.floor * (1 + FLOOR_BREAK_SHARE)
        if near_floor and sum(self._refused) >= FLOOR_BREAK_SHARE * REFUSAL_WINDOW:
            self.best *= CUT_FACTOR  # refused often even at the floor
        # What the server delivered until it refused is the best guess at its limit.
        known = min(before, delivered) if delivered else before
        cut = min(before * CUT_FACTOR, DELIVERED_SHARE * known)
        self.rate = self._bounded(min(before, max(cut, self.floor)))
        # Just below what proved too fast; but a refusal that came while the rate was not
        # above the resume rate (recovering, or holding) says nothing about a limit there.
        if before > self.resume * (1 + PROBE_MARGIN) or not self.resume:
            self.resume = RECOVER_SHARE * known
        self.slow_start = False
        self.cuts += 1
        self._last_cut_at = now
        self._logged_rate = self.rate
        self._changes.append(f"cut {before:.1f} -> {self.rate:.1f} req/s (floor {self.floor:.1f})")

    def _delivered(self, now: float) -> float:
        """The rate of the latest answers since the last 429, if there were enough to tell."""
        if len(self._run) < CLEAN_ANSWERS:
            return 0.0
        span = now - self._run[0]
        return len(self._run) / span if span >= DELIVERED_SECONDS else 0.0

    def _grow(self, seconds: float) -> None:
        if self.slow_start or self.rate < self.resume:
            grown = self.rate * 2 ** (seconds / DOUBLING_SECONDS)
            if not self.slow_start:
                grown = min(grown, self.resume)
        else:
            grown = self.rate * (1 + PROBE_PER_SECOND * seconds)
        self.rate = self._bounded(grown)
        if self.rate >= LOGGED_CHANGE * self._logged_rate:
            self._changes.append(f"grow {self._logged_rate:.1f} -> {self.rate:.1f} req/s")
            self._logged_rate = self.rate

    def _measure_latency(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self._lowest_latency = min(self._lowest_latency, seconds)
        if self._latency is None:
            self._latency = seconds
        else:
            self._latency += LATENCY_SMOOTHING * (seconds - self._latency)

    def _latency_rising(self) -> bool:
        if self._latency is None:
            return False
        return self._latency > LATENCY_RISE * self._lowest_latency + LATENCY_SLACK_SECONDS

    def _bounded(self, rate: float) -> float:
        rate = max(MIN_RATE, rate)
        return min(rate, self.ceiling) if self.ceiling is not None else rate
