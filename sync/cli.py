"""The command line: wiring and output only; the judgement lives in planner and guards.

Each command imports what it needs when it runs: `--version` and `--help` load no config
models, database, HTTP, template or logging library (tests/unit/test_startup.py).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from sync import __version__
from sync.errors import ExitCode, SyncError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from sync.config import AppConfig
    from sync.offboarding import QueueEntry
    from sync.state.store import StateStore

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Keeps TimeTrack users in step with an HR CSV export or an LDAP directory.",
)
db_app = typer.Typer(no_args_is_help=True, help="State database maintenance.")
app.add_typer(db_app, name="db")


class _Globals:
    config_path: str | None = None
    log_level: str | None = None
    log_format: str | None = None
    debug: bool = False


G = _Globals()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"timetrack-sync {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="config file (else $TIMETRACK_SYNC_CONFIG, "
            "./config.yaml, /etc/timetrack-sync/config.yaml)",
        ),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug|info|warning|error")] = None,
    log_format: Annotated[str | None, typer.Option(help="json|console|auto")] = None,
    debug: Annotated[bool, typer.Option(help="show tracebacks")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print version")
    ] = False,
) -> None:
    """Global options (give them before the subcommand)."""
    G.config_path, G.log_level, G.log_format, G.debug = config, log_level, log_format, debug


def fail(exc: BaseException) -> NoReturn:
    """Turn an error into a message with its cause, place and fix, and the documented exit code."""
    # soft_wrap: off a terminal Rich would break lines at 80 columns, splitting a message
    # (and the key path or file name in it) across lines of a log or a cron mail.
    err = make_console(stderr=True, soft_wrap=True)
    if G.debug:
        err.print(traceback.format_exc(), highlight=False, markup=False)
    if isinstance(exc, SyncError):
        err.print(f"error: {exc}", highlight=False, markup=False)
        raise typer.Exit(exc.exit_code)
    err.print(
        f"internal error: {type(exc).__name__}: {exc}\n  hint: run again with --debug and "
        "report the traceback",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(ExitCode.FAILED)


def make_console(*, stderr: bool = False, soft_wrap: bool = False) -> Console:
    """A Rich console for a command's output."""
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=soft_wrap)


@contextmanager
def errors_explained() -> Iterator[None]:
    """Every command's body runs inside this: errors become messages and exit codes."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # the one place that turns any error into a message
        fail(exc)


def load(setup_logging: bool = True) -> AppConfig:
    """Find, load and validate the config; set up logging from it and the global flags."""
    from sync.config import load_config, resolve_config_path
    from sync.logging import configure_logging

    path = resolve_config_path(G.config_path, os.environ)
    if setup_logging:
        configure_logging(G.log_level or "warning", G.log_format or "auto")
    config = load_config(path)
    if setup_logging:
        configure_logging(
            G.log_level or config.logging.level, G.log_format or config.logging.format
        )
    command_started()
    return config


def command_started() -> None:
    """The command is set up: keep what start-up built out of the collector's way, resume it."""
    if not gc.isenabled():  # only the first time: later calls (a daemon's reload) change nothing
        gc.freeze()
        gc.enable()


@app.command()
def sync(
    job: Annotated[str | None, typer.Option(help="run only this job")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="plan, write nothing")] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="with --dry-run: plan on the stored snapshot")
    ] = False,
    output: Annotated[str, typer.Option(help="text|json")] = "text",
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="exit 4 when a dry run finds changes")
    ] = False,
    allow_mass_delete: Annotated[
        bool, typer.Option("--allow-mass-delete", help="lift max_deletes/max_delete_percent")
    ] = False,
    only: Annotated[
        str | None,
        typer.Option(help="only these people: match keys, usernames or emails, comma-separated"),
    ] = None,
) -> None:
    """Run each job (or --job) once."""
    with errors_explained():
        from sync.engine import run_jobs
        from sync.output import print_json, print_text, progress_bars
        from sync.report import RunOptions

        if output not in ("text", "json"):
            raise UsageError(f"--output must be text or json, not {output!r}")
        config = load()
        jobs = [config.job(job)] if job else list(config.jobs)
        people = tuple(who.strip() for who in (only or "").split(",") if who.strip())
        if only is not None and (not people or len(jobs) > 1):
            raise UsageError(
                "--only needs people (comma-separated) and one job",
                hint="e.g. --job hr --only jdoe,e-1001",
            )
        options = RunOptions(dry_run, offline, allow_mass_delete, detailed_exitcode, only=people)
        out = make_console()
        progress = progress_bars(out if output == "text" else None)
        reports = run_jobs(config, jobs, options, progress=progress)
        if output == "json":
            print_json(reports, out)
        else:
            for report in reports:
                print_text(report, out)
        raise typer.Exit(ExitCode.most_severe(r.exit_code for r in reports))


@app.command()
def status(
    job: Annotated[str | None, typer.Option(help="only this job")] = None,
    limit: Annotated[int, typer.Option(help="how many runs")] = 20,
    output: Annotated[str, typer.Option(help="text|json")] = "text",
) -> None:
    """Recent runs: when, how long, what they did, and how they ended."""
    with errors_explained():
        from sync.output import print_runs, status_document
        from sync.runtime import open_store

        if output not in ("text", "json"):
            raise UsageError(f"--output must be text or json, not {output!r}")
        config = load()
        with open_store(config) as store:
            runs = store.recent_runs(job=job, limit=limit)
            queues = _offboarding_queues(store, config, job)
        if output == "json":
            sys.stdout.write(json.dumps(status_document(runs, queues), indent=2) + "\n")
            return
        console = make_console()
        print_runs(runs, console)
        if any(queues.values()):
            counts = ", ".join(f"{name} {len(queue)}" for name, queue in queues.items())
            console.print(f"Offboarding queue: {counts} (timetrack-sync offboarding lists them)")


@app.command()
def offboarding(
    job: Annotated[str | None, typer.Option(help="only this job")] = None,
    output: Annotated[str, typer.Option(help="text|json|csv")] = "text",
) -> None:
    """Leavers still enabled in TimeTrack, for its admin to deactivate (as of the last run)."""
    with errors_explained():
        if output not in ("text", "json", "csv"):
            raise UsageError(f"--output must be text, json or csv, not {output!r}")
        from sync.output import print_queue
        from sync.runtime import open_store

        config = load()
        with open_store(config) as store:
            queues = _offboarding_queues(store, config, job)
        print_queue(queues, make_console(soft_wrap=True), output)


def _offboarding_queues(
    store: StateStore, config: AppConfig, job: str | None
) -> dict[str, list[QueueEntry]]:
    """Each job's offboarding queue (or the one job's), as of the stored snapshot."""
    jobs = [config.job(job)] if job else list(config.jobs)
    now = datetime.now(UTC)
    return {j.name: store.offboarding_queue(j.name, j.policy.to_policy(), now) for j in jobs}


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    units = {"m": 60, "h": 3600, "d": 86400}
    if value[:-1].isdigit() and value[-1] in units:
        return datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is neither an ISO date/time nor an age like 30m, 12h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def audit(
    user: Annotated[str | None, typer.Option(help="username")] = None,
    run: Annotated[int | None, typer.Option(help="run number")] = None,
    since: Annotated[str | None, typer.Option(help="ISO time or age: 30m, 12h, 7d")] = None,
    limit: Annotated[int, typer.Option(help="rows shown as text (csv, json: all)")] = 200,
    output: Annotated[str, typer.Option(help="text|csv|json")] = "text",
) -> None:
    """The journal: who changed which user, when, how, and with what outcome."""
    with errors_explained():
        from sync.output import print_journal
        from sync.runtime import open_store

        if output not in ("text", "csv", "json"):
            raise UsageError(f"--output must be text, csv or json, not {output!r}")
        config = load()
        after = _parse_since(since)
        with open_store(config) as store:
            if output != "text":
                from sync.export import write_audit

                rows = store.iter_operations(username=user, run_id=run, since=after)
                write_audit(rows, sys.stdout, output)
                return
            journal = store.operations(username=user, run_id=run, since=after, limit=limit)
        print_journal(journal, make_console())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the state database migrations."""
    with errors_explained():
        from sync.state.migrate import upgrade

        config = load()
        upgrade(config.state.url)
        make_console().print("State database is at the newest schema.")


@app.command()
def doctor() -> None:
    """Check the config, the state DB, each job's source and the API (read-only)."""
    with errors_explained():
        from sync.doctor import run_doctor

        config = load()
        raise typer.Exit(run_doctor(config, make_console(soft_wrap=True)))


@app.command()
def daemon() -> None:
    """Run each job on its schedule or interval until SIGTERM; SIGHUP reloads the config."""
    with errors_explained():
        from sync.daemon import run_daemon

        config = load()
        overrides = (G.log_level, G.log_format)
        raise typer.Exit(run_daemon(config, reload=lambda: load(False), log_overrides=overrides))


def main() -> None:
    """Console-script entry point."""
    # Start-up builds modules, classes and models: hundreds of thousands of objects that live
    # as long as the process. The collector's passes over them find nothing, and they took a
    # quarter of a no-op run. So it is off until the command is set up (`_started`), which
    # freezes them: the passes after that (the daemon's too) leave them out.
    gc.disable()
    try:
        app(prog_name="timetrack-sync")
    finally:
        gc.enable()


# The commands kept in their own modules register on `app` when imported.
from sync import cli_review, cli_tools  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
