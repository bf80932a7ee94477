"""The client over HTTPS to the emulator with a throwaway CA: verification is on by default.

The certificate is made by `openssl` (as for slapd's TLS tests): a CA and a server
certificate for 127.0.0.1. No mock: real TLS handshakes over the loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sync.timetrack.client import ClientSettings, TimeTrackClient
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from sync.timetrack.errors import TransportError
from tests.e2e.test_cli import cli
from tests.slapd import TlsFiles, make_tls
from tests.syncenv import API_KEY, API_SECRET, make_env, person


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_emu(tls: TlsFiles) -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    with serve_in_thread(state, tls=(tls.cert, tls.key)) as running:
        yield running


def client(url: str, **settings: object) -> TimeTrackClient:
    return TimeTrackClient(
        ClientSettings(url=url, api_key=API_KEY, api_secret=API_SECRET, **settings)
    )  # type: ignore[arg-type]


def test_a_certificate_from_an_unknown_ca_is_refused_at_once(https_emu: RunningEmulator) -> None:
    assert https_emu.url.startswith("https://127.0.0.1:")
    with client(https_emu.url) as tt, pytest.raises(TransportError) as refused:
        tt.list_users()
    assert "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" in str(refused.value)
    assert refused.value.hint == "check timetrack.ca_file / tls_verify"
    assert refused.value.attempts == 1  # a TLS failure is not retried
    assert dict(https_emu.state.request_count) == {}  # no HTTP request got through


def test_the_right_ca_file_verifies_the_server(https_emu: RunningEmulator, tls: TlsFiles) -> None:
    with client(https_emu.url, ca_file=str(tls.ca_cert)) as tt:
        created = tt.create_user(
            {
                "username": "ann",
                "firstName": "Ann",
                "lastName": "Lee",
                "email": "ann@example.com",
                "password": "Secret-Passw0rd!",
            }
        )
        assert created.user is not None
        assert [u.username for u in tt.list_users()] == ["ann"]


def test_tls_verify_false_connects_but_warns(https_emu: RunningEmulator) -> None:
    with capture_logs() as logs, client(https_emu.url, tls_verify=False) as tt:
        assert tt.list_users() == []
    assert any(e["event"] == "tls_verification_disabled" for e in logs)


def test_the_cli_names_the_tls_failure_and_its_fix(
    tmp_path: Path, https_emu: RunningEmulator, tls: TlsFiles
) -> None:
    env = make_env(tmp_path, https_emu.url, [person(0)])
    refused = cli(env, "sync")
    assert refused.returncode == 1
    assert "hint: check timetrack.ca_file / tls_verify" in refused.stderr
    assert "Traceback" not in refused.stderr
    env.config.write_text(
        env.config.read_text().replace("timetrack:\n", f"timetrack:\n  ca_file: {tls.ca_cert}\n")
    )
    assert cli(env, "sync").returncode == 0
    assert [u["username"] for u in https_emu.state.users()] == ["user0"]
