"""Getting a notice there: SMTP (STARTTLS, verified) and HTTPS webhooks (HMAC-signed).

Each delivery has the target's short timeout. A failure raises `DeliveryError` with what the
server answered (or why it could not be reached), never a password or a webhook's path.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx

from sync.config.notify import EmailTarget, WebhookTarget
from sync.logging import register_secret
from sync.notify.messages import Notice

SIGNATURE_HEADER = "X-Timetrack-Sync-Signature"  # sha256=<hex HMAC of the body>


class DeliveryError(Exception):
    """A notice that did not arrive, and why."""


def describe(target: EmailTarget | WebhookTarget) -> str:
    """A target for people, without its secrets: `email to a@x via smtp.x:587`."""
    if isinstance(target, EmailTarget):
        return f"email to {', '.join(target.to)} via {target.smtp_host}:{target.smtp_port}"
    return f"webhook ({target.format}) to {target.host}"


def deliver(target: EmailTarget | WebhookTarget, notice: Notice, where: str) -> str:
    """Send one notice; returns what the server answered. `where` names the config key."""
    if isinstance(target, EmailTarget):
        return _send_mail(target, notice, where)
    return _post(target, notice, where)


def probe(target: EmailTarget | WebhookTarget, where: str) -> str:
    """Check a target without sending anything (for `doctor`); DeliveryError when it fails."""
    if isinstance(target, WebhookTarget):
        target.read_secret(f"{where}.secret_file")
        return f"{describe(target)}: not contacted (`timetrack-sync notify test` posts a test)"
    with _session(target, where) as smtp:
        code, _answer = smtp.noop()
    login = ", login accepted" if target.username else ""
    return f"{describe(target)}: the server answers ({code}){login}"


@contextmanager
def _session(target: EmailTarget, where: str) -> Iterator[smtplib.SMTP]:
    """A session with the target's server (STARTTLS, login); its errors as DeliveryError."""
    password = target.read_password(f"{where}.password_file")
    register_secret(password)  # redacted from any log line that might quote it
    try:
        with smtplib.SMTP(
            target.smtp_host, target.smtp_port, timeout=target.timeout_seconds
        ) as smtp:
            if target.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if target.username is not None and password is not None:
                smtp.login(target.username, password)
            yield smtp
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"the SMTP server answered {exc.smtp_code}: {_text(exc.smtp_error)}"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"cannot reach {target.smtp_host}:{target.smtp_port}: {exc}") from None


def _send_mail(target: EmailTarget, notice: Notice, where: str) -> str:
    message = EmailMessage()
    message["Subject"] = notice.subject
    message["From"] = target.sender
    message["To"] = ", ".join(target.to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="timetrack-sync")
    message.set_content(notice.text)
    message.add_alternative(notice.html, subtype="html")
    with _session(target, where) as smtp:
        refused = smtp.send_message(message)
        code, answer = smtp.noop()
    if refused:
        raise DeliveryError(f"the SMTP server refused {', '.join(sorted(refused))}")
    return f"accepted by {target.smtp_host} ({code} {_text(answer)})"


def _post(target: WebhookTarget, notice: Notice, where: str) -> str:
    body = notice.body(target.format)
    headers = {"Content-Type": "application/json", "User-Agent": "timetrack-sync"}
    secret = target.read_secret(f"{where}.secret_file")
    register_secret(secret)
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    try:
        response = httpx.post(
            target.url, content=body, headers=headers, timeout=target.timeout_seconds
        )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"cannot reach {target.host}: {type(exc).__name__}") from None
    if not response.is_success:
        raise DeliveryError(f"{target.host} answered {response.status_code}: {response.text[:200]}")
    return f"{target.host} answered {response.status_code}"


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else answer
