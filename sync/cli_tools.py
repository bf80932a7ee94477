"""The tools' commands: the TimeTrack emulator, the end-to-end demo, `notify test`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sync.cli import G, app, command_started, errors_explained, load, make_console
from sync.errors import ExitCode, UsageError


@app.command()
def emulator(
    port: Annotated[int, typer.Option(help="port (0: a free one)")] = 8787,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    bind_public: Annotated[
        bool, typer.Option("--bind-public", help="allow a non-loopback address")
    ] = False,
    api_key: Annotated[str, typer.Option(help="API key to accept")] = "demo-key",
    api_secret: Annotated[
        str, typer.Option(help="API secret to accept", envvar="TIMETRACK_EMULATOR_SECRET")
    ] = "demo-secret",
    seed_users: Annotated[int, typer.Option(help="start with N generated users")] = 0,
    seed_file: Annotated[Path | None, typer.Option(help="start with users from JSON/CSV")] = None,
    latency_ms: Annotated[float, typer.Option(help="added latency per request")] = 0.0,
    jitter_ms: Annotated[float, typer.Option(help="random extra latency up to this")] = 0.0,
    fail_rate: Annotated[float, typer.Option(help="share of requests answered 5xx")] = 0.0,
    fail_after_write_rate: Annotated[
        float, typer.Option(help="share of writes applied, then answered 500")
    ] = 0.0,
    rate_limit_rate: Annotated[float, typer.Option(help="share answered 429")] = 0.0,
    rate_limit_per_second: Annotated[float, typer.Option(help="server limit, req/s")] = 0.0,
    rate_limit_burst: Annotated[int, typer.Option(help="burst of the server-side limit")] = 10,
    drop_rate: Annotated[float, typer.Option(help="share of connections dropped")] = 0.0,
    list_shape: Annotated[str, typer.Option(help="bare|data|users|items|results")] = "bare",
    bool_style: Annotated[str, typer.Option(help="json|int|string")] = "json",
    delete_mode: Annotated[str, typer.Option(help="hard|soft")] = "hard",
    delete_refused_status: Annotated[
        int, typer.Option(help="400|409|422: refusing to delete a user with time entries")
    ] = 400,
    seed_time_entries_share: Annotated[
        float, typer.Option(help="share of generated users with recorded time entries")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed for faults and data")] = 0,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="any other switch, NAME=VALUE (repeatable): list_total=total"),
    ] = None,
) -> None:
    """Serve the bundled TimeTrack emulator (loopback only unless --bind-public)."""
    with errors_explained():
        from sync.logging import configure_logging
        from sync.timetrack.emulator import EmulatorOptions, run_emulator_cli
        from sync.timetrack.emulator.options import parse_setting

        configure_logging(G.log_level or "info", G.log_format or "auto")
        options = EmulatorOptions(
            api_key=api_key,
            api_secret=api_secret,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            fail_rate=fail_rate,
            fail_after_write_rate=fail_after_write_rate,
            rate_limit_rate=rate_limit_rate,
            rate_limit_per_second=rate_limit_per_second,
            rate_limit_burst=rate_limit_burst,
            drop_rate=drop_rate,
            list_shape=list_shape,
            bool_style=bool_style,
            delete_mode=delete_mode,
            delete_refused_status=delete_refused_status,
            seed_time_entries_share=seed_time_entries_share,
            seed=seed,
        )
        try:
            options.validate()
            for text in settings or ():
                options.change(**dict([parse_setting(text)]))
        except ValueError as exc:
            raise UsageError(f"emulator option {exc}") from None
        command_started()
        try:
            run_emulator_cli(
                options,
                host=host,
                port=port,
                seed_users=seed_users,
                seed_file=seed_file,
                allow_public=bind_public,
            )
        except ValueError as exc:
            raise UsageError(str(exc), hint="use 127.0.0.1, or pass --bind-public") from None
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint="choose another port with --port (0 picks a free one)",
            ) from None


@app.command()
def demo(
    keep: Annotated[Path | None, typer.Option(help="keep the demo state DB in this folder")] = None,
) -> None:
    """The whole job end to end on embedded defaults: sample CSV, emulator, temp SQLite."""
    with errors_explained():
        from sync.demo import run_demo
        from sync.logging import configure_logging

        configure_logging(G.log_level or "warning", G.log_format or "auto")
        command_started()
        raise typer.Exit(run_demo(make_console(), keep=keep))


notify_app = typer.Typer(no_args_is_help=True, help="Email and webhook notifications.")
app.add_typer(notify_app, name="notify")


@notify_app.command("test")
def notify_test(
    target: Annotated[int | None, typer.Option(help="only notify[N] (0 is the first)")] = None,
) -> None:
    """Send a test notice to each target and show what its server answered."""
    with errors_explained():
        from sync.notify.deliver import DeliveryError, deliver, describe
        from sync.notify.messages import test_notice

        config = load()
        targets = list(enumerate(config.notify))
        if target is not None:
            targets = [(n, t) for n, t in targets if n == target]
        if not targets:
            raise UsageError(
                "no notification target to test"
                + (f": the config has no notify[{target}]" if target is not None else ""),
                hint="add targets under `notify:` (see config.example.yaml)",
            )
        out = make_console(soft_wrap=True)
        failed = 0
        for index, chosen in targets:
            name = describe(chosen)
            try:
                answer = deliver(chosen, test_notice(name), f"notify[{index}]")
            except DeliveryError as exc:
                failed += 1
                out.print(f"notify[{index}] {name}: FAILED: {exc}", highlight=False, markup=False)
            else:
                out.print(f"notify[{index}] {name}: sent; {answer}", highlight=False, markup=False)
        raise typer.Exit(ExitCode.FAILED if failed else ExitCode.OK)
