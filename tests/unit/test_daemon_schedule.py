"""How the daemon turns a job's schedule, interval, jitter and run_on_start into triggers."""

from __future__ import annotations

from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sync.config import AppConfig, load_config
from sync.daemon import job_schedule, schedules
from sync.errors import ConfigError

JOB = """\
  - name: {name}
{timing}    source: {{type: csv, path: people.csv}}
    mapping: {{username: "{{{{ u }}}}", firstName: "{{{{ f }}}}", lastName: "{{{{ l }}}}",
               email: "{{{{ e }}}}"}}
"""


def config(tmp_path: Path, *timings: str) -> AppConfig:
    jobs = "".join(
        JOB.format(name=f"job{i}", timing="".join(f"    {line}\n" for line in t.splitlines()))
        for i, t in enumerate(timings)
    )
    path = tmp_path / "config.yaml"
    path.write_text(
        "timetrack:\n  url: http://127.0.0.1:1/api/v2/ext\n  api_key: k\n  api_secret: s\n"
        f"jobs:\n{jobs}"
    )
    return load_config(path, env={})


def test_interval_job_runs_every_interval_and_at_start_by_default(tmp_path: Path) -> None:
    [job] = config(tmp_path, "interval: 15m").jobs
    found = job_schedule(job)
    assert found is not None
    assert isinstance(found.trigger, IntervalTrigger)
    assert found.period == 900
    assert found.run_on_start
    assert found.trigger.jitter is None


def test_cron_job_period_is_the_longest_gap_between_runs(tmp_path: Path) -> None:
    every_quarter, weekdays = config(
        tmp_path, 'schedule: "*/15 * * * *"', 'schedule: "0 9 * * 1-5"'
    ).jobs
    quarter = job_schedule(every_quarter)
    assert quarter is not None and isinstance(quarter.trigger, CronTrigger)
    assert quarter.period == 900
    weekday = job_schedule(weekdays)
    assert weekday is not None  # Friday to Monday; a DST change may add or take an hour
    assert abs(weekday.period - 3 * 86400) <= 3600


def test_jitter_and_run_on_start_come_from_the_job(tmp_path: Path) -> None:
    [job] = config(tmp_path, "interval: 1h\njitter_seconds: 30\nrun_on_start: false").jobs
    found = job_schedule(job)
    assert found is not None
    assert found.trigger.jitter == 30
    assert not found.run_on_start


def test_jobs_without_schedule_are_left_to_cron(tmp_path: Path) -> None:
    app = config(tmp_path, "interval: 30s", "")
    assert [s.job for s in schedules(app)] == ["job0"]
    assert job_schedule(app.jobs[1]) is None


def test_a_config_without_any_scheduled_job_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no job has a schedule or an interval"):
        schedules(config(tmp_path, ""))
