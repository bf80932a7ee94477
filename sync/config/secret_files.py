"""Secrets in the config: `*_file` keys read when used, and literal secrets in a readable file."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from sync.errors import ConfigError

log = structlog.get_logger(__name__)

# Keys whose values never appear in a problem report.
SECRET_KEYS = frozenset({"api_key", "api_secret", "bind_password"})


def exposed(mode: int, gid: int, own_groups: set[int]) -> bool:
    """Whether a secret file's mode lets anyone but this service read it.

    Readable by others, or by a group this process is not in. A group of its own is fine:
    Kubernetes mounts Secrets group-readable for the pod's `fsGroup`.
    """
    bits = stat.S_IMODE(mode)
    return bool(bits & 0o007) or (bool(bits & 0o070) and gid not in own_groups)


def read_secret_file(path: Path, key: str) -> str:
    """A secret from a file, read now (admins rotate them); the trailing newline stripped."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{key}: cannot read secret file {path}: {exc.strerror or type(exc).__name__}",
            hint="check that the file exists and the service user may read it "
            "(systemd: LoadCredential=)",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: secret file {path} is not UTF-8 text") from None
    if exposed(info.st_mode, info.st_gid, {os.getgid(), *os.getgroups()}):
        log.warning(
            "secret_file_permissions",
            key=key,
            path=str(path),
            mode=oct(stat.S_IMODE(info.st_mode)),
            hint=f"chmod 600 {path}",
        )
    secret = text.rstrip("\r\n")
    if not secret:
        raise ConfigError(f"{key}: secret file {path} is empty")
    return secret


def warn_literal_secrets(path: Path, data: Mapping[str, Any]) -> None:
    """Warn when a world-readable config file holds a secret written into it literally."""
    try:
        if not stat.S_IMODE(path.stat().st_mode) & 0o004:
            return
    except OSError:
        return
    keys = [("timetrack.api_secret", (data.get("timetrack") or {}).get("api_secret"))]
    for index, job in enumerate(data.get("jobs") or []):
        source = job.get("source") if isinstance(job, dict) else None
        if isinstance(source, dict):
            keys.append((f"jobs[{index}].source.bind_password", source.get("bind_password")))
    for key, value in keys:
        if isinstance(value, str) and "${" not in value:
            log.warning(
                "config_literal_secret_world_readable",
                path=str(path),
                key=key,
                hint=f"chmod 600 {path}, or use ${{VAR}} or a *_file key",
            )
