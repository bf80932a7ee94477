"""The bad-input corpus (tests/data/bad/): each broken input gets its exact message and exit code.

One folder per case (see tests/data/bad/README.md); the CLI runs as a subprocess, as an admin
runs it, against one in-process emulator that is reset before each case. Whatever the input,
nothing may end in a traceback or hang, and a run that fails writes nothing to TimeTrack.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sync.timetrack.emulator import EmulatorOptions, EmulatorState, RunningEmulator, serve_in_thread
from tests.syncenv import API_KEY, API_SECRET, HEADER

CLI = str(Path(sys.executable).parent / "timetrack-sync")
CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad"
BASE = CORPUS / "_base"
DEFAULT_TIMEOUT = 60.0


@dataclass
class Case:
    """One folder of the corpus and what its expected.txt says."""

    name: str
    folder: Path
    exit_code: int
    modes: tuple[str, ...]
    messages: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    created: list[tuple[str, str]] = field(default_factory=list)
    chmod: list[tuple[str, int]] = field(default_factory=list)
    generate: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def load_case(folder: Path) -> Case:
    """Parse `key: value` lines ('#' starts a comment line); repeated keys accumulate."""
    case = Case(name=folder.name, folder=folder, exit_code=-1, modes=("dry-run",))
    for line in (folder / "expected.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition(": ")
        if key == "exit":
            case.exit_code = int(value)
        elif key == "modes":
            case.modes = tuple(value.split())
        elif key == "message":
            case.messages.append(value)
        elif key == "stderr":
            case.stderr.append(value)
        elif key == "created":
            name, _, wanted = value.partition("=")
            case.created.append((name, wanted))
        elif key == "chmod":
            path, mode = value.split()
            case.chmod.append((path, int(mode, 8)))
        elif key == "generate":
            case.generate = value
        elif key == "timeout":
            case.timeout = float(value)
        else:
            raise AssertionError(f"{folder}/expected.txt: unknown key {key!r}")
    assert case.exit_code >= 0, f"{folder}/expected.txt: no exit"
    assert case.messages or case.stderr, f"{folder}/expected.txt: no message"
    return case


CASES = [load_case(p) for p in sorted(CORPUS.iterdir()) if p.is_dir() and p.name != "_base"]


def _params() -> list[object]:
    return [
        pytest.param(case, mode, id=f"{case.name}-{mode}", marks=pytest.mark.timeout(case.timeout))
        for case in CASES
        for mode in case.modes
    ]


# --- inputs too big to commit, written at test time -------------------------------------------


def single_50mb_line(path: Path) -> None:
    """A header, then one 50 MB line without a newline (a binary dump or a lost line end)."""
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(HEADER) + "\n")
        chunk = "x" * 1_000_000
        for _ in range(50):
            out.write(chunk)


def field_over_1mib(path: Path) -> None:
    """One quoted 1.5 MiB field: under the 4 MiB line limit, over the 1 MiB field limit."""
    big = "y" * 1_572_864
    path.write_text(
        ",".join(HEADER) + f'\nE-1,"{big}",Lee,ann@example.com,engineer,active,en\n',
        encoding="utf-8",
    )


def junk_1m_rows(path: Path) -> None:
    """1,000,000 rows of the right width holding junk, every one skipped by the mapping.

    Nine in ten have a blank key (skipped at the first field); the tenth has a key and is
    mapped up to its empty last name.
    """
    rng = random.Random(6)
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(HEADER) + "\n")
        for n in range(1_000_000):
            key = f"{rng.getrandbits(40):x}" if n % 10 == 0 else " "
            out.write(f"{key},{rng.getrandbits(24):x},,junk-{n}@,?,??,\n")


GENERATORS: dict[str, Callable[[Path], None]] = {
    "single_50mb_line": single_50mb_line,
    "field_over_1mib": field_over_1mib,
    "junk_1m_rows": junk_1m_rows,
}


# --- running a case -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    state = EmulatorState(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    with serve_in_thread(state) as running:
        yield running


def prepare(case: Case, tmp: Path, emu: RunningEmulator) -> Path:
    """Copy the case (and _base for what it lacks) into tmp; return the config path."""
    for name in ("config.yaml", "people.csv"):
        own = case.folder / name
        shutil.copyfile(own if own.exists() else BASE / name, tmp / name)
    if case.generate:
        GENERATORS[case.generate](tmp / "people.csv")
    secret = tmp / "api_secret"
    secret.write_text(API_SECRET + "\n")
    secret.chmod(0o600)
    config = tmp / "config.yaml"
    text = config.read_bytes()
    for mark, value in {
        "@URL@": emu.url,
        "@API_KEY@": API_KEY,
        "@API_SECRET@": API_SECRET,
        "@SECRET_FILE@": str(secret),
        "@STATE_DB@": str(tmp / "state.db"),
    }.items():
        text = text.replace(mark.encode(), value.encode())
    config.write_bytes(text)
    config.chmod(0o600)
    for name, mode in case.chmod:
        (tmp / name).chmod(mode)
    return config


def run_cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIMETRACK")}
    environ["NO_COLOR"] = "1"
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize(("case", "mode"), _params())
def test_bad_input_is_refused_with_its_message(
    case: Case, mode: str, tmp_path: Path, emu: RunningEmulator
) -> None:
    emu.state.reset(EmulatorOptions(api_key=API_KEY, api_secret=API_SECRET))
    config = prepare(case, tmp_path, emu)
    args = ["--config", str(config), "sync", *(["--dry-run"] if mode == "dry-run" else [])]
    result = run_cli(*args, timeout=case.timeout)
    output = result.stdout + result.stderr
    context = f"{case.name} ({mode}):\n{output[-4000:]}"
    assert "Traceback" not in result.stderr, context
    assert "internal error" not in output, context
    assert result.returncode == case.exit_code, context
    for message in case.messages:
        assert message in output, f"missing {message!r} in {context}"
    for message in case.stderr:
        assert message in result.stderr, f"missing {message!r} in stderr of {context}"
    if mode == "dry-run" or case.exit_code != 0:
        assert emu.state.writes == [], context
    if mode == "sync":
        users = emu.state.users()
        for name, wanted in case.created:
            assert any(u.get(name) == wanted for u in users), (name, wanted, users)


def test_corpus_has_every_kind_of_case() -> None:
    kinds = {case.name.split("-")[0] for case in CASES}
    assert kinds == {"csv", "config", "mapping"}
    assert len(CASES) >= 25
    assert all(case.exit_code in (0, 1, 2, 3) for case in CASES)
