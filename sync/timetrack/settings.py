"""How to reach TimeTrack: a plain value, importable without the HTTP client behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ClientSettings:
    """Where TimeTrack is and how to talk to it; the secret never shows in the repr."""

    url: str
    api_key: str
    api_secret: str = field(repr=False)
    timeout_seconds: float = 30.0
    concurrency: int = 8
    # "auto": adapt to TimeTrack's answers (below max_requests_per_second, if set); a number:
    # adapt below that hard ceiling; 0: no pace of our own.
    requests_per_second: float | Literal["auto"] = "auto"
    max_requests_per_second: float | None = None
    max_retries: int = 6
    max_retry_seconds: float = 120.0
    retry_after_cap_seconds: float = 60.0
    ca_file: str | None = None
    tls_verify: bool = True
    personal_number_as_number: bool = False
