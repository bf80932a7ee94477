"""Typed outcomes: each run status knows its exit code, and several jobs give the worst one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sync.errors import ConfigError, ExitCode, GuardError, LockHeldError, SourceError, SyncError
from sync.report import RunReport, RunStatus


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RunStatus.SUCCEEDED, ExitCode.OK),
        (RunStatus.PARTIAL, ExitCode.FAILED),
        (RunStatus.FAILED, ExitCode.FAILED),
        (RunStatus.GUARDED, ExitCode.GUARDED),
    ],
)
def test_each_final_status_gives_its_documented_exit_code(
    status: RunStatus, code: ExitCode
) -> None:
    report = RunReport(job="hr", run_id=1, dry_run=False)
    report.end(status)
    assert (report.status, report.exit_code, int(report.exit_code)) == (status, code, code.value)


def test_only_failed_and_partial_runs_count_as_failures() -> None:
    assert {s for s in RunStatus if s.is_failure} == {RunStatus.FAILED, RunStatus.PARTIAL}


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (GuardError("source shrank"), RunStatus.GUARDED, 3),
        (ConfigError("bad key"), RunStatus.FAILED, 2),
        (SourceError("file gone"), RunStatus.FAILED, 1),
        (LockHeldError("held"), RunStatus.FAILED, 1),
    ],
)
def test_a_run_ended_by_an_error_takes_the_error_exit_code(
    error: SyncError, status: RunStatus, code: int
) -> None:
    report = RunReport(job="hr", run_id=1, dry_run=True)
    report.end_with_error(error)
    assert (report.status, report.exit_code, report.error) == (status, code, error)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], ExitCode.OK),
        ([ExitCode.OK, ExitCode.CHANGES], ExitCode.CHANGES),
        ([ExitCode.CHANGES, ExitCode.GUARDED], ExitCode.GUARDED),
        ([ExitCode.GUARDED, ExitCode.FAILED, ExitCode.OK], ExitCode.FAILED),
        ([ExitCode.FAILED, ExitCode.USAGE, ExitCode.GUARDED], ExitCode.USAGE),
    ],
)
def test_several_jobs_exit_with_the_most_severe_code(
    codes: list[ExitCode], expected: ExitCode
) -> None:
    assert ExitCode.most_severe(codes) is expected


def test_statuses_are_stored_and_shown_as_their_plain_names() -> None:
    assert [str(s) for s in RunStatus] == ["running", "succeeded", "partial", "failed", "guarded"]
    assert f"exit {ExitCode.GUARDED}" == "exit 3"


def test_output_and_metrics_read_reports_without_importing_the_engine() -> None:
    code = (
        "import sys, sync.output, sync.metrics, sync.report\n"
        "heavy = [m for m in ('sync.engine', 'sync.executor', 'httpx') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
