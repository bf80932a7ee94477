"""Audit export: `timetrack-sync audit --output csv` of 10,000 and 100,000 journal rows.

Each export is a whole process writing to a file; its peak RSS is read by a small wrapper
process that runs it and reports `ru_maxrss` of its only child, so every figure is that one
export's. Beside it, in the same run, the naive way: load every row into a list
(`StateStore.operations(limit=...)`), then write the CSV. The output is parsed back with
Python's `csv` and its rows counted.

Target: memory flat in the number of rows (the 100,000-row export within a few MB of the
10,000-row one), where the naive way grows with it.

Run: `make bench` or `.venv/bin/python benchmarks/audit_export.py [--rows 10000,100000]`.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.model import Action, Operation  # noqa: E402
from sync.state.store import StateStore  # noqa: E402
from sync.state.tables import operations  # noqa: E402

CLI = str(Path(sys.executable).with_name("timetrack-sync"))
CONFIG = """\
timetrack:
  url: http://127.0.0.1:9/api
  api_key: bench
  api_secret: bench-secret
state:
  url: sqlite:///{db}
jobs:
  - name: hr
    source: {{type: csv, path: people.csv}}
    match_on: username
    mapping: {{username: "{{{{ u }}}}", firstName: a, lastName: b, email: "x@example.com"}}
"""
# Runs a command with stdout to a file; prints the child's peak RSS (KiB) and its wall seconds.
MEASURE = """\
import resource, subprocess, sys, time
started = time.perf_counter()
with open(sys.argv[1], "w") as out:
    subprocess.run(sys.argv[2:], stdout=out, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - started)
"""
NAIVE = """\
import csv, sys
from sync.export import AUDIT_COLUMNS, audit_csv_row
from sync.state.store import StateStore
with StateStore(sys.argv[1]) as store:
    rows = store.operations(limit=10**9)
writer = csv.writer(sys.stdout, lineterminator="\\n")
writer.writerow(AUDIT_COLUMNS)
writer.writerows(audit_csv_row(r) for r in rows)
"""


def journal(db: Path, count: int) -> None:
    """A state DB whose journal holds `count` finished updates over 100 runs."""
    with StateStore(f"sqlite:///{db}") as store:
        per_run = count // 100
        for run in range(100):
            run_id = store.start_run("hr", dry_run=False)
            ops = [
                Operation(
                    Action.UPDATE,
                    f"k{run}-{n}",
                    f"user{n}",
                    str(n),
                    {"lastName": (f"Old{n}", f"New{n}"), "teamLead": (False, True)},
                )
                for n in range(per_run)
            ]
            store.journal_pending_many(run_id, "hr", ops)
        with store.engine.begin() as conn:
            conn.execute(sa.update(operations).values(status="done", http_status=200))


def measure(command: list[str], out: Path) -> tuple[float, float, int]:
    """Peak RSS (MB), seconds, and the data rows of the CSV written."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(out), *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    peak_kib, seconds = done.stdout.split()
    with out.open(newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.DictReader(handle))
    return int(peak_kib) / 1024, float(seconds), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", default="10000,100000", help="journal sizes, comma-separated")
    sizes = [int(n) for n in parser.parse_args().rows.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in sizes:
            db = folder / f"state-{size}.db"
            print(f"  journal of {size:,} rows ...", file=sys.stderr, flush=True)
            journal(db, size)
            config = folder / "config.yaml"
            config.write_text(CONFIG.format(db=db))
            ours = measure([CLI, "--config", str(config), "audit", "--output", "csv"], folder / "a")
            naive = measure([sys.executable, "-c", NAIVE, f"sqlite:///{db}"], folder / "b")
            results.append({"rows": size, "ours": ours, "naive": naive})

    print("\nAudit export to CSV, whole processes (peak RSS of the process, wall time)\n")
    print("| rows | ours: peak MB | ours: s | rows read back | naive list: peak MB | naive: s |")
    print("|---|---|---|---|---|---|")
    for r in results:
        (om, os_, orows), (nm, ns, _) = r["ours"], r["naive"]
        print(f"| {r['rows']:,} | {om:.0f} | {os_:.2f} | {orows:,} | {nm:.0f} | {ns:.2f} |")
    if len(results) > 1:
        small, large = results[0], results[-1]
        growth = large["ours"][0] - small["ours"][0]
        naive_growth = large["naive"][0] - small["naive"][0]
        print(
            f"\nmemory growth from {small['rows']:,} to {large['rows']:,} rows: ours"
            f" {growth:+.1f} MB, naive {naive_growth:+.1f} MB"
        )
    print(json.dumps({"results": results, "measured_at": time.time()}))


if __name__ == "__main__":
    main()
