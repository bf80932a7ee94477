"""Planner and no-op sync at scale, next to naive baselines measured in the same run.

1. plan(): 100,000 desired users against a 100,000-user snapshot with 1% changed
   (median seconds of 5 runs, peak RSS of a fresh process), beside a naive planner that scans
   the snapshot for every person (measured on 5,000 users; both at 5,000 for the ratio).
2. What a run reads before it plans: the 100,000-user snapshot and links from a SQLite state
   database (`load_snapshot` + `load_links`, median of 3).
3. plan() of 1,000,000 users in a fresh process (median of 3, peak RSS; about 30 s, skipped
   with --no-million).
4. A no-op `sync` of 20,000 users end to end against the emulator (zero latency): seconds
   and HTTP requests, beside a naive client that lists with the API's default page size (50).

Targets: plan <= 0.5 s and <= 300 MB at 100,000 users, <= 8 s at 1,000,000; the no-op sync
issues only the list pages (<= 21 requests) and no writes.

Run: `make bench` or `.venv/bin/python benchmarks/plan_scale.py [--quick] [--no-million]`.
"""

from __future__ import annotations

import argparse
import gc
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


Inputs = tuple[list[DesiredUser], dict[str, TimeTrackUser], dict[str, Link]]


def population(n: int, changed_share: float) -> Inputs:
    """n owned users, `changed_share` of them with a new lastName in the source."""
    # Built without the collector, which would only rescan these acyclic inputs again and
    # again (a third of the build time at 1,000,000 users); collected once at the end, so that
    # plan() meets them in the oldest generation, where a run's inputs are.
    gc.disable()
    try:
        return _population(n, changed_share)
    finally:
        gc.enable()
        gc.collect()


def _population(n: int, changed_share: float) -> Inputs:
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


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_plan(n: int, repeat: int) -> dict[str, float]:
    """In a fresh process: build the inputs, plan `repeat` times; median s and peak RSS (MB)."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
        "from plan_scale import NOW, _peak_rss_mb, population, timed; "
        "from sync.planner import plan; from sync.model import Policy; "
        f"d, s, l = population({n}, 0.01); inputs = _peak_rss_mb(); "
        "seconds = timed(lambda: plan(d, s, l, Policy(delete=True), "
        f"match_on='personalNumber', now=NOW), {repeat}); "
        "print(json.dumps({'n': len(d), 'plan_s': seconds, 'inputs_rss_mb': inputs, "
        "'peak_rss_mb': _peak_rss_mb()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def load_benchmark(n: int) -> dict[str, float]:
    """Seconds to read back an n-user snapshot and n links from a SQLite state database."""
    # Imported here: SQLAlchemy would add its own megabytes to the planner's peak RSS.
    import sqlalchemy as sa

    from sync.state.store import StateStore
    from sync.state.tables import links as links_table

    _desired, snapshot, links = population(n, 0.01)
    stamp = {"created_at": NOW, "updated_at": NOW}
    rows = [
        {"job": "bench", "key": k, "tt_id": v.tt_id, "username": v.username, "origin": v.origin}
        | stamp
        for k, v in links.items()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(f"sqlite:///{tmp}/state.db")
        store.replace_snapshot(snapshot.values(), fetched_at=NOW)
        with store.engine.begin() as conn:
            conn.execute(sa.insert(links_table), rows)
        del rows, snapshot, links
        try:
            return {
                "n": n,
                "snapshot_s": timed(store.load_snapshot, 3),
                "links_s": timed(lambda: store.load_links("bench"), 3),
            }
        finally:
            store.close()


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
    parser.add_argument("--no-million", action="store_true", help="skip the 1,000,000-user plan")
    args = parser.parse_args()
    n, naive_n, sync_n = (10_000, 1_000, 2_000) if args.quick else (100_000, 5_000, 20_000)
    big_n = 0 if args.no_million else n * 10
    p = plan_benchmark(n, naive_n)
    rss = fresh_plan(n, 1)
    loads = load_benchmark(n)
    big = fresh_plan(big_n, 3) if big_n else None
    s = noop_sync_benchmark(sync_n)
    print(
        f"plan(): {p['n']:,} desired vs {p['n']:,} snapshot, 1% changed ({p['updates']:,} updates)"
    )
    print(
        f"  median {p['plan_s']:.3f} s (target <= 0.5 s), peak RSS {rss['peak_rss_mb']:.0f} MB"
        f" (<= 300 MB; the inputs alone {rss['inputs_rss_mb']:.0f} MB)"
    )
    print(
        f"  at {p['naive_n']:,} users: ours {p['ours_small_s'] * 1000:.1f} ms, naive scan "
        f"{p['naive_small_s'] * 1000:.0f} ms -> {p['naive_small_s'] / p['ours_small_s']:.0f}x"
    )
    print(
        f"  read before planning (SQLite): load_snapshot {loads['snapshot_s']:.3f} s,"
        f" load_links {loads['links_s']:.3f} s"
    )
    if big is not None:
        print(
            f"plan(): {big['n']:,} users, 1% changed: median {big['plan_s']:.2f} s (target <= 8 s),"
            f" peak RSS {big['peak_rss_mb']:.0f} MB (inputs alone {big['inputs_rss_mb']:.0f} MB)"
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
    figures = {"plan": p, "fresh": rss, "loads": loads, "million": big, "noop_sync": s}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
