"""deploy/ holds real files: systemd accepts the units; alerts and dashboard use real metrics.

`systemd-analyze verify` insists that ExecStart's binary exists, so the units are checked on a
copy whose /usr/local/bin/timetrack-sync points at the installed console script instead.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from sync.metrics import Metrics
from tests.conftest import require_service

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ("timetrack-sync.service", "timetrack-sync-once.service", "timetrack-sync-once.timer")
INSTALLED = "/usr/local/bin/timetrack-sync"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
METRIC = re.compile(r"\btimetrack_sync_[a-z_]+")


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    require_service(Path(SYSTEMD_ANALYZE).exists(), "systemd-analyze")
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False
    )


def units_copy(tmp: Path, *, replace: tuple[str, str] | None = None) -> list[Path]:
    """The units with ExecStart's binary swapped for one that exists here."""
    binary = str(Path(sys.executable).parent / "timetrack-sync")
    paths = []
    for name in UNITS:
        text = (DEPLOY / name).read_text().replace(INSTALLED, binary)
        if replace is not None:
            text = text.replace(*replace)
        (tmp / name).write_text(text)
        paths.append(tmp / name)
    return paths


def test_units_pass_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    result = analyze("verify", "--man=no", *map(str, units_copy(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    # verify exits 0 on unknown keys; the test above fails on any output, as here.
    paths = units_copy(tmp_path, replace=("Type=notify", "Typ=notify"))
    result = analyze("verify", "--man=no", *map(str, paths))
    assert "Unknown key 'Typ'" in result.stderr


def test_daemon_unit_is_hardened(tmp_path: Path) -> None:
    service = units_copy(tmp_path)[0]
    # Exposure is shown as 0.0-10.0 and compared as 0-100: 20 means "2.0 OK" or better.
    result = analyze("security", "--offline=yes", "--threshold=20", str(service))
    assert result.returncode == 0, result.stdout[-2000:]


def unit_settings(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_daemon_unit_is_a_notify_service_with_watchdog_credentials_and_state() -> None:
    unit = unit_settings("timetrack-sync.service")
    assert unit["Type"] == ["notify"]
    assert unit["ExecStart"] == [f"{INSTALLED} --config /etc/timetrack-sync/config.yaml daemon"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["DynamicUser"] == ["yes"] and unit["StateDirectory"] == ["timetrack-sync"]
    assert unit["LoadCredential"] == ["api_secret:/etc/timetrack-sync/credentials/api_secret"]
    assert int(unit["WatchdogSec"][0]) > 0
    # the daemon waits up to 60 s for the run in flight; systemd must wait longer
    assert int(unit["TimeoutStopSec"][0]) > 60
    for key in (
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "NoNewPrivileges",
        "RestrictAddressFamilies",
        "SystemCallFilter",
    ):
        assert key in unit, key


def test_cron_example_runs_sync_without_flock() -> None:
    text = (DEPLOY / "cron.d" / "timetrack-sync").read_text()
    entries = [line for line in text.splitlines() if line[:1].isdigit() or line[:2] == "*/"]
    assert len(entries) == 1
    fields = entries[0].split()
    assert fields[5] == "timetrack-sync" and fields[6:8] == ["timetrack-sync", "sync"]
    assert "flock" not in entries[0]


def exported_series() -> set[str]:
    names: set[str] = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


def test_alert_rules_use_only_exported_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used, "the rules reference timetrack-sync metrics"
    assert used <= exported_series(), used - exported_series()


def test_dashboard_uses_only_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert len(used) >= 8
    assert used <= exported_series(), used - exported_series()
    assert all(panel.get("description") for panel in dashboard["panels"])
