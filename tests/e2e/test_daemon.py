"""`timetrack-sync daemon` as systemd runs it: a subprocess, signals, sd_notify, /metrics, /healthz.

The emulator runs in this process; the daemon syncs it every second. Every wait is a poll with a
deadline, never a sleep standing in for an assertion.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync.state.lock import RunLock
from sync.state.store import StateStore
from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from tests.syncenv import API_KEY, API_SECRET, SyncEnv, make_env, person

CLI = str(Path(sys.executable).parent / "timetrack-sync")
T = TypeVar("T")


def poll(check: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    """Call `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Daemon:
    """A running `timetrack-sync daemon` subprocess with its JSON log and HTTP endpoint."""

    def __init__(self, env: SyncEnv, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        write_daemon_config(env, self.port)
        self.log_path = env.dir / "daemon.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("TIMETRACK", "NOTIFY"))}
        environ.update(extra_env or {})
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [CLI, "--config", str(env.config), "--log-format", "json", "daemon"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=environ,
            )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if name is None or event.get("event") == name:
                found.append(event)
        return found

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()
        except OSError:
            return 0, ""  # not listening yet

    def health_body(self, status: int) -> str | None:
        """The /healthz body when it answers `status`, else None."""
        got, body = self.get("/healthz")
        return body if got == status else None

    def metric(self, name: str, **labels: str) -> float:
        status, text = self.get("/metrics")
        if status != 200:
            return 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def runs(self, status: str) -> float:
        return self.metric("timetrack_sync_runs_total", sync_job="hr", status=status)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the daemon did not exit within {timeout}s of SIGTERM:\n{self.log_text()}")


def write_daemon_config(env: SyncEnv, port: int, *, interval: str = "1s") -> None:
    text = env.config.read_text()
    text = text.replace("  - name: hr\n", f"  - name: hr\n    interval: {interval}\n", 1)
    env.config.write_text(text + f"metrics:\n  listen: 127.0.0.1:{port}\n")


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    running = serve_in_thread(state)
    yield running
    running.stop()  # idempotent: a test may have stopped it already


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


def start(
    daemons: list[Daemon], tmp: Path, emu: RunningEmulator, people: int = 5, **kw: Any
) -> tuple[Daemon, SyncEnv]:
    # No retries and a short timeout: a run against a stopped emulator fails at once.
    env = make_env(
        tmp,
        emu.url,
        [person(n) for n in range(people)],
        extra_timetrack="  max_retries: 0\n  timeout_seconds: 5\n  concurrency: 2\n",
    )
    daemon = Daemon(env, **kw)
    daemons.append(daemon)
    return daemon, env


def pending_rows(env: SyncEnv) -> int:
    store = StateStore(env.state_url)
    try:
        return len(store.pending_operations())
    finally:
        store.close()


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET (abstract name)."""

    def __init__(self) -> None:
        self.name = f"@timetrack-sync-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def seen(self, prefix: str) -> list[str]:
        return [line for m in self.drain() for line in m.split("\n") if line.startswith(prefix)]


def test_daemon_syncs_every_interval_and_reports_metrics_health_and_sd_notify(
    tmp_path: Path, emu: RunningEmulator, daemons: list[Daemon]
) -> None:
    notify = NotifySocket()
    try:
        daemon, _ = start(
            daemons,
            tmp_path,
            emu,
            extra_env={"NOTIFY_SOCKET": notify.name, "WATCHDOG_USEC": "500000"},
        )
        poll(lambda: notify.seen("READY=1"), "READY=1")
        poll(lambda: len(emu.state.users()) == 5, "five users created")
        poll(lambda: daemon.runs("succeeded") >= 2, "a second run on the 1 s interval")
        status, body = daemon.get("/healthz")
        assert status == 200 and body.startswith("ok\njob hr: ok (last run"), body
        assert (
            daemon.metric(
                "timetrack_sync_operations_total", sync_job="hr", action="create", outcome="done"
            )
            == 5
        )
        assert daemon.metric("timetrack_sync_api_requests_total", status="201") == 5
        assert daemon.metric("timetrack_sync_source_records", sync_job="hr") == 5
        assert daemon.metric("timetrack_sync_last_success_timestamp_seconds", sync_job="hr") > 0
        assert daemon.metric("timetrack_sync_run_duration_seconds_count", sync_job="hr") >= 2
        poll(lambda: [s for s in notify.seen("STATUS=") if "hr: succeeded" in s], "run STATUS")
        assert notify.seen("WATCHDOG=1"), "watchdog pings with WATCHDOG_USEC set"

        assert daemon.stop() == 0
        assert notify.seen("STOPPING=1")
        assert len(emu.state.users()) == 5  # later runs changed nothing
        # Per-operation lines are at debug; the run's own lines carry the bound run_id and job.
        run_events = daemon.events("source_read") + daemon.events("sync_finished")
        assert len(run_events) >= 4
        for event in run_events:
            assert event["job"] == "hr" and isinstance(event["run_id"], int), event
        assert API_SECRET not in daemon.log_text()
    finally:
        notify.sock.close()


def test_daemon_survives_the_api_going_down_and_coming_back(
    tmp_path: Path, emu: RunningEmulator, daemons: list[Daemon]
) -> None:
    daemon, _ = start(daemons, tmp_path, emu)
    poll(lambda: daemon.get("/healthz")[0] == 200 and daemon.runs("succeeded") >= 1, "a success")
    state, port = emu.state, emu.port
    emu.stop()
    body = poll(lambda: daemon.health_body(503), "health 503")
    assert "job hr: last run failed" in body
    assert daemon.runs("failed") >= 1
    assert daemon.proc.poll() is None

    revived = serve_in_thread(state, port=port)
    try:
        before = daemon.runs("succeeded")
        poll(lambda: daemon.runs("succeeded") > before, "a success after the API came back")
        poll(lambda: daemon.get("/healthz")[0] == 200, "health 200 again")
        assert len(state.users()) == 5  # no duplicates from the failed runs
        assert daemon.stop() == 0
    finally:
        revived.stop()


def test_sigterm_mid_run_lets_operations_in_flight_finish_and_exits_0(
    tmp_path: Path, emu: RunningEmulator, daemons: list[Daemon]
) -> None:
    emu.state.set_options(latency_ms=300)
    daemon, env = start(daemons, tmp_path, emu, people=40)
    poll(lambda: len(emu.state.writes) >= 2, "the first writes of a slow run")
    daemon.signal(signal.SIGTERM)
    assert daemon.stop() == 0
    created = len(emu.state.users())
    assert 2 <= created < 40, "the run stopped early"
    assert pending_rows(env) == 0
    store = StateStore(env.state_url)
    try:
        [run] = store.recent_runs(job="hr")
        done = [op for op in store.operations(run_id=run.id) if op.status == "done"]
    finally:
        store.close()
    assert run.status == "partial"
    assert len(done) == created  # every write that reached TimeTrack is journaled as done
    assert daemon.events("apply_stopped")


def test_a_concurrent_sync_is_refused_while_the_daemon_runs(
    tmp_path: Path, emu: RunningEmulator, daemons: list[Daemon]
) -> None:
    emu.state.set_options(latency_ms=250)
    daemon, env = start(daemons, tmp_path, emu, people=30)
    poll(lambda: len(emu.state.writes) >= 1, "a slow run in flight")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIMETRACK")}
    shell = subprocess.run(
        [CLI, "--config", str(env.config), "sync"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert shell.returncode == 1, shell.stderr
    assert "another run is in progress" in shell.stderr
    assert daemon.stop() == 0


def test_a_run_finding_the_lock_taken_is_skipped_not_queued(
    tmp_path: Path, emu: RunningEmulator, daemons: list[Daemon]
) -> None:
    env = make_env(tmp_path, emu.url, [person(n) for n in range(5)])
    with RunLock(env.state_url):  # a cron or shell run in progress
        daemon = Daemon(env)
        daemons.append(daemon)
        poll(lambda: len(daemon.events("run_skipped")) >= 2, "two skipped runs")
        assert daemon.runs("skipped") >= 2
        assert "another run is in progress" in daemon.events("run_skipped")[0]["reason"]
        assert emu.state.users() == []
    poll(lambda: len(emu.state.users()) == 5, "the next run after the lock was released")
    assert daemon.stop() == 0


def test_sighup_with_a_broken_config_keeps_the_old_one_running(
    tmp_path: Path, emu: RunningEmulator, daemons: list[Daemon]
) -> None:
    daemon, env = start(daemons, tmp_path, emu)
    poll(lambda: daemon.runs("succeeded") >= 1, "a first run")
    good = env.config.read_text()
    env.config.write_text(good.replace("match_on: personalNumber", "match_on: shoe_size"))
    daemon.signal(signal.SIGHUP)
    [failed] = poll(lambda: daemon.events("config_reload_failed"), "the reload to fail")
    assert "match_on" in failed["error"]
    before = daemon.runs("succeeded")
    poll(lambda: daemon.runs("succeeded") > before, "runs going on with the old config")
    assert daemon.proc.poll() is None

    env.config.write_text(good.replace("interval: 1s", "interval: 2s"))
    daemon.signal(signal.SIGHUP)
    poll(lambda: daemon.events("config_reloaded"), "a good config to be reloaded")
    assert daemon.stop() == 0
