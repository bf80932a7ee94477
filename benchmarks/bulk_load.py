"""Bulk load: our `sync` creating the users of an HR export against the emulator at 20 ms latency.

Measures, in one run (the sync as a whole: `timetrack-sync sync --output json` as a subprocess,
the emulator in this process; the run's own duration as it reports it, the apply within it
(first to last write), and the process's wall time with its start-up):
1. 1,000 and 10,000 people (examples/make_people.py), against the ideal `N x latency /
   concurrency` and a naive sequential loop (one POST per user, a new connection each) measured
   in the same run; for 10,000 the naive figure is an estimate from the 1,000 loop (printed so);
2. the same 1,000 with the emulator enforcing a server limit (a token bucket, 100 req/s, burst
   10; 429 with Retry-After above it): seconds, the share of the limit used (successful writes
   per second during the apply / the limit), the share of requests answered 429, duplicates;
3. the chaos mix: 15% of requests answered 5xx (half of them after the write applied) and 5%
   answered 429 with `Retry-After: 1`: seconds, and whether each user exists exactly once after
   one run.

The sync runs with the config under test: its `timetrack` settings are the defaults unless
--requests-per-second or --concurrency is given, so the figures follow the default rate setting.

Targets: default config, no server limit, 1,000 people at 20 ms: >= 12x the naive loop and
>= 85% of the ideal; server limit 100 req/s: >= 80% of the limit used, <= 3% answered 429, no
duplicate; chaos mix: 1,000 creates in <= 120 s, each user exactly once, in one run.

Run: `make bench` or `.venv/bin/python benchmarks/bulk_load.py [--quick] [--requests-per-second 0]`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.make_people import COLUMNS, make_people  # noqa: E402
from sync.config import load_config  # noqa: E402
from sync.logging import configure_logging  # noqa: E402
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, serve_in_thread  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret-value"
CLI = str(Path(sys.executable).with_name("timetrack-sync"))
LIMIT_PER_SECOND, LIMIT_BURST = 100.0, 10
CONFIG = """\
timetrack:
  url: {url}
  api_key: {key}
  api_secret_file: {secret}
{timetrack}state:
  url: sqlite:///{db}
jobs:
  - name: hr
    source:
      type: csv
      path: {csv}
    match_on: personalNumber
    mapping:
      username: "{{{{ email.split('@')[0] | lower }}}}"
      firstName: "{{{{ first_name }}}}"
      lastName: "{{{{ last_name }}}}"
      email: "{{{{ email | lower }}}}"
      personalNumber: "{{{{ employee_id }}}}"
      language: "{{{{ language | default('de', true) }}}}"
      admin: false
      teamLead: "{{{{ role == 'manager' }}}}"
    active: "{{{{ status == 'active' }}}}"
"""


@dataclass(frozen=True)
class SyncRun:
    """One `timetrack-sync sync` and what the emulator saw of it."""

    seconds: float  # the run's duration as reported
    wall: float  # the process, start-up included
    exit_code: int
    summary: dict[str, int]
    stats: dict[str, Any]
    apply_seconds: float  # first write to last write
    duplicates: int
    missing: int
    expected: int  # the active people: one create each


def people_csv(folder: Path, count: int) -> tuple[Path, list[dict[str, str]]]:
    """An HR export of `count` people; returns its path and the active rows."""
    rows = make_people(count, seed=2026)
    path = folder / f"people-{count}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path, [r for r in rows if r["status"] == "active"]


def username(row: dict[str, str]) -> str:
    """The username the mapping gives a row."""
    return row["email"].split("@")[0].lower()


def write_config(folder: Path, url: str, people: Path, timetrack: dict[str, float]) -> Path:
    """A config for one run (a fresh state DB); `timetrack` overrides the defaults."""
    secret = folder / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    extra = "".join(f"  {name}: {value:g}\n" for name, value in timetrack.items())
    db = folder / f"state-{time.monotonic_ns()}.db"
    text = CONFIG.format(url=url, key=KEY, secret=secret, timetrack=extra, db=db, csv=people)
    path = folder / "config.yaml"
    path.write_text(text)
    return path


def run_sync(state: EmulatorState, config: Path, expected: list[str]) -> SyncRun:
    """One sync as a subprocess; the emulator's counters are read after it."""
    started = time.perf_counter()
    done = subprocess.run(
        [CLI, "--config", str(config), "sync", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    wall = time.perf_counter() - started
    if not done.stdout.strip():
        sys.exit(f"the sync printed no report (exit {done.returncode}):\n{done.stderr[-3000:]}")
    doc = json.loads(done.stdout)
    writes = state.writes
    apply = (writes[-1].time - writes[0].time).total_seconds() if len(writes) > 1 else 0.0
    seen = Counter(u["username"].casefold() for u in state.users())
    return SyncRun(
        seconds=float(doc["duration_seconds"]),
        wall=wall,
        exit_code=done.returncode,
        summary=doc["summary"],
        stats=state.stats(),
        apply_seconds=apply,
        duplicates=sum(n - 1 for n in seen.values() if n > 1),
        missing=len({name.casefold() for name in expected} - set(seen)),
        expected=len(expected),
    )


def naive_load(url: str, rows: list[dict[str, str]]) -> float:
    """Seconds for a sequential loop of one-off POSTs (a new connection each), one per person."""
    headers = {"X-TimeTrack-Api-Key": KEY, "X-TimeTrack-Api-Secret": SECRET}
    started = time.perf_counter()
    for row in rows:
        body = {
            "username": username(row),
            "firstName": row["first_name"],
            "lastName": row["last_name"],
            "email": row["email"].lower(),
            "personalNumber": row["employee_id"],
            "language": row["language"] or "de",
            "admin": False,
            "teamLead": row["role"] == "manager",
            "password": "Naive-Loop-Password-123!",
        }
        httpx.post(f"{url}/users", json=body, headers=headers).raise_for_status()
    return time.perf_counter() - started


def chaos_rates(five_xx: float = 0.15, rate_limited: float = 0.05) -> dict[str, float]:
    """Emulator rates giving `five_xx` of all requests 5xx (half after the write) beside 429s.

    The dice draw the 429 first, then a 500 before the write, then one after it.
    """
    before = five_xx / 2 / (1 - rate_limited)
    after = five_xx / 2 / ((1 - rate_limited) * (1 - before))
    return {"rate_limit_rate": rate_limited, "fail_rate": before, "fail_after_write_rate": after}


def share(stats: dict[str, Any], status: str) -> float:
    """The share of API requests answered `status`."""
    total = sum(stats["requests"].values())
    return stats["answers"].get(status, 0) / total if total else 0.0


def mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 people only, no 10,000")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--requests-per-second", type=float, help="override the default rate")
    parser.add_argument("--concurrency", type=int, help="override the default concurrency")
    return parser.parse_args()


def main() -> None:
    configure_logging("warning")
    args = parse_args()
    overrides = {
        name: value
        for name, value in (
            ("requests_per_second", args.requests_per_second),
            ("concurrency", args.concurrency),
        )
        if value is not None
    }
    sizes = (1_000,) if args.quick else (1_000, 10_000)
    results: dict[str, Any] = {"latency_ms": args.latency_ms, "loads": []}
    base = EmulatorOptions(api_key=KEY, api_secret=SECRET, latency_ms=args.latency_ms, seed=11)

    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(EmulatorState(base)) as emu:
        folder = Path(tmp)

        def sync_of(count: int, label: str, **options: Any) -> SyncRun:
            """A sync of `count` people on a fresh emulator with `options` changed."""
            people, rows = people_csv(folder, count)
            emu.state.reset(dataclasses.replace(base, **options))
            print(f"  sync of {count:,} people{label} ...", file=sys.stderr, flush=True)
            config = write_config(folder, emu.url, people, overrides)
            return run_sync(emu.state, config, [username(r) for r in rows])

        people, rows = people_csv(folder, 1_000)
        settings = load_config(write_config(folder, emu.url, people, overrides)).timetrack
        concurrency, rate = settings.concurrency, settings.requests_per_second
        emu.state.reset(dataclasses.replace(base))
        print(f"  naive loop of {len(rows):,} POSTs ...", file=sys.stderr, flush=True)
        naive_per_user = naive_load(emu.url, rows) / len(rows)
        for count in sizes:
            ours = sync_of(count, "")
            results["loads"].append(
                {
                    "people": count,
                    "creates": ours.summary["create"],
                    "ours": ours,
                    "ideal": ours.expected * args.latency_ms / 1000 / concurrency,
                    "naive": naive_per_user * ours.expected,
                    "naive_estimated": ours.expected != len(rows),
                }
            )
        limit = {"rate_limit_per_second": LIMIT_PER_SECOND, "rate_limit_burst": LIMIT_BURST}
        results["limited"] = sync_of(1_000, " against the server limit", **limit)
        results["chaos_rates"] = {**chaos_rates(), "retry_after": "1"}
        results["chaos"] = sync_of(1_000, " with the chaos mix", **results["chaos_rates"])
    print_report(results, concurrency, rate)


def print_report(results: dict[str, Any], concurrency: int, rate: object) -> None:
    """The tables, the targets beside the figures, and one JSON line of everything."""
    print(
        f"\nBulk load: `timetrack-sync sync` vs the ideal and a naive loop; emulator latency "
        f"{results['latency_ms']:g} ms, concurrency {concurrency}, requests_per_second {rate}\n"
    )
    print(
        "| people | creates | run (s) | apply (s) | process (s) | ideal (s) | run of ideal "
        "| apply of ideal | naive (s) | run vs naive |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for load in results["loads"]:
        ours: SyncRun = load["ours"]
        naive = f"{load['naive']:.1f}" + (" (estimate)" if load["naive_estimated"] else "")
        apply_share = load["ideal"] / ours.apply_seconds if ours.apply_seconds else 0.0
        print(
            f"| {load['people']:,} | {load['creates']:,} | {ours.seconds:.2f} | "
            f"{ours.apply_seconds:.2f} | {ours.wall:.2f} | {load['ideal']:.2f} | "
            f"{load['ideal'] / ours.seconds:.0%} | {apply_share:.0%} | {naive} | "
            f"{load['naive'] / ours.seconds:.1f}x |"
        )
    print(
        "\nrun: the run's duration as it reports it (source read, listing, plan, apply); apply:"
        " first to last write; process: the CLI's wall time with its start-up"
    )
    first = results["loads"][0]
    speedup, of_ideal = (
        first["naive"] / first["ours"].seconds,
        first["ideal"] / first["ours"].seconds,
    )
    print(
        f"\ntarget (1,000 people, no server limit): >= 12x naive: {speedup:.1f}x "
        f"({mark(speedup >= 12)}); >= 85% of ideal: {of_ideal:.0%} ({mark(of_ideal >= 0.85)})"
    )

    limited: SyncRun = results["limited"]
    writes = limited.stats["writes"]
    used = (writes - 1) / limited.apply_seconds / LIMIT_PER_SECOND if limited.apply_seconds else 0
    too_many = share(limited.stats, "429")
    print(
        f"\nserver limit {LIMIT_PER_SECOND:g} req/s (burst {LIMIT_BURST}), 1,000 people: "
        f"{limited.seconds:.2f} s, exit {limited.exit_code}, {writes:,} writes in "
        f"{limited.apply_seconds:.2f} s, {sum(limited.stats['requests'].values()):,} requests"
    )
    print(
        f"target: >= 80% of the limit used: {used:.0%} ({mark(used >= 0.8)}); <= 3% answered "
        f"429: {too_many:.1%} ({mark(too_many <= 0.03)}); no duplicate: {limited.duplicates} "
        f"({mark(limited.duplicates == 0)}), missing: {limited.missing}"
    )

    chaos: SyncRun = results["chaos"]
    exact = chaos.duplicates == 0 and chaos.missing == 0
    one_run = chaos.exit_code == 0 and chaos.summary.get("failed", 0) == 0
    print(
        f"\nchaos mix (5xx {share(chaos.stats, '500'):.1%} of requests, half after the write; "
        f"429 {share(chaos.stats, '429'):.1%} with Retry-After: 1), 1,000 people: "
        f"{chaos.seconds:.2f} s, {sum(chaos.stats['requests'].values()):,} requests, "
        f"exit {chaos.exit_code}, failed {chaos.summary.get('failed', 0)}"
    )
    print(
        f"target: <= 120 s: {mark(chaos.seconds <= 120)}; each user exactly once: duplicates "
        f"{chaos.duplicates}, missing {chaos.missing} ({mark(exact)}); in one run: "
        f"{mark(one_run)}"
    )

    def plain(run: SyncRun) -> dict[str, Any]:
        return {k: v for k, v in vars(run).items() if k != "stats"} | {
            "requests": sum(run.stats["requests"].values()),
            "answers": run.stats["answers"],
        }

    loads = [{**load, "ours": plain(load["ours"])} for load in results["loads"]]
    summary = {**results, "loads": loads}
    summary.update(limited=plain(limited), chaos=plain(chaos), limit_used=used)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
