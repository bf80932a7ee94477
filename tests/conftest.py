"""Shared test setup: Hypothesis profiles and the rule that missing services fail loudly in CI."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=150, deadline=None)
settings.register_profile(
    "soak",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def require_service(available: bool, what: str) -> None:
    """Skip a test whose service is missing on a laptop; fail it loudly in CI (CI is set)."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not available in CI; make test must provide it", pytrace=False)
    pytest.skip(f"{what} is not available")
