"""`timetrack-sync emulator` as an admin starts it: every switch settable with `--set`."""

from __future__ import annotations

import re
import signal
import subprocess

import httpx

from tests.e2e.test_cli import CLI, cli


def test_any_switch_can_be_set_from_the_command_line() -> None:
    proc = subprocess.Popen(
        [
            CLI,
            "emulator",
            "--port",
            "0",
            "--seed-users",
            "3",
            "--api-secret",
            "s3cret-value",
            "--set",
            "list_shape=data",
            "--set",
            "list-total=total",
            "--set",
            "ignore_paging=true",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+\S*)", banner)
        assert found, banner
        headers = {"X-TimeTrack-Api-Key": "demo-key", "X-TimeTrack-Api-Secret": "s3cret-value"}
        page = {"limit": 2, "page_number": 1}
        listed = httpx.get(f"{found.group(1)}/users", params=page, headers=headers).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    # Wrapped, with a total, and page 1 answered as page 0 (a server that ignores paging).
    assert listed["total"] == 3 and [u["id"] for u in listed["data"]] == [1, 2]


def test_an_unknown_or_malformed_switch_is_a_usage_error() -> None:
    unknown = cli(None, "emulator", "--port", "0", "--set", "list_shap=data")
    assert unknown.returncode == 2
    assert "give NAME=VALUE with NAME one of" in unknown.stderr and "list_shape" in unknown.stderr
    wrong = cli(None, "emulator", "--port", "0", "--set", "ignore_paging=maybe")
    assert wrong.returncode == 2 and "ignore_paging: must be true or false" in wrong.stderr
    invalid = cli(None, "emulator", "--port", "0", "--set", "list_total=total")
    assert invalid.returncode == 2 and "needs a wrapped list_shape" in invalid.stderr
