"""The emulator's server-side rate limit: a token bucket, stepped by a fake clock."""

from __future__ import annotations

import threading

import pytest

from sync.timetrack.emulator.bucket import TokenBucket, retry_after_seconds


class SteppedClock:
    """A clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def bucket(clock: SteppedClock) -> TokenBucket:
    return TokenBucket(clock, threading.RLock())


def test_a_full_bucket_lets_the_burst_through_then_says_when_the_next_token_is_due(
    bucket: TokenBucket,
) -> None:
    assert [bucket.take(4.0, 3) for _ in range(3)] == [None, None, None]
    assert bucket.take(4.0, 3) == pytest.approx(0.25)


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst(
    bucket: TokenBucket, clock: SteppedClock
) -> None:
    for _ in range(2):
        assert bucket.take(2.0, 2) is None
    clock.now += 0.5  # one token at 2 a second
    assert bucket.take(2.0, 2) is None
    assert bucket.take(2.0, 2) == pytest.approx(0.5)
    clock.now += 60  # a long pause refills to the burst only
    assert [bucket.take(2.0, 2) for _ in range(3)][2] is not None


def test_a_refused_request_takes_no_token(bucket: TokenBucket, clock: SteppedClock) -> None:
    assert bucket.take(1.0, 1) is None
    for _ in range(5):
        assert bucket.take(1.0, 1) == pytest.approx(1.0)
    clock.now += 1.0
    assert bucket.take(1.0, 1) is None


def test_over_a_long_run_the_bucket_passes_the_rate_plus_one_burst(
    bucket: TokenBucket, clock: SteppedClock
) -> None:
    passed = 0
    for _ in range(10_000):  # 1,000 requests a second for 10 s against a limit of 100
        passed += bucket.take(100.0, 10) is None
        clock.now += 0.001
    assert passed == pytest.approx(100 * 10 + 10, abs=1)


def test_a_rate_of_zero_is_no_limit_and_a_limit_switched_on_starts_full(
    bucket: TokenBucket, clock: SteppedClock
) -> None:
    assert all(bucket.take(0.0, 1) is None for _ in range(100))
    assert bucket.take(1.0, 2) is None
    assert bucket.take(1.0, 2) is None
    assert bucket.take(1.0, 2) is not None
    bucket.restart()
    assert bucket.take(1.0, 2) is None


@pytest.mark.parametrize(("wait", "header"), [(0.004, 1), (1.0, 1), (1.2, 2), (3.99, 4)])
def test_retry_after_is_the_wait_in_whole_seconds_rounded_up_and_at_least_one(
    wait: float, header: int
) -> None:
    assert retry_after_seconds(wait) == header
