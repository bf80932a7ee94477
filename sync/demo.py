"""`timetrack-sync demo`: the whole job end to end on embedded defaults.

It starts the bundled emulator on a free loopback port with a few existing users, writes a
config, a secret file and a copy of the sample CSV into a temporary folder, and then shows what
an admin would see: the dry-run plan, the real run, and a second run after HR changes (joiners,
a mover, two leavers: one who tracked time, whom TimeTrack refuses to delete, so the user is
locked and queued for its admin, and one who never did, who is deleted). It leaves nothing
behind unless --keep names a folder.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from sync.config import AppConfig, load_config
from sync.engine import run_jobs
from sync.errors import ExitCode
from sync.output import print_queue, print_text
from sync.report import RunOptions, RunReport
from sync.resources import bundled
from sync.runtime import open_store
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, serve_in_thread

DEMO_KEY = "demo-key"
DEMO_SECRET = "demo-secret-not-for-production"

CONFIG_TEMPLATE = """\
timetrack:
  url: {url}
  api_key: {key}
  api_secret_file: {secret_file}
state:
  url: sqlite:///{db}
jobs:
  - name: hr
    source:
      type: csv
      path: people.csv
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
    policy:
      delete: true
      max_delete_percent: 20
      protected: [api-admin]
"""


def sample_csv() -> Path:
    """The bundled sample HR export (examples/people.csv)."""
    return bundled("examples", "people.csv")


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def seed_existing_users(state: EmulatorState, rows: list[dict[str, str]]) -> None:
    """Users TimeTrack already has: an API admin, two people HR knows, and one it does not."""
    state.add_user(
        username="api-admin",
        firstName="API",
        lastName="Admin",
        email="api-admin@example.com",
        admin=True,
    )
    for row, last_name in ((rows[0], rows[0]["last_name"]), (rows[1], "Old-Name")):
        state.add_user(
            username=row["email"].split("@")[0].lower(),
            firstName=row["first_name"],
            lastName=last_name,
            email=row["email"].lower(),
            personalNumber=row["employee_id"],
            language=row.get("language") or "de",
        )
    state.add_user(
        username="contractor.kim",
        firstName="Kim",
        lastName="Contractor",
        email="kim@contractor.example",
    )


def _username(row: dict[str, str]) -> str:
    return row["email"].split("@")[0].lower()


def _active(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["status"] == "active"]


def track_time(state: EmulatorState, rows: list[dict[str, str]]) -> None:
    """Everyone records time entries, but for the new hire who leaves before starting."""
    newbie = _username(_active(rows)[4])
    for user in state.users():
        if user["username"] != newbie:
            state.set_time_entries(user["id"], 40)


def change_hr_data(header: list[str], rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """HR's next export: three joiners, a mover (now a manager), two leavers."""
    changed = [dict(r) for r in rows]
    active = _active(changed)
    active[2]["role"] = "manager" if active[2]["role"] != "manager" else "engineer"
    active[3]["status"] = "terminated"  # tracked time: TimeTrack refuses the delete
    active[4]["status"] = "terminated"  # never tracked time: deleted
    joiners = (
        ("Zoë", "Öztürk", "zoe.ozturk"),
        ("Søren", "Ågren", "soren.agren"),
        ("José", "Núñez", "jose.nunez"),
    )
    for n, (first, last, local) in enumerate(joiners):
        joiner = dict.fromkeys(header, "")
        joiner.update(
            employee_id=str(1901 + n),
            first_name=first,
            last_name=last,
            email=f"{local}@example.com",
            department="Sales",
            role="engineer",
            status="active",
            language="en",
        )
        changed.append(joiner)
    return changed


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="timetrack-sync-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _run(config: AppConfig, console: Console, title: str, *, dry_run: bool) -> RunReport:
    console.rule(title)
    report = run_jobs(config, list(config.jobs), RunOptions(dry_run=dry_run))[0]
    print_text(report, console, max_rows=6)
    return report


def run_demo(console: Console, *, keep: Path | None = None) -> ExitCode:
    """Run the demo; return the exit code (0 when every step went as expected)."""
    header, rows = _read_rows(sample_csv())
    state = EmulatorState(EmulatorOptions(api_key=DEMO_KEY, api_secret=DEMO_SECRET))
    seed_existing_users(state, rows)
    with _workdir(keep) as work, serve_in_thread(state) as emu:
        secret_file = work / "api_secret"
        secret_file.write_text(DEMO_SECRET + "\n")
        secret_file.chmod(0o600)
        _write_rows(work / "people.csv", header, rows)
        config_path = work / "config.yaml"
        config_path.write_text(
            CONFIG_TEMPLATE.format(
                url=emu.url, key=DEMO_KEY, secret_file=secret_file, db=work / "state.db"
            )
        )
        config = load_config(config_path)
        console.print(
            f"Emulator: {emu.url} with {len(state.users())} existing users; "
            f"HR export: {len(rows)} people; work folder: {work}"
        )
        reports = [
            _run(config, console, "1. Preview (sync --dry-run)", dry_run=True),
            _run(config, console, "2. First sync", dry_run=False),
        ]
        track_time(state, rows)
        _write_rows(work / "people.csv", header, change_hr_data(header, rows))
        console.print(
            "HR export changed: 3 joiners, 1 mover (role), 2 leavers (one has tracked time)."
        )
        reports.append(_run(config, console, "3. Preview after HR changes", dry_run=True))
        reports.append(_run(config, console, "4. Second sync", dry_run=False))
        _print_queue(config, console)
        reports.append(_run(config, console, "5. Nothing left to do", dry_run=True))
        _print_audit(config, console)
        console.print(
            f"TimeTrack now has {len(state.users())} users; {len(state.writes)} writes were made."
        )
        if keep is None:
            console.print("Demo finished; its temporary folder is removed.")
        else:
            console.print(f"Demo files kept in {work} (config.yaml, state.db, people.csv).")
    return ExitCode.OK if all(r.exit_code is ExitCode.OK for r in reports) else ExitCode.FAILED


def _print_queue(config: AppConfig, console: Console) -> None:
    console.rule("Offboarding queue (timetrack-sync offboarding)")
    job = config.jobs[0]
    with open_store(config) as store:
        queue = store.offboarding_queue(job.name, job.policy.to_policy(), datetime.now(UTC))
    print_queue({job.name: queue}, console, "text")


def _print_audit(config: AppConfig, console: Console) -> None:
    console.rule("Audit: the journal's newest rows (timetrack-sync audit)")
    with open_store(config) as store:
        for row in store.operations(limit=6):
            console.print(
                f"run {row.run_id} {row.action:<6} {row.username:<24} {row.status}", highlight=False
            )
