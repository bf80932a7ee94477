"""Review and approve: `plan --out FILE` saves a dry run, `apply FILE` makes it, `explain WHO`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sync.cli import app, errors_explained, load, make_console
from sync.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from sync.config import AppConfig, JobConfig
    from sync.report import RunReport


def _output_format(output: str) -> None:
    if output not in ("text", "json"):
        raise UsageError(f"--output must be text or json, not {output!r}")


def _one_job(config: AppConfig, name: str | None) -> JobConfig:
    """The job a plan is for: --job, or the config's only one."""
    if name is not None:
        return config.job(name)
    if len(config.jobs) > 1:
        names = ", ".join(job.name for job in config.jobs)
        raise UsageError(
            f"the config has {len(config.jobs)} jobs ({names}); a plan is for one",
            hint="add --job NAME",
        )
    return config.jobs[0]


def _print(reports: list[RunReport], output: str) -> None:
    from sync.output import print_json, print_text

    out = make_console()
    if output == "json":
        print_json(reports, out)
    else:
        for report in reports:
            print_text(report, out)


@app.command()
def plan(
    out: Annotated[Path, typer.Option("--out", help="write the plan to this file")],
    job: Annotated[str | None, typer.Option(help="the job (when the config has several)")] = None,
    output: Annotated[str, typer.Option(help="text|json")] = "text",
) -> None:
    """Preview a run and save it: `apply FILE` makes exactly these changes, once."""
    with errors_explained():
        from sync.engine import run_jobs
        from sync.guards import held_by_delete_guards
        from sync.model import Plan
        from sync.plans.document import write_plan
        from sync.report import RunOptions

        _output_format(output)
        config = load()
        [report] = run_jobs(config, [_one_job(config, job)], RunOptions(True, save_plan=True))
        _print([report], output)
        notice = make_console(stderr=output == "json", soft_wrap=True)
        if report.saved_plan is not None:
            write_plan(report.saved_plan, out)
            count = len(report.saved_plan.operations)
            approve = " --allow-mass-delete" if held_by_delete_guards(report.plan or Plan()) else ""
            notice.print(
                f"Plan {report.saved_plan.plan_id} saved to {out} ({count} operations). Review"
                f" it, then: timetrack-sync apply {out}{approve}",
                highlight=False,
            )
        elif report.error is None:
            notice.print("No plan saved: a guard blocks every change of this run.")
        raise typer.Exit(report.exit_code)


@app.command("apply")
def apply_plan(
    file: Annotated[Path, typer.Argument(help="a plan written by `timetrack-sync plan --out`")],
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete", help="approve the plan's locks and deletes over limits"
        ),
    ] = False,
    output: Annotated[str, typer.Option(help="text|json")] = "text",
) -> None:
    """Apply exactly a saved plan, once, if TimeTrack still looks as it was planned on."""
    with errors_explained():
        from sync.engine import run_jobs
        from sync.output import progress_bars
        from sync.plans.document import read_plan
        from sync.report import RunOptions

        _output_format(output)
        saved = read_plan(file)
        config = load()
        options = RunOptions(allow_mass_delete=allow_mass_delete)
        progress = progress_bars(make_console() if output == "text" else None)
        reports = run_jobs(config, [config.job(saved.job)], options, progress=progress, saved=saved)
        _print(reports, output)
        raise typer.Exit(ExitCode.most_severe(r.exit_code for r in reports))


@app.command()
def explain(
    who: Annotated[str, typer.Argument(help="a match key, a username or an email")],
    job: Annotated[str | None, typer.Option(help="the job (when the config has several)")] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="use the stored snapshot, not TimeTrack")
    ] = False,
    output: Annotated[str, typer.Option(help="text|json")] = "text",
) -> None:
    """Every step for one person: source, mapping, match, rule, guards, journal (read-only)."""
    with errors_explained():
        from sync.explain_output import print_explanation
        from sync.explain_read import explain_job

        _output_format(output)
        config = load()
        the_job = _one_job(config, job)
        explanation = explain_job(config, the_job, who, offline=offline)
        print_explanation(explanation, make_console(soft_wrap=True), output)
        if not explanation.found:
            raise UsageError(
                f"nothing matches {who!r}: no record of job {the_job.name}'s source and no"
                " TimeTrack user",
                hint=f"give a match key ({the_job.match_on}), a username or an email",
            )
