"""Logging: JSON lines off a terminal, and no secret in any event, by key or by value."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from sync import logging as sync_logging
from sync.logging import REDACTED, configure_logging, register_secret

SECRET = "s3cr3t-TEST-value-0xDEADBEEF"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """Logging configured as JSON into a buffer; the previous configuration restored after."""
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_secrets = set(sync_logging._known_secrets)
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream
    structlog.configure(**saved_structlog)
    root.handlers[:], root.level = saved_handlers, saved_level
    sync_logging._known_secrets.clear()
    sync_logging._known_secrets.update(saved_secrets)


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_event_level_logger_timestamp_and_fields(out: io.StringIO) -> None:
    structlog.get_logger("sync.test").info("sync_finished", created=3, status="succeeded")
    [event] = events(out)
    assert event["event"] == "sync_finished"
    assert event["level"] == "info"
    assert event["logger"] == "sync.test"
    assert event["timestamp"].endswith("Z")
    assert (event["created"], event["status"]) == (3, "succeeded")


def test_bound_run_id_and_job_appear_on_every_event_of_the_run(out: io.StringIO) -> None:
    log = structlog.get_logger("sync.test")
    with structlog.contextvars.bound_contextvars(run_id=7, job="hr"):
        log.info("sync_started")
        logging.getLogger("httpx").warning("HTTP Request: GET /users")
    log.info("daemon_idle")
    first, second, third = events(out)
    assert (first["run_id"], first["job"]) == (7, "hr")
    assert (second["run_id"], second["job"]) == (7, "hr")
    assert "run_id" not in third


def test_secret_keys_are_redacted_whatever_they_hold(out: io.StringIO) -> None:
    structlog.get_logger("sync.test").info(
        "settings", api_secret="abc", bind_password="pw", Authorization="Basic xyz", api_key="k"
    )
    [event] = events(out)
    for key in ("api_secret", "bind_password", "Authorization", "api_key"):
        assert event[key] == REDACTED
    assert "abc" not in out.getvalue() and "xyz" not in out.getvalue()


def test_secret_keys_are_redacted_in_nested_mappings_and_lists(out: io.StringIO) -> None:
    structlog.get_logger("sync.test").info(
        "request",
        headers={"X-Api-Key": "visible-key-name-only", "auth": {"password": "hunter2"}},
        attempts=[{"token": "t0k3n", "status": 200}],
    )
    [event] = events(out)
    assert event["headers"]["auth"]["password"] == REDACTED
    assert event["attempts"][0]["token"] == REDACTED
    assert event["attempts"][0]["status"] == 200
    assert "hunter2" not in out.getvalue() and "t0k3n" not in out.getvalue()


def test_registered_secret_values_are_redacted_anywhere(out: io.StringIO) -> None:
    register_secret(SECRET)
    log = structlog.get_logger("sync.test")
    log.error("api_failed", error=f"401 for secret {SECRET}", detail={"body": [f"x{SECRET}y"]})
    log.info(f"message with {SECRET} in it")
    text = out.getvalue()
    assert SECRET not in text
    first, second = events(out)
    assert first["error"] == f"401 for secret {REDACTED}"
    assert first["detail"]["body"] == [f"x{REDACTED}y"]
    assert second["event"] == f"message with {REDACTED} in it"


def test_stdlib_loggers_are_routed_through_redaction_as_json(out: io.StringIO) -> None:
    register_secret(SECRET)
    logging.getLogger("httpx").warning("retrying https://api/?secret=%s", SECRET)
    logging.getLogger("apscheduler.scheduler").warning("job %s missed", "hr")
    httpx_event, scheduler_event = events(out)
    assert httpx_event["logger"] == "httpx"
    assert httpx_event["event"] == f"retrying https://api/?secret={REDACTED}"
    assert scheduler_event["event"] == "job hr missed"


def test_noisy_libraries_log_only_warnings(out: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: GET /users 200")
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("tzlocal").debug("/etc/localtime found")
    assert out.getvalue() == ""


def test_auto_format_is_json_off_a_terminal_and_console_on_request() -> None:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        auto = io.StringIO()
        configure_logging("info", "auto", stream=auto)
        structlog.get_logger("t").info("hello", n=1)
        assert json.loads(auto.getvalue())["event"] == "hello"
        console = io.StringIO()
        configure_logging("info", "console", stream=console)
        structlog.get_logger("t").info("hello", n=1)
        text = console.getvalue()
        assert "hello" in text and "n=1" in text
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
    finally:
        structlog.configure(**saved)
        root.handlers[:], root.level = handlers, level
