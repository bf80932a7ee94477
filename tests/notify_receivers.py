"""Real receivers for notifications, on 127.0.0.1: an SMTP server (aiosmtpd) and a webhook.

The SMTP server takes a login (without TLS: it is on loopback) and keeps every message; the
webhook receiver keeps every POST (headers and body) and answers the status it is told to.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER, SMTP_PASSWORD = "notifier", "smtp-Passw0rd-for-tests"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: keep the message."""
        self.raw.append(envelope.original_content)
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[tuple[int, Mailbox]]:
    """An SMTP server on 127.0.0.1 (a free port unless given) that checks the test login."""
    box = Mailbox()
    port = port or free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_required=False,  # AUTH is offered and checked; required-without-TLS warns
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@dataclass
class Hook:
    """What the webhook receiver got, and the status it answers."""

    status: int = 200
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Hook]]:
    """An HTTP server on 127.0.0.1 keeping each POST; yields its URL and what it got."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000/XXXX", hook
    finally:
        server.shutdown()
        server.server_close()
