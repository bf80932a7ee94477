"""Start-up: whole processes of `--version`, `--help` and a no-op `sync`, beside naive baselines.

Each figure is the median wall time of N runs (default 5) of a fresh process, after one
untimed warm-up run (so that every figure sees warm file caches), and the median CPU time
(user + system) of the same runs, which other load on the machine disturbs less:
- `timetrack-sync --version` and `timetrack-sync --help`;
- a no-op `timetrack-sync sync` of 1,000 users from a CSV against the emulator, which already
  holds them (one real sync, untimed, creates them first); every timed run must find nothing
  to do, and send only the list pages (2 for 1,000 users: a full page asks for the next);
- baselines in the same run: `python -c pass` (the interpreter alone) and a naive script that
  lists the users with httpx and compares them with the CSV (what a hand-written cron job does,
  with no state database, mapping, guards or journal).

The processes keep compiled bytecode in a private cache (PYTHONPYCACHEPREFIX in the
benchmark's temporary folder, filled by the warm-up run), as an installed wheel has it: with
PYTHONDONTWRITEBYTECODE set, as on the development machines, every process would compile the
sync package again (~40 ms), which no deployment does.

Targets: the no-op sync of 1,000 users <= 0.5 s; `--version` <= 0.15 s.

Run: `make bench` or `.venv/bin/python benchmarks/startup.py [--runs N] [--users N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.logging import configure_logging  # noqa: E402
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, serve_in_thread  # noqa: E402
from tests.syncenv import API_KEY, API_SECRET, make_env, person  # noqa: E402

TARGETS = {"--version": 0.15, "no-op sync": 0.5}

# The naive cron job: list every user (pages of 1000) and compare personal numbers with the CSV.
NAIVE_SCRIPT = """\
import csv, sys
import httpx
url, key, secret, path = sys.argv[1:5]
headers = {"X-TimeTrack-Api-Key": key, "X-TimeTrack-Api-Secret": secret}
listed, page = set(), 0
with httpx.Client(headers=headers) as http:
    while True:
        batch = http.get(f"{url}/users", params={"limit": 1000, "page_number": page}).json()
        listed |= {str(u.get("personalNumber")) for u in batch}
        if len(batch) < 1000:
            break
        page += 1
with open(path, newline="", encoding="utf-8") as handle:
    wanted = {row["employee_id"] for row in csv.DictReader(handle)}
print(len(wanted - listed), len(listed - wanted))
"""


def cli() -> list[str]:
    """The installed console script, as a user runs it (else `python -m sync.cli`)."""
    script = Path(sys.executable).with_name("timetrack-sync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sync.cli"]


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bytecode_env(cache: Path) -> dict[str, str]:
    """This environment, with bytecode written to and read from `cache`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(cache)}


def run_once(argv: list[str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall and CPU seconds of one whole process, and what it printed."""
    env = bytecode_env(cwd / "pycache")
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(
        argv, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return time.perf_counter() - started, children_cpu() - cpu, done


def median_of(
    argv: list[str], cwd: Path, runs: int, check: str | None = None
) -> tuple[float, float]:
    """Median wall and CPU seconds of `runs` processes after one warm-up; each must exit 0."""
    walls, cpus = [], []
    for attempt in range(runs + 1):
        wall, cpu, done = run_once(argv, cwd)
        if done.returncode != 0 or (check is not None and check not in done.stdout):
            raise SystemExit(
                f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        if attempt:
            walls.append(wall)
            cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each process")
    parser.add_argument("--users", type=int, default=1000, help="users of the no-op sync")
    args = parser.parse_args()
    configure_logging("warning")
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(state) as emu:
        env = make_env(Path(tmp), emu.url, [person(i) for i in range(args.users)])
        sync = [*cli(), "--config", str(env.config), "sync"]
        *_, first = run_once(sync, env.dir)
        if first.returncode != 0 or len(state.users()) != args.users:
            raise SystemExit(f"the loading sync failed:\n{first.stdout}\n{first.stderr}")
        state.reset_counters()
        figures = {
            "python -c pass": median_of([sys.executable, "-c", "pass"], env.dir, args.runs),
            "--version": median_of([*cli(), "--version"], env.dir, args.runs),
            "--help": median_of([*cli(), "--help"], env.dir, args.runs),
            "no-op sync": median_of(sync, env.dir, args.runs, check="No changes"),
        }
        # Per no-op sync (warm-up included): the list pages (a full last page needs one more
        # to know it was the last), and no write.
        requests = sum(state.request_count.values()) / (args.runs + 1)
        if requests != args.users // 1000 + 1 or state.writes:
            raise SystemExit(f"a no-op sync sent {requests} requests, {len(state.writes)} writes")
        figures |= {
            "naive list + compare": median_of(
                [sys.executable, "-c", NAIVE_SCRIPT, emu.url, API_KEY, API_SECRET, str(env.csv)],
                env.dir,
                args.runs,
                check="0 0",
            ),
        }
    print_table(figures, args.users, args.runs)


def print_table(figures: dict[str, tuple[float, float]], users: int, runs: int) -> None:
    """The figures, their targets and the ratios to the baselines."""
    print(f"\nWhole processes, median of {runs} (after a warm-up); no-op sync of {users:,} users\n")
    print(f"| {'process':<22} | {'wall s':>7} | {'CPU s':>7} | {'target':>9} | {'vs python':>9} |")
    print(f"|{'-' * 24}|{'-' * 9}|{'-' * 9}|{'-' * 11}|{'-' * 11}|")
    bare = figures["python -c pass"][0]
    for name, (wall, cpu) in figures.items():
        target = TARGETS.get(name)
        verdict = "-" if target is None else f"{target:.2f} {'met' if wall <= target else 'no'}"
        print(f"| {name:<22} | {wall:>7.3f} | {cpu:>7.3f} | {verdict:>9} | {wall - bare:>+8.3f}s |")
    ours, naive = figures["no-op sync"][0], figures["naive list + compare"][0]
    print(
        f"\nno-op sync vs the naive list-and-compare script: {ours / naive:.1f}x its wall time "
        f"({ours - naive:+.3f} s for the config, state DB, mapping, planner, guards and journal)"
    )
    print(json.dumps({"users": users, "runs": runs, "wall_and_cpu_seconds": figures}))


if __name__ == "__main__":
    main()
