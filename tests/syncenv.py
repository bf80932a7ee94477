"""Builds a complete sync setup for tests: a CSV, a secret file, a config file, a state DB."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

API_KEY = "test-key-4711"
API_SECRET = "s3cr3t-TEST-value-0xDEADBEEF"

HEADER = ("employee_id", "first_name", "last_name", "email", "role", "status", "language")

MAPPING_YAML = """\
    mapping:
      username: "{{ email.split('@')[0] | lower }}"
      firstName: "{{ first_name }}"
      lastName: "{{ last_name }}"
      email: "{{ email | lower }}"
      personalNumber: "{{ employee_id }}"
      language: "{{ language | default('de', true) }}"
      admin: false
      teamLead: "{{ role == 'manager' }}"
    active: "{{ status == 'active' }}"
"""


def person(n: int, **overrides: str) -> dict[str, str]:
    """One HR row with predictable values."""
    row = {
        "employee_id": f"E-{n:05d}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "email": f"user{n}@example.com",
        "role": "engineer",
        "status": "active",
        "language": "en",
    }
    row.update(overrides)
    return row


def write_csv(path: Path, rows: Iterable[Mapping[str, str]]) -> None:
    """Write an HR export with the standard header."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


@dataclass
class SyncEnv:
    """Paths of one test setup."""

    dir: Path
    csv: Path
    config: Path
    db: Path
    secret_file: Path

    @property
    def state_url(self) -> str:
        """SQLAlchemy URL of the state DB."""
        return f"sqlite:///{self.db}"


def make_env(
    tmp: Path,
    url: str,
    rows: Iterable[Mapping[str, str]],
    *,
    policy: str = "delete: true",
    extra_timetrack: str = "",
) -> SyncEnv:
    """Write CSV, secret and config for one job `hr` matching on personalNumber."""
    secret_file = tmp / "api_secret"
    secret_file.write_text(API_SECRET + "\n")
    secret_file.chmod(0o600)
    csv_path = tmp / "people.csv"
    write_csv(csv_path, rows)
    db = tmp / "state.db"
    policy_lines = "".join(f"      {line}\n" for line in policy.splitlines())
    config = tmp / "config.yaml"
    config.write_text(
        f"""\
timetrack:
  url: {url}
  api_key: {API_KEY}
  api_secret_file: {secret_file}
  requests_per_second: 0
{extra_timetrack}state:
  url: sqlite:///{db}
jobs:
  - name: hr
    source:
      type: csv
      path: people.csv
    match_on: personalNumber
{MAPPING_YAML}    policy:
{policy_lines}"""
    )
    config.chmod(0o600)
    return SyncEnv(dir=tmp, csv=csv_path, config=config, db=db, secret_file=secret_file)
