"""Start-up: `--version` and `--help` import no config, database, HTTP, LDAP, template or
logging library (each costs tens of milliseconds a process would pay for nothing); the garbage
collector stays off while a command starts and is on once it has loaded its config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


CONFIG = """\
timetrack: {url: "http://127.0.0.1:9/api", api_key: key, api_secret: secret-value}
jobs:
  - name: hr
    source: {type: csv, path: people.csv}
    mapping:
      username: "{{ login }}"
      firstName: "{{ first }}"
      lastName: "{{ last }}"
      email: "{{ mail }}"
"""

# Runs a command through main() but stops it right after it loaded the config (no store, no
# HTTP), noting when the garbage collector was on and what start-up left frozen.
WATCH_GC = """
import gc, json, sys
from sync import cli
seen = {"at_main": None}
real_load, real_app = cli.load, cli.app

def watched_app(**kwargs):
    seen["at_main"] = gc.isenabled()
    real_app(**kwargs)

def watched_load(*args, **kwargs):
    seen["before_load"] = gc.isenabled()
    real_load(*args, **kwargs)
    seen["after_load"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count()
    real_load(False)  # a daemon's reload freezes nothing more
    seen["refrozen"] = gc.get_freeze_count() != seen["frozen"]
    raise SystemExit(0)

cli.app, cli.load = watched_app, watched_load
sys.argv = ["timetrack-sync", "--config", sys.argv[1], "status"]
try:
    cli.main()
except SystemExit:
    pass
seen["after_main"] = gc.isenabled()
print(json.dumps(seen))
"""


def test_the_collector_is_off_while_starting_and_on_once_the_config_is_loaded(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    config.chmod(0o600)
    done = subprocess.run(
        [sys.executable, "-c", WATCH_GC, str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["at_main"] is False and seen["before_load"] is False
    assert seen["after_load"] is True and seen["frozen"] > 0
    assert seen["refrozen"] is False
    assert seen["after_main"] is True
