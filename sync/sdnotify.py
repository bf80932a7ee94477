"""A tiny sd_notify(3): tells systemd that the daemon is ready, what it is doing, and alive.

systemd passes `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket) to a `Type=notify`
service and `WATCHDOG_USEC` (with `WATCHDOG_PID`) when the unit sets `WatchdogSec=`. Without
them (a shell, a container, cron) every call here is a no-op, so the daemon runs the same
everywhere. Sending never raises: losing a status line must not stop a sync.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger(__name__)


def socket_address(value: str) -> str | None:
    """The address to send to: '@name' becomes the abstract name '\\0name'; '' is None."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # vsock and other forms are not used by the units we ship


class Notifier:
    """Sends state lines to systemd's notify socket, or does nothing without one."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        self.address = socket_address(environ.get("NOTIFY_SOCKET", ""))
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether a notify socket was given."""
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send `KEY=value` lines as one datagram; True when it was sent."""
        if self.address is None:
            return False
        payload = "\n".join(lines).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                    )
                self._sock.sendto(payload, self.address)
            except OSError as exc:
                log.debug("sd_notify_failed", error=str(exc))
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (with an optional STATUS=)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        """RELOADING=1 with MONOTONIC_USEC (systemd requires it for Type=notify-reload)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def status(self, text: str) -> bool:
        """STATUS=<one line shown by systemctl status>."""
        return self.notify(f"STATUS={' '.join(text.split())}")

    def watchdog(self) -> bool:
        """WATCHDOG=1: the service is alive."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """STOPPING=1: shutdown has begun."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket (idempotent)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_seconds(env: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout from WATCHDOG_USEC, or None when it is off or meant for another pid."""
    environ = os.environ if env is None else env
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Pings WATCHDOG=1 every half timeout from a thread, while `alive()` says so."""

    def __init__(self, notifier: Notifier, timeout: float, alive: Callable[[], bool]) -> None:
        self._notifier = notifier
        self._interval = timeout / 2
        self._alive = alive
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sd-watchdog", daemon=True)

    def start(self) -> None:
        """Start pinging."""
        self._notifier.watchdog()
        self._thread.start()

    def stop(self) -> None:
        """Stop pinging and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            # A hung main loop must stop the pings, so that systemd restarts the service.
            if self._alive():
                self._notifier.watchdog()
            else:
                log.warning("watchdog_ping_withheld", reason="the main loop is not responding")
