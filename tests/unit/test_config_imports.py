"""The config stays light: it never pulls in the TimeTrack client or its HTTP stack."""

from __future__ import annotations

import subprocess
import sys

NOT_LOADED = "assert 'httpx' not in sys.modules and 'sync.timetrack.client' not in sys.modules"


def run_python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_importing_the_config_does_not_import_the_client_or_httpx() -> None:
    run_python(f"import sync.config, sys; {NOT_LOADED}")


def test_client_settings_come_without_importing_the_client() -> None:
    run_python(
        "import sys\n"
        "from sync.config import TimeTrackConfig\n"
        "config = TimeTrackConfig(url='https://tt.example.com', api_key='k', api_secret='s')\n"
        "assert config.client_settings().api_secret == 's'\n"
        f"{NOT_LOADED}\n"
    )
