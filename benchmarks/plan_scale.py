"""Planner and no-op sync at scale, next to naive baselines measured in the same run.

1. plan(): 100,000 desired users against a 100,000-user snapshot with 1% changed
   (median seconds of 5 runs, peak RSS of a fresh process), beside a naive planner that scans
   the snapshot for every person (measured on 5,000 users; both at 5,000 for the ratio).
2. A no-op `sync` of 20,000 users end to end against the emulator (zero latency): seconds
   and HTTP requests, beside a naive client that lists with the API's default page size (50).

Targets: plan <= 1.5 s and <= 400 MB; the no-op sync issues only the list pages
(<= 21 requests) and no writes.

Run: `make bench` or `.venv/bin/python benchmarks/plan_scale.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.logging import configure_logging  # noqa: E402
from sync.model import DesiredUser, Link, Policy, TimeTrackUser, match_key  # noqa: E402
from sync.planner import plan  # noqa: E402

FIELDS = ("firstName", "lastName", "email", "personalNumber", "language", "admin", "teamLead")

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # planning time: no grace is pending


def population(
    n: int, changed_share: float
) -> tuple[list[DesiredUser], dict[str, TimeTrackUser], dict[str, Link]]:
    """n owned users, `changed_share` of them with a new lastName in the source."""
    desired, snapshot, links = [], {}, {}
    changed_every = int(1 / changed_share) if changed_share else 0
    for i in range(n):
        number = f"E-{i:06d}"
        fields = {
            "username": f"user{i}",
            "firstName": f"First{i}",
            "lastName": f"Last{i}",
            "email": f"user{i}@example.com",
            "personalNumber": number,
            "language": "de",
            "admin": False,
            "teamLead": i % 17 == 0,
        }
        key = match_key("personalNumber", number)
        source_fields = dict(fields)
        if changed_every and i % changed_every == 0:
            source_fields["lastName"] = f"Changed{i}"
        desired.append(DesiredUser(key=key, fields=source_fields, active=True, origin=f"b:{i}"))
        tt_id = str(i + 1)
        snapshot[tt_id] = TimeTrackUser(
            id=tt_id,
            username=f"user{i}",
            enabled=True,
            fields={**fields, "id": i + 1, "enabled": True},
        )
        links[key] = Link(key=key, tt_id=tt_id, username=f"user{i}", origin="created")
    return desired, snapshot, links


def naive_plan(desired: list[DesiredUser], snapshot: dict[str, TimeTrackUser]) -> int:
    """What a hand-written script does: scan every TimeTrack user for each person."""
    updates = 0
    users = list(snapshot.values())
    for person in desired:
        for user in users:
            if user.username.casefold() == person.username.casefold():
                if any(str(user.get(f)) != str(person.fields[f]) for f in FIELDS):
                    updates += 1
                break
    return updates


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def plan_benchmark(n: int, naive_n: int) -> dict[str, float]:
    policy = Policy(delete=True)
    desired, snapshot, links = population(n, 0.01)
    result = plan(desired, snapshot, links, policy, match_on="personalNumber", now=NOW)
    updates = len(result.operations)
    ours_n = timed(
        lambda: plan(desired, snapshot, links, policy, match_on="personalNumber", now=NOW), 5
    )
    small = population(naive_n, 0.01)
    ours_small = timed(
        lambda: plan(small[0], small[1], small[2], policy, match_on="personalNumber", now=NOW), 5
    )
    naive_small = timed(lambda: naive_plan(small[0], small[1]), 1)
    return {
        "n": n,
        "updates": updates,
        "plan_s": ours_n,
        "naive_n": naive_n,
        "ours_small_s": ours_small,
        "naive_small_s": naive_small,
    }


def peak_rss_of_plan(n: int) -> float:
    """Peak RSS (MB) of a fresh process that builds the inputs and plans once."""
    code = (
        f"import resource, sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
        "from plan_scale import NOW, population; from sync.planner import plan; "
        "from sync.model import Policy; "
        f"d, s, l = population({n}, 0.01); "
        "plan(d, s, l, Policy(), match_on='personalNumber', now=NOW); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def noop_sync_benchmark(n: int) -> dict[str, float]:
    """A no-op sync of n users against the emulator: seconds, requests, writes."""
    import httpx

    from sync.config import load_config
    from sync.engine import run_jobs
    from sync.report import RunOptions
    from sync.timetrack.emulator import EmulatorOptions, EmulatorState, serve_in_thread
    from tests.syncenv import API_KEY, API_SECRET, make_env, person

    rows = [person(i) for i in range(n)]
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(state) as emu:
        env = make_env(Path(tmp), emu.url, rows, policy="delete: true")
        config = load_config(env.config)
        run_jobs(config, list(config.jobs), RunOptions())  # first run creates everyone
        writes_before = len(state.writes)
        started = time.perf_counter()
        report = run_jobs(config, list(config.jobs), RunOptions())[0]
        seconds = time.perf_counter() - started
        writes = len(state.writes) - writes_before
        # Naive baseline: list with the API's default paging (50 per page).
        headers = {"X-TimeTrack-Api-Key": API_KEY, "X-TimeTrack-Api-Secret": API_SECRET}
        naive_requests, page = 0, 0
        started = time.perf_counter()
        with httpx.Client(headers=headers) as http:
            while True:
                got = http.get(f"{emu.url}/users", params={"page_number": page}).json()
                naive_requests += 1
                if len(got) < 50:
                    break
                page += 1
        naive_seconds = time.perf_counter() - started
    return {
        "n": n,
        "seconds": seconds,
        "requests": report.requests,
        "writes": writes,
        "naive_requests": naive_requests,
        "naive_list_seconds": naive_seconds,
    }


def main() -> None:
    configure_logging("warning")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    args = parser.parse_args()
    n, naive_n, sync_n = (10_000, 1_000, 2_000) if args.quick else (100_000, 5_000, 20_000)
    p = plan_benchmark(n, naive_n)
    rss = peak_rss_of_plan(n)
    s = noop_sync_benchmark(sync_n)
    print(
        f"plan(): {p['n']:,} desired vs {p['n']:,} snapshot, 1% changed ({p['updates']:,} updates)"
    )
    print(f"  median {p['plan_s']:.3f} s (target <= 1.5 s), peak RSS {rss:.0f} MB (<= 400 MB)")
    print(
        f"  at {p['naive_n']:,} users: ours {p['ours_small_s'] * 1000:.1f} ms, naive scan "
        f"{p['naive_small_s'] * 1000:.0f} ms -> {p['naive_small_s'] / p['ours_small_s']:.0f}x"
    )
    print(
        f"no-op sync of {s['n']:,} users: {s['seconds']:.2f} s, {s['requests']:.0f} HTTP "
        f"requests (target <= 21), {s['writes']:.0f} writes"
    )
    print(
        f"  naive default-paged listing: {s['naive_requests']:.0f} requests "
        f"({s['naive_list_seconds']:.2f} s) -> {s['naive_requests'] / s['requests']:.0f}x "
        "more requests"
    )
    print(json.dumps({"plan": p, "peak_rss_mb": rss, "noop_sync": s}))


if __name__ == "__main__":
    main()
