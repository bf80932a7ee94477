"""The pacer every thread of a client shares: its schedule, the server's Retry-After, the modes."""

from __future__ import annotations

import random
import threading

import httpx
import pytest

from sync.timetrack.client import TimeTrackClient
from sync.timetrack.pacing import Pacer
from sync.timetrack.rate_control import INITIAL_RATE, RateController
from sync.timetrack.settings import ClientSettings

URL = "https://acme.timetrackenterprise.com/api/v2/ext"


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def settings(**overrides: object) -> ClientSettings:
    return ClientSettings(url=URL, api_key="k", api_secret="s", **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "ceiling"),
    [
        ({}, None),
        ({"max_requests_per_second": 80.0}, 80.0),
        ({"requests_per_second": 30}, 30.0),
    ],
)
def test_auto_and_numbers_adapt_below_their_ceiling(
    options: dict[str, object], ceiling: float | None
) -> None:
    pacer = Pacer.for_settings(settings(**options))
    assert pacer.controller is not None
    assert pacer.controller.ceiling == ceiling
    assert pacer.rate == min(INITIAL_RATE, ceiling or INITIAL_RATE)


def test_zero_has_no_pace_of_its_own_but_honours_retry_after() -> None:
    clock = FakeClock()
    pacer = Pacer.for_settings(settings(requests_per_second=0), clock=clock, sleep=clock.sleep)
    assert pacer.controller is None and pacer.rate == 0.0
    assert [pacer.acquire() for _ in range(100)] == [100.0] * 100
    pacer.hold(2.5)
    assert pacer.acquire() == pytest.approx(102.5)


def test_a_retry_after_holds_every_thread() -> None:
    clock = FakeClock()
    pacer = Pacer(RateController(rate=1000.0), 8, clock=clock, sleep=clock.sleep)
    pacer.hold(3.0)
    went: list[float] = []
    threads = [threading.Thread(target=lambda: went.append(pacer.acquire())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(went) == 4
    assert min(went) >= 103.0


def test_a_retry_after_that_comes_after_a_slot_was_booked_still_applies() -> None:
    pacer = Pacer(RateController(rate=10.0, slow_start=False), 1)
    first = pacer.reserve(0.0)
    booked = pacer.reserve(0.0)  # a thread now sleeps toward this slot
    assert (first, booked) == (0.0, pytest.approx(0.1))
    pacer.hold(60.0)
    assert pacer.held(booked)


def test_slow_start_allows_bursts_and_afterwards_requests_go_evenly_spaced() -> None:
    starting = Pacer(RateController(rate=10.0), 4)
    assert [starting.reserve(0.0) for _ in range(4)] == [0.0] * 4
    steady = Pacer(RateController(rate=10.0, slow_start=False), 4)
    assert [steady.reserve(0.0) for _ in range(4)] == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_a_429_with_retry_after_holds_the_whole_client() -> None:
    clock = FakeClock()
    answers = iter([httpx.Response(429, headers={"Retry-After": "4"})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"id": 1, "username": "a"}))

    client = TimeTrackClient(
        settings(requests_per_second=0),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(1),
    )
    client.get_user("1")
    pacer = client._session.pacer
    assert pacer.held(103.9) and not pacer.held(104.0)
