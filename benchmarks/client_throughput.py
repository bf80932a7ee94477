"""TimeTrack client throughput against the emulator with 50 ms latency per request.

Measures, in one run:
- creating N users (default 2,000) with our client at concurrency 1, 8 and 16, against the
  ideal `N x latency / concurrency`;
- listing 100,000 users (requests and seconds);
- a naive sequential `requests`-style loop for both (a new connection per request; the
  API's default page size of 50 for listing), for the ratios.

Targets: listing 100,000 users takes <= 101 requests; creates at concurrency 16
reach >= 80% of the ideal.

Run: `make bench` or `.venv/bin/python benchmarks/client_throughput.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from sync.logging import configure_logging
from sync.timetrack.client import ClientSettings, TimeTrackClient
from sync.timetrack.emulator import (
    EmulatorOptions,
    EmulatorState,
    RunningEmulator,
    generate_users,
    serve_in_thread,
)

KEY, SECRET = "bench-key", "bench-secret-value"
HEADERS = {"X-TimeTrack-Api-Key": KEY, "X-TimeTrack-Api-Secret": SECRET}


def new_user(n: int, tag: str) -> dict[str, Any]:
    """A user to create; `tag` keeps usernames unique across measurements."""
    return {
        "username": f"{tag}-{n}",
        "firstName": "Bench",
        "lastName": f"User{n}",
        "email": f"{tag}-{n}@example.com",
        "password": "Bench-Password-123456!",
    }


def ours_create(emu: RunningEmulator, count: int, concurrency: int, tag: str) -> float:
    """Seconds for our client to create `count` users from a pool of `concurrency` threads."""
    settings = ClientSettings(
        url=emu.url,
        api_key=KEY,
        api_secret=SECRET,
        concurrency=concurrency,
        requests_per_second=0,
    )
    with TimeTrackClient(settings) as client, ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(lambda n: client.create_user(new_user(n, tag)), range(count)))
        return time.perf_counter() - started


def naive_create(emu: RunningEmulator, count: int, tag: str) -> float:
    """Seconds for a sequential loop of one-off POSTs (a new connection each)."""
    started = time.perf_counter()
    for n in range(count):
        httpx.post(f"{emu.url}/users", json=new_user(n, tag), headers=HEADERS).raise_for_status()
    return time.perf_counter() - started


def ours_list(emu: RunningEmulator) -> tuple[float, int, int]:
    """Seconds, requests and users for our client's paged listing."""
    settings = ClientSettings(url=emu.url, api_key=KEY, api_secret=SECRET, requests_per_second=0)
    with TimeTrackClient(settings) as client:
        started = time.perf_counter()
        users = client.list_users()
        seconds = time.perf_counter() - started
        return seconds, client.stats.snapshot()["requests"], len(users)


def naive_list(emu: RunningEmulator) -> tuple[float, int, int]:
    """Seconds, requests and users for a loop over the API's default pages of 50."""
    started, requests, users, page = time.perf_counter(), 0, 0, 0
    while True:
        got = httpx.get(f"{emu.url}/users", params={"page_number": page}, headers=HEADERS)
        requests += 1
        batch = got.json()
        users += len(batch)
        if len(batch) < 50:
            return time.perf_counter() - started, requests, users
        page += 1


def measure(label: str, fn: Callable[[], float]) -> float:
    print(f"  measuring {label} ...", file=sys.stderr, flush=True)
    return fn()


def main() -> None:
    configure_logging("warning")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 creates, 10,000 to list")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    creates, listed = (200, 10_000) if args.quick else (2_000, 100_000)
    latency = args.latency_ms / 1000
    rows: list[dict[str, Any]] = []

    state = EmulatorState(EmulatorOptions(api_key=KEY, api_secret=SECRET, latency_ms=0))
    with serve_in_thread(state) as emu:
        for concurrency in (1, 8, 16):
            state.reset(EmulatorOptions(api_key=KEY, api_secret=SECRET, latency_ms=args.latency_ms))
            seconds = measure(
                f"creates at concurrency {concurrency}",
                lambda c=concurrency: ours_create(emu, creates, c, f"c{c}"),
            )
            ideal = creates * latency / concurrency
            rows.append(
                {
                    "what": f"create {creates:,}",
                    "client": f"ours, concurrency {concurrency}",
                    "seconds": seconds,
                    "requests": creates,
                    "efficiency": ideal / seconds,
                }
            )
        state.reset(EmulatorOptions(api_key=KEY, api_secret=SECRET, latency_ms=args.latency_ms))
        seconds = measure("naive creates", lambda: naive_create(emu, creates, "naive"))
        rows.append(
            {
                "what": f"create {creates:,}",
                "client": "naive sequential",
                "seconds": seconds,
                "requests": creates,
                "efficiency": creates * latency / seconds,
            }
        )

        state.reset(EmulatorOptions(api_key=KEY, api_secret=SECRET, latency_ms=0))
        for user in generate_users(listed, seed=7):
            state.add_user(**user)
        state.set_options(latency_ms=args.latency_ms)
        l_seconds, l_requests, l_users = ours_list(emu)
        n_seconds, n_requests, n_users = naive_list(emu)
    assert l_users == n_users == listed, (l_users, n_users)
    rows.append(
        {
            "what": f"list {listed:,}",
            "client": "ours (limit=1000)",
            "seconds": l_seconds,
            "requests": l_requests,
            "efficiency": None,
        }
    )
    rows.append(
        {
            "what": f"list {listed:,}",
            "client": "naive (default 50/page)",
            "seconds": n_seconds,
            "requests": n_requests,
            "efficiency": None,
        }
    )
    print_table(rows, creates, listed, args.latency_ms)


def print_table(rows: list[dict[str, Any]], creates: int, listed: int, latency_ms: float) -> None:
    naive_create_s = next(r["seconds"] for r in rows if r["client"] == "naive sequential")
    naive_list_s = next(r["seconds"] for r in rows if r["client"].startswith("naive (default"))
    print(f"\nTimeTrack client vs naive loop, emulator latency {latency_ms:.0f} ms per request\n")
    print(
        f"| {'operation':<14} | {'client':<24} | {'seconds':>8} | {'requests':>8} | "
        f"{'of ideal':>8} | {'vs naive':>8} |"
    )
    print(f"|{'-' * 16}|{'-' * 26}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for r in rows:
        baseline = naive_create_s if r["what"].startswith("create") else naive_list_s
        eff = f"{r['efficiency'] * 100:.0f}%" if r["efficiency"] is not None else "-"
        print(
            f"| {r['what']:<14} | {r['client']:<24} | {r['seconds']:>8.2f} | "
            f"{r['requests']:>8,} | {eff:>8} | {baseline / r['seconds']:>7.1f}x |"
        )
    c16 = next(r for r in rows if r["client"] == "ours, concurrency 16")
    ours_list_row = next(r for r in rows if r["client"].startswith("ours (limit"))
    list_budget = listed // 1000 + 1
    list_ok = "met" if ours_list_row["requests"] <= list_budget else "MISSED"
    print(
        f"\ntargets: list {listed:,} in <= {list_budget} requests: "
        f"{ours_list_row['requests']} ({list_ok}); "
        f"creates at concurrency 16 >= 80% of ideal: {c16['efficiency'] * 100:.0f}% "
        f"({'met' if c16['efficiency'] >= 0.8 else 'MISSED'})"
    )
    print(json.dumps({"creates": creates, "listed": listed, "rows": rows}))


if __name__ == "__main__":
    main()
