"""Fixtures for integration tests: an emulator for the engine's test setup, and a private slapd
(started once per test session) with its configs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.config import LdapSourceConfig
from sync.timetrack.emulator import RunningEmulator
from tests.conftest import require_service
from tests.emulator_fixtures import running_emulator
from tests.slapd import (
    FULL_DN,
    FULL_PW,
    STAFF_DN,
    Slapd,
    SlapdError,
    TlsFiles,
    fixture_ldif,
    make_tls,
    people_ldif,
    slapd_available,
    start_slapd,
)
from tests.syncenv import API_KEY, API_SECRET

PEOPLE_COUNT = 10_000
LdapConfigFactory = Callable[..., LdapSourceConfig]
SlapdFactory = Callable[[str], Slapd]


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    """A fresh, empty emulator accepting the credentials `tests.syncenv.make_env` configures."""
    with running_emulator(api_key=API_KEY, api_secret=API_SECRET) as running:
        yield running


def _start(workdir: Path, ldif: str, tls: TlsFiles | None) -> Slapd:
    require_service(slapd_available(), "slapd (scripts/ensure-system-deps.sh installs it)")
    try:
        return start_slapd(workdir, ldif, tls=tls)
    except SlapdError as exc:
        require_service(False, f"slapd ({exc})")
        raise  # not reached: require_service skipped or failed the test


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One slapd for the session: staff + groups fixtures and 10,000 generated people, TLS on."""
    workdir = tmp_path_factory.mktemp("slapd")
    require_service(slapd_available(), "slapd (scripts/ensure-system-deps.sh installs it)")
    try:
        tls = make_tls(workdir / "tls")
    except SlapdError as exc:
        require_service(False, f"openssl ({exc})")
        raise
    ldif = fixture_ldif("base.ldif", "staff.ldif") + "\n" + people_ldif(PEOPLE_COUNT)
    server = _start(workdir, ldif, tls)
    yield server
    server.stop()


@pytest.fixture
def private_slapd(tmp_path: Path) -> Iterator[SlapdFactory]:
    """Start a slapd of the test's own (no TLS) from an LDIF; stopped when the test ends."""
    started: list[Slapd] = []

    def start(ldif: str) -> Slapd:
        server = _start(tmp_path / f"slapd{len(started)}", ldif, None)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def ldap_config(slapd_server: Slapd) -> LdapConfigFactory:
    """A validated LDAP source config for the session server (FULL identity, ou=staff)."""

    def make(**overrides: Any) -> LdapSourceConfig:
        values: dict[str, Any] = {
            "type": "ldap",
            "url": slapd_server.url,
            "bind_dn": FULL_DN,
            "bind_password": FULL_PW,
            "base_dn": STAFF_DN,
            "attributes": ["uid", "givenName", "sn", "mail"],
            "timeout_seconds": 10,
        }
        values.update(overrides)
        return LdapSourceConfig.model_validate(values)

    return make
