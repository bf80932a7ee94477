"""`--version` and `--help` start fast: they import no config, database, HTTP, LDAP, template
or logging library (each costs tens of milliseconds a process would pay for nothing)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "httpx", "ldap3", "jinja2", "structlog", "yaml")

# Runs the CLI in this process as the console script does, then lists the heavy modules loaded.
RUN_CLI = f"""
import json, sys
from sync.cli import main
sys.argv = ["timetrack-sync", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"code": code, "loaded": loaded}}), file=sys.stderr)
"""


def run_cli(*args: str) -> tuple[str, dict[str, object]]:
    """What the CLI printed for `args`, and its exit code and heavy modules loaded."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--version"], ["--help"], [], ["sync", "--help"]])
def test_version_and_help_import_no_heavy_library(args: list[str]) -> None:
    printed, result = run_cli(*args)
    assert "timetrack-sync" in printed or "Usage" in printed  # the command did its job
    assert result["loaded"] == []


def test_the_check_sees_a_heavy_library_a_command_loads() -> None:
    # `sync` with a config that does not exist still loads the config models and logging.
    _printed, result = run_cli("--config", "/nonexistent/config.yaml", "sync")
    assert result["code"] == 2
    assert "structlog" in result["loaded"]
