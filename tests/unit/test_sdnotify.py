"""sd_notify against a real datagram socket standing in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.sdnotify import Notifier, Watchdog, socket_address, watchdog_seconds

_opened: list[Notifier] = []


def request_close(notifier: Notifier) -> Notifier:
    """Close the notifier's socket when the test ends."""
    _opened.append(notifier)
    return notifier


@pytest.fixture(autouse=True)
def _close_notifiers() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


@pytest.fixture
def abstract_listener() -> Iterator[tuple[socket.socket, str]]:
    name = f"timetrack-sync-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield sock, "@" + name
    sock.close()


def test_address_forms() -> None:
    assert socket_address("@systemd/notify") == "\0systemd/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("") is None
    assert socket_address("vsock:2:1234") is None


def test_without_notify_socket_every_call_is_a_quiet_no_op() -> None:
    notifier = Notifier(env={})
    assert not notifier.enabled
    assert notifier.ready(status="x") is False
    assert notifier.stopping() is False


def test_ready_and_status_arrive_as_one_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier(env={"NOTIFY_SOCKET": path})
    assert notifier.ready(status="waiting for runs of hr")
    assert sock.recv(4096).decode() == "READY=1\nSTATUS=waiting for runs of hr"
    notifier.status("hr: succeeded\nat 12:00")  # a status is one line
    assert sock.recv(4096).decode() == "STATUS=hr: succeeded at 12:00"
    notifier.stopping()
    assert sock.recv(4096).decode() == "STOPPING=1"
    notifier.close()


def test_abstract_socket_names_starting_with_at_are_supported(
    abstract_listener: tuple[socket.socket, str],
) -> None:
    sock, name = abstract_listener
    notifier = Notifier(env={"NOTIFY_SOCKET": name})
    request_close(notifier)
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    notifier.reloading()
    lines = sock.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=") and lines[1].split("=")[1].isdigit()


def test_a_missing_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone")})
    request_close(notifier)
    assert notifier.enabled
    assert notifier.ready() is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ],
)
def test_watchdog_timeout_from_environment(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_seconds(env) == expected


def test_watchdog_pings_repeatedly_while_alive(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    watchdog = Watchdog(request_close(Notifier(env={"NOTIFY_SOCKET": path})), 0.1, lambda: True)
    watchdog.start()
    try:
        assert [sock.recv(64) for _ in range(4)] == [b"WATCHDOG=1"] * 4
    finally:
        watchdog.stop()


def test_watchdog_withholds_pings_when_the_main_loop_hangs(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    checked = threading.Semaphore(0)

    def hung() -> bool:
        checked.release()
        return False

    watchdog = Watchdog(request_close(Notifier(env={"NOTIFY_SOCKET": path})), 0.05, alive=hung)
    watchdog.start()
    try:
        assert sock.recv(64) == b"WATCHDOG=1"  # the ping at start
        for _ in range(3):
            assert checked.acquire(timeout=5)
    finally:
        watchdog.stop()
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(64)  # no ping after the three failed checks
