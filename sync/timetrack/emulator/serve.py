"""Serving the emulator: in a daemon thread for tests and the demo, or in the foreground."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from sync.timetrack.emulator.app import ADMIN_PREFIX, API_PREFIX, create_app
from sync.timetrack.emulator.options import EmulatorOptions
from sync.timetrack.emulator.seed import generate_users, load_seed_file
from sync.timetrack.emulator.state import EmulatorState


def _check_host(host: str, allow_public: bool) -> None:
    """ValueError for a non-loopback bind address unless explicitly allowed."""
    if host == "localhost" or allow_public:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"refusing to bind the emulator to {host}: it is a test server that accepts a "
            "demo secret, so it listens on a loopback address (127.0.0.1, ::1) only"
        )


def _bind(host: str, port: int) -> socket.socket:
    """A bound socket (port 0: a free one picked by the kernel), handed to uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
    # without it each keep-alive answer waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(host: str, port: int, scheme: str = "http") -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}{API_PREFIX}"


def _server(state: EmulatorState, tls: tuple[Path, Path] | None = None) -> uvicorn.Server:
    certfile, keyfile = tls or (None, None)
    config = uvicorn.Config(
        create_app(state),
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        log_level="warning",
        lifespan="off",
        access_log=False,
        log_config=None,
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


class RunningEmulator:
    """An emulator served by uvicorn in a daemon thread; a context manager that stops it."""

    def __init__(
        self,
        state: EmulatorState,
        server: uvicorn.Server,
        thread: threading.Thread,
        sock: socket.socket,
        *,
        host: str,
        port: int,
        scheme: str = "http",
    ) -> None:
        self.state = state
        self.host = host
        self.port = port
        self.url = _url(host, port, scheme)
        self.admin_url = self.url.removesuffix(API_PREFIX) + ADMIN_PREFIX
        self._server = server
        self._thread = thread
        self._sock = sock

    @property
    def running(self) -> bool:
        """Whether the server thread still serves."""
        return self._thread.is_alive() and not self._server.should_exit

    @property
    def busy(self) -> bool:
        """Whether a request is still being handled (e.g. sleeping out its latency)."""
        return bool(self._server.server_state.tasks)

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningEmulator(url={self.url!r})"


def serve_in_thread(
    state: EmulatorState,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    allow_public: bool = False,
    startup_timeout: float = 10.0,
    tls: tuple[Path, Path] | None = None,
) -> RunningEmulator:
    """Serve `state` on host:port (0: a free port) in a daemon thread; returns once it listens.

    With `tls` (a certificate and its key), over HTTPS.
    """
    _check_host(host, allow_public)
    sock = _bind(host, port)
    server = _server(state, tls)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="timetrack-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    # uvicorn offers only the `started` flag; poll it briefly (startup takes milliseconds).
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the emulator did not start on {host}:{port}")
        time.sleep(0.005)
    port = sock.getsockname()[1]
    scheme = "https" if tls else "http"
    return RunningEmulator(state, server, thread, sock, host=host, port=port, scheme=scheme)


def run_emulator_cli(
    options: EmulatorOptions,
    *,
    host: str,
    port: int,
    seed_users: int,
    seed_file: Path | None,
    allow_public: bool,
) -> None:
    """Seed, print where the emulator listens (never the secret), serve until Ctrl-C/SIGTERM."""
    _check_host(host, allow_public)
    state = EmulatorState(options)
    if seed_file is not None:
        for user in load_seed_file(seed_file):
            state.add_user(**user)
    generated = generate_users(
        seed_users, seed=options.seed, time_entries_share=options.seed_time_entries_share
    )
    for user in generated:
        with contextlib.suppress(ValueError):  # a generated name may clash with the seed file
            state.add_user(**user)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    print(
        f"TimeTrack emulator listening on {_url(host, bound_port)} (api key: {options.api_key})",
        flush=True,
    )
    try:
        # In the main thread uvicorn handles SIGINT and SIGTERM itself and shuts down cleanly.
        _server(state).run(sockets=[sock])
    finally:
        sock.close()
