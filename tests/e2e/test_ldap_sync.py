"""The CLI syncing a real slapd (the example LDIF and config) into the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from tests.conftest import require_service
from tests.slapd import Slapd, SlapdError, slapd_available, start_slapd
from tests.syncenv import API_KEY, API_SECRET

pytestmark = pytest.mark.ldap

CLI = str(Path(sys.executable).parent / "timetrack-sync")
EXAMPLES = Path(__file__).parents[2] / "examples"
SUFFIX = "dc=example,dc=com"
BIND_PASSWORD = "change-me-example-only"  # the example LDIF's service account


def person(uid: str) -> str:
    return f"uid={uid},ou=people,{SUFFIX}"


def group(cn: str) -> str:
    return f"cn={cn},ou=groups,{SUFFIX}"


@pytest.fixture
def company(tmp_path: Path) -> Iterator[Slapd]:
    """A private slapd holding the example company."""
    require_service(slapd_available(), "slapd (scripts/ensure-system-deps.sh installs it)")
    ldif = (EXAMPLES / "company.ldif").read_text(encoding="utf-8")
    try:
        server = start_slapd(tmp_path / "slapd", ldif, suffix=SUFFIX)
    except SlapdError as exc:
        require_service(False, f"slapd ({exc})")
        raise
    yield server
    server.stop()


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    with serve_in_thread(state) as running:
        yield running


def write_config(tmp: Path, emu: RunningEmulator, slapd: Slapd, password: str) -> Path:
    """examples/config.ldap.yaml, pointed at the test's slapd, emulator and state DB."""
    config: dict[str, Any] = yaml.safe_load((EXAMPLES / "config.ldap.yaml").read_text())
    secret = tmp / "api_secret"
    secret.write_text(API_SECRET + "\n")
    bind_password = tmp / "ldap_bind_password"
    bind_password.write_text(password + "\n")
    for path in (secret, bind_password):
        path.chmod(0o600)
    config["timetrack"] = {
        "url": emu.url,
        "api_key": API_KEY,
        "api_secret_file": str(secret),
        "requests_per_second": 0,
    }
    config["state"] = {"url": f"sqlite:///{tmp / 'state.db'}"}
    source = config["jobs"][0]["source"]
    source["url"] = slapd.url
    source["bind_password_file"] = str(bind_password)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    path.chmod(0o600)
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIMETRACK")}
    environ["NO_COLOR"] = "1"
    return subprocess.run(
        [CLI, "--config", str(config), *args],
        capture_output=True, text=True, timeout=120, env=environ,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def by_username(emu: RunningEmulator) -> dict[str, dict[str, Any]]:
    return {str(u["username"]): u for u in emu.state.users()}


def test_joiner_mover_and_leaver_reach_timetrack(
    tmp_path: Path, emu: RunningEmulator, company: Slapd
) -> None:
    config = write_config(tmp_path, emu, company, BIND_PASSWORD)
    first = cli(config, "sync")
    assert first.returncode == 0, first.stdout + first.stderr
    users = by_username(emu)
    assert len(users) == 19  # 20 people, one of them a former employee
    assert "zmeyer" not in users
    assert users["tberg"]["admin"] is True  # via the nested IT-Operations group
    assert users["mobrien"]["admin"] is True and users["mobrien"]["teamLead"] is True
    assert users["jschmidt"]["admin"] is False and users["jschmidt"]["teamLead"] is False
    assert users["bkrueger"]["firstName"] == "Björn"

    with company.admin() as admin:
        admin.add(
            person("newbie"),
            "inetOrgPerson",
            {"uid": "newbie", "cn": "Nora Newbie", "givenName": "Nora", "sn": "Newbie",
             "mail": "newbie@example.com", "employeeNumber": "1021", "employeeType": "staff"},
        )  # fmt: skip
        admin.modify(person("jschmidt"), {"sn": [("MODIFY_REPLACE", ["Schmidt-Lang"])]})
        admin.modify(group("Team-Leads"), {"member": [("MODIFY_ADD", [person("jschmidt")])]})
        admin.modify(
            group("IT-Operations"), {"member": [("MODIFY_DELETE", [person("ojohansson")])]}
        )
        admin.modify(person("efischer"), {"employeeType": [("MODIFY_REPLACE", ["former"])]})

    second = cli(config, "sync", "--output", "json")
    assert second.returncode == 0, second.stdout + second.stderr
    summary = json.loads(second.stdout)["summary"]
    assert (summary["create"], summary["update"], summary["delete"]) == (1, 2, 1)
    users = by_username(emu)
    assert users["newbie"]["email"] == "newbie@example.com"
    assert users["jschmidt"]["lastName"] == "Schmidt-Lang"
    assert users["jschmidt"]["teamLead"] is True
    assert users["ojohansson"]["admin"] is False
    assert "efischer" not in users


def test_wrong_bind_password_exits_1_without_writing(
    tmp_path: Path, emu: RunningEmulator, company: Slapd
) -> None:
    config = write_config(tmp_path, emu, company, "not-the-password")
    result = cli(config, "sync")
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert company.url in output and "bind" in output
    assert "not-the-password" not in output
    assert emu.state.writes == []


def test_directory_down_exits_1_and_deletes_nobody(
    tmp_path: Path, emu: RunningEmulator, company: Slapd
) -> None:
    config = write_config(tmp_path, emu, company, BIND_PASSWORD)
    assert cli(config, "sync").returncode == 0
    users, writes = len(emu.state.users()), len(emu.state.writes)
    company.stop()
    result = cli(config, "sync", "--allow-mass-delete")
    assert result.returncode == 1, result.stdout + result.stderr
    assert company.url in result.stdout + result.stderr
    assert len(emu.state.users()) == users
    assert len(emu.state.writes) == writes
