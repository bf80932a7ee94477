"""The adaptive request rate, driven by simulated answers (tests/rate_sim.py): no sleeps, no HTTP.

Each figure asserted here is simulated time, so it is exact and repeatable, not a timing.
"""

from __future__ import annotations

import pytest

from sync.timetrack.rate_control import (
    CUT_FACTOR,
    FLOOR_SHARE,
    INITIAL_RATE,
    RateController,
)
from tests.rate_sim import SimServer, simulate

LATENCY = 0.020
WORKERS = 8
CAPACITY = WORKERS / LATENCY  # what eight connections carry at 20 ms: 400 requests a second


def answer(rc: RateController, at: float, status: int = 200, *, asked: float | None = None) -> None:
    """One answer at `at` to a request queued at `asked` (default: one latency earlier)."""
    sent = at - LATENCY
    rc.answered(asked_at=sent if asked is None else asked, sent_at=sent, now=at, status=status)


def test_slow_start_carries_what_the_connections_can_within_about_a_second() -> None:
    result = simulate(SimServer(latency=LATENCY), operations=2000, workers=WORKERS)
    assert result.rates[0][1] == INITIAL_RATE
    assert result.rate_at(0.5) >= 2 * INITIAL_RATE
    assert result.rate_at(1.2) >= CAPACITY
    assert result.refused == 0


def test_without_a_server_limit_a_bulk_load_is_near_the_latency_bound_ideal() -> None:
    ideal = 10_000 * LATENCY / WORKERS
    result = simulate(SimServer(latency=LATENCY), operations=10_000, workers=WORKERS)
    assert ideal / result.seconds >= 0.95


def test_the_rate_does_not_grow_while_the_connections_are_the_bottleneck() -> None:
    rc = RateController()
    for n in range(1, 200):
        answer(rc, n * 0.01)  # nobody ever waited for our pace
    assert rc.rate == INITIAL_RATE


def test_rising_latency_holds_growth() -> None:
    rc = RateController()
    at = 0.0
    for latency in [0.02] * 10 + [0.2] * 40:
        at += 0.01
        rc.paced(at)
        rc.answered(asked_at=at - latency, sent_at=at - latency, now=at, status=200)
    grown = rc.rate
    for _ in range(50):
        at += 0.01
        rc.paced(at)
        rc.answered(asked_at=at - 0.2, sent_at=at - 0.2, now=at, status=200)
    assert rc.rate == grown


def test_eight_workers_refused_together_are_one_cut() -> None:
    rc = RateController(rate=120.0)
    for n in range(8):
        answer(rc, 1.0 + n * 0.001, 429, asked=0.99)  # all queued before the first refusal
    assert rc.cuts == 1
    assert rc.rate == pytest.approx(120.0 * CUT_FACTOR)
    answer(rc, 1.5, 429, asked=1.2)  # queued after the cut: a new episode
    assert rc.cuts == 2


def test_a_refusal_ends_slow_start_and_the_rate_comes_back_fast_to_just_below_it() -> None:
    rc = RateController(rate=200.0)
    answer(rc, 1.0, 429)
    assert not rc.slow_start
    cut = rc.rate
    at = 1.0
    while at < 1.5:
        at += 0.005
        rc.paced(at)
        answer(rc, at)
    # Back at slow-start speed to 90% of the refused rate, then only probing (1% a second).
    assert cut < 0.9 * 200.0 <= rc.rate <= 0.9 * 200.0 * 1.01


@pytest.mark.parametrize("operations", [1_000, 10_000])
def test_a_server_limit_is_used_well_with_few_refusals(operations: int) -> None:
    server = SimServer(latency=LATENCY, limit=100.0, burst=10)
    result = simulate(server, operations=operations, workers=WORKERS)
    used = operations / result.seconds / 100.0
    assert used >= 0.8
    assert result.refused / result.requests <= 0.03


def test_a_ceiling_is_never_exceeded() -> None:
    result = simulate(
        SimServer(latency=LATENCY), operations=2000, controller=RateController(ceiling=75.0)
    )
    assert max(rate for _, rate in result.rates) == 75.0
    assert 2000 / result.seconds <= 75.0 * 1.01


def test_a_ceiling_below_the_start_starts_there() -> None:
    assert RateController(ceiling=20.0).rate == 20.0


def test_random_refusals_far_below_any_limit_keep_half_the_best_rate() -> None:
    # 3,000 answers without a limit, then 5% refused at random (no Retry-After).
    server = SimServer(latency=LATENCY, random_429=0.05, random_from=3000, retry_after=None)
    rc = RateController()
    result = simulate(server, operations=6000, workers=WORKERS, controller=rc)
    assert rc.best >= 0.9 * CAPACITY
    assert rc.cuts > 50
    after = [rate for at, rate in result.rates if at >= result.refusals[0]]
    assert min(after) >= FLOOR_SHARE * rc.best * 0.99


def test_a_limit_that_drops_below_the_floor_brings_the_floor_down() -> None:
    rc = RateController(rate=400.0, best=400.0, slow_start=False)
    at = 0.0
    for n in range(400):  # a server now taking 50 a second refuses every second request
        at += 1 / rc.rate
        rc.paced(at)
        answer(rc, at, 429 if n % 2 else 200, asked=at - LATENCY)
    assert rc.rate < 100.0
