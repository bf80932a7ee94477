"""Security review as tests: secrets never leak, files are private, the emulator stays local.

Every command an admin runs (demo, sync, dry run, its failures, status, audit, doctor, the
daemon) runs as a subprocess with `--log-level debug` and a known API secret; every line of
stdout and stderr, the state database and its -wal/-shm bytes are searched for it. Exception
texts are forced in-process and searched too. Generated user passwords cannot be seen from a
subprocess: tests/integration/test_engine.py
(test_generated_passwords_reach_the_api_once_and_nowhere_else) covers them.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from sync.config import load_config
from sync.demo import DEMO_SECRET
from sync.errors import ConfigError, SyncError
from sync.logging import configure_logging, register_secret
from sync.timetrack.client import ClientSettings, TimeTrackClient
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from tests.syncenv import API_KEY, API_SECRET, SyncEnv, make_env, person, write_csv

CLI = str(Path(sys.executable).parent / "timetrack-sync")
# The secret the emulator accepts when it is told to refuse ours (the 401 case).
EMULATOR_SECRET = "emu-only-S3CRET-4f1c9a"
WRONG_SECRET = "wrong-S3CRET-in-file-77aa"


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    with serve_in_thread(state) as running:
        yield running


def _environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIMETRACK")}
    environ["NO_COLOR"] = "1"
    environ.update(extra)
    return environ


def cli(config: Path | None, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [CLI, *(["--config", str(config)] if config else []), "--log-level", "debug"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environ(),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def state_bytes(db: Path) -> bytes:
    """The SQLite file, its WAL and shared-memory files, and a text dump of every row."""
    raw = b"".join(p.read_bytes() for p in (db, _side(db, "-wal"), _side(db, "-shm")) if p.exists())
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    return raw + dump.encode()


def _side(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def assert_no_secret(label: str, haystack: str | bytes, secrets: tuple[str, ...]) -> None:
    for secret in secrets:
        needle: str | bytes = secret.encode() if isinstance(haystack, bytes) else secret
        assert needle not in haystack, f"{secret!r} found in {label}"


def finished_runs(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM runs WHERE status != 'running'").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        con.close()


def run_daemon_once(env: SyncEnv) -> tuple[int, str]:
    """Start the daemon (interval 1s), wait for one more finished run, SIGTERM; (code, output)."""
    config = env.dir / "daemon.yaml"
    text = env.config.read_text().replace("  - name: hr\n", "  - name: hr\n    interval: 1s\n", 1)
    config.write_text(text)
    config.chmod(0o600)
    before = finished_runs(env.db)
    log_path = env.dir / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [CLI, "--config", str(config), "--log-level", "debug", "daemon"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=_environ(),
        )
    try:
        deadline = time.monotonic() + 30
        while finished_runs(env.db) <= before:
            assert proc.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "no daemon run within 30 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, log_path.read_text(errors="replace")


def test_no_secret_in_any_output_log_line_or_state_byte(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(6)])
    outputs: dict[str, tuple[int, str, str]] = {}

    def record(label: str, result: subprocess.CompletedProcess[str]) -> None:
        outputs[label] = (result.returncode, result.stdout, result.stderr)

    record("dry run", cli(env.config, "sync", "--dry-run", "--output", "json"))
    record("sync", cli(env.config, "sync"))
    record("status", cli(env.config, "status"))
    record("audit", cli(env.config, "audit"))
    record("doctor", cli(env.config, "doctor"))

    csv_text = env.csv.read_text()
    write_csv(env.csv, [])
    record("guard", cli(env.config, "sync"))
    env.csv.unlink()
    record("source missing", cli(env.config, "sync"))
    env.csv.write_text(csv_text)

    emu.state.set_options(api_secret=EMULATOR_SECRET)  # our secret is now wrong: 401
    record("401 sync", cli(env.config, "sync"))
    record("401 doctor", cli(env.config, "doctor"))
    env.secret_file.write_text(WRONG_SECRET + "\n")
    record("401 wrong secret file", cli(env.config, "sync", "--dry-run"))
    env.secret_file.write_text(API_SECRET + "\n")
    emu.state.set_options(api_secret=API_SECRET)

    code, daemon_log = run_daemon_once(env)
    outputs["daemon"] = (code, "", daemon_log)

    codes = {label: code for label, (code, _, _) in outputs.items()}
    assert codes == {
        "dry run": 0,
        "sync": 0,
        "status": 0,
        "audit": 0,
        "doctor": 0,
        "guard": 3,
        "source missing": 1,
        "401 sync": 1,
        "401 doctor": 1,
        "401 wrong secret file": 1,
        "daemon": 0,
    }, {label: err[-2000:] for label, (_, _, err) in outputs.items()}
    secrets = (API_SECRET, EMULATOR_SECRET, WRONG_SECRET)
    for label, (_, stdout, stderr) in outputs.items():
        assert "Traceback" not in stderr, f"{label}: {stderr[-2000:]}"
        for line in (stdout + stderr).splitlines():
            assert_no_secret(f"{label} output line {line!r}", line, secrets)
    assert_no_secret("the state database", state_bytes(env.db), secrets)
    # The debug logs were really there to search, and the failures really were failures.
    assert '"event": "http_request"' in outputs["sync"][2]
    assert "401" in outputs["401 sync"][1] + outputs["401 sync"][2]
    assert "min_source_records" in outputs["guard"][1]
    assert '"event": "sync_finished"' in outputs["daemon"][2]


def test_demo_and_emulator_never_print_their_secrets(tmp_path: Path) -> None:
    demo = cli(None, "demo", "--keep", str(tmp_path / "demo"), timeout=300)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "http_request" in demo.stderr
    assert_no_secret("demo output", demo.stdout + demo.stderr, (DEMO_SECRET,))
    assert_no_secret("demo state", state_bytes(tmp_path / "demo" / "state.db"), (DEMO_SECRET,))

    proc = subprocess.Popen(
        [CLI, "--log-level", "debug", "emulator", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environ(TIMETRACK_EMULATOR_SECRET=EMULATOR_SECRET),
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in banner
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert_no_secret("emulator output", banner + stdout + stderr, (EMULATOR_SECRET,))


def test_exception_texts_carry_no_secret(tmp_path: Path, emu: RunningEmulator) -> None:
    texts: list[str] = []

    def collect(exc: BaseException) -> None:
        texts.extend([str(exc), repr(exc), *map(str, exc.args)])
        texts.extend(traceback.format_exception(exc))
        texts.extend(getattr(exc, "problems", []))

    # A 401 and a server failure from the client.
    for options in ({"api_secret": EMULATOR_SECRET}, {"fail_rate": 1.0}):
        emu.state.reset(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
        emu.state.set_options(**options)
        settings = ClientSettings(
            url=emu.url, api_key=API_KEY, api_secret=API_SECRET, max_retries=0
        )
        texts.append(repr(settings))
        with TimeTrackClient(settings) as client, pytest.raises(SyncError) as caught:
            client.list_users()
        collect(caught.value)
    assert any("401" in text for text in texts)

    # Config errors around literal secrets: wrong types, both sources, a password without a DN.
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(API_SECRET.encode() + b"\xff\n")
    secret_file.chmod(0o600)
    base = f"timetrack:\n  url: {emu.url}\n  api_key: {API_KEY}\n"
    job = (
        "jobs:\n  - name: hr\n    source: {src}\n"
        "    mapping: {{username: x, firstName: x, lastName: x, email: x}}\n"
    )
    csv_source = "{type: csv, path: people.csv}"
    ldap_source = (
        f"{{type: ldap, url: 'ldap://127.0.0.1', base_dn: 'dc=x', bind_password: {API_SECRET}}}"
    )
    bad_configs = [
        base + f"  api_secret: [{API_SECRET}]\n" + job.format(src=csv_source),
        base + f"  api_secret: {API_SECRET}\n  api_secret_file: {secret_file}\n"
        "  concurrency: lots\n" + job.format(src=csv_source),
        base + f"  api_secret: {{value: {API_SECRET}}}\n" + job.format(src=csv_source),
        base + f"  api_secret: {API_SECRET}\n" + job.format(src=ldap_source),
        f"timetrack:\n  url: https://admin:{API_SECRET}@[bad\n  api_key: {API_KEY}\n"
        + job.format(src=csv_source),
    ]
    for index, text in enumerate(bad_configs):
        path = tmp_path / f"bad{index}.yaml"
        path.write_text(text)
        path.chmod(0o600)
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        collect(caught.value)

    # A secret file that is not UTF-8 after the secret.
    path = tmp_path / "good.yaml"
    path.write_text(base + f"  api_secret_file: {secret_file}\n" + job.format(src=csv_source))
    path.chmod(0o600)
    config = load_config(path, env={})
    with pytest.raises(ConfigError) as caught:
        config.timetrack.read_api_secret()
    collect(caught.value)

    # A valid config holding the secret literally: its repr and dumps mask it.
    path.write_text(base + f"  api_secret: {API_SECRET}\n" + job.format(src=csv_source))
    config = load_config(path, env={})
    texts += [repr(config), str(config.model_dump()), config.model_dump_json()]
    assert config.timetrack.read_api_secret() == API_SECRET

    assert len(texts) > 20
    for text in texts:
        assert_no_secret(f"exception text {text[:300]!r}", text, (API_SECRET, EMULATOR_SECRET))


def test_a_logged_exception_is_redacted() -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    register_secret(API_SECRET)
    log = structlog.get_logger("test")
    try:
        raise RuntimeError(f"the server echoed X-TimeTrack-Api-Secret: {API_SECRET}")
    except RuntimeError:
        log.exception("request_failed", detail=f"secret={API_SECRET}", api_secret="plain")
    text = stream.getvalue()
    assert "request_failed" in text and "RuntimeError" in text
    assert API_SECRET not in text
    assert '"api_secret": "***"' in text


def test_readable_secret_files_warn_and_still_work(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(1)])
    env.secret_file.chmod(0o644)
    result = cli(env.config, "sync", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert '"event": "secret_file_permissions"' in result.stderr
    assert f"chmod 600 {env.secret_file}" in result.stderr

    literal = env.config.read_text().replace(
        f"api_secret_file: {env.secret_file}", f"api_secret: {API_SECRET}"
    )
    env.config.write_text(literal)
    env.config.chmod(0o644)
    result = cli(env.config, "sync", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert '"event": "config_literal_secret_world_readable"' in result.stderr
    assert '"key": "timetrack.api_secret"' in result.stderr
    assert API_SECRET not in result.stdout + result.stderr


def test_state_database_is_private(tmp_path: Path, emu: RunningEmulator) -> None:
    env = make_env(tmp_path, emu.url, [person(1), person(2)])
    old = os.umask(0o022)  # the subprocess inherits a permissive umask
    try:
        assert cli(env.config, "sync").returncode == 0
    finally:
        os.umask(old)
    for path in (env.db, _side(env.db, "-wal"), _side(env.db, "-shm")):
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    env.db.chmod(0o644)  # an admin's cp or restore widened it
    result = cli(env.config, "status")
    assert result.returncode == 0, result.stderr
    assert '"event": "state_db_permissions_fixed"' in result.stderr
    assert stat.S_IMODE(env.db.stat().st_mode) == 0o600


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_emulator_refuses_a_public_bind_without_bind_public(host: str) -> None:
    result = subprocess.run(
        [CLI, "emulator", "--host", host, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_environ(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"refusing to bind the emulator to {host}" in result.stderr
    assert "pass --bind-public" in result.stderr
    assert "listening" not in result.stdout
    assert "Traceback" not in result.stderr

    with pytest.raises(ValueError, match="loopback"):
        serve_in_thread(EmulatorState(EmulatorOptions()), host=host)
