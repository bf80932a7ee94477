"""The client loads trusted CAs for HTTPS only: plain HTTP makes no TLS connection to verify."""

from __future__ import annotations

import ssl
from typing import Any

import certifi
import pytest

from sync.timetrack.client import ClientSettings, TimeTrackClient


@pytest.fixture
def ca_loads(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The cafile of every verifying SSL context built (httpx builds its default one so)."""
    loads: list[str | None] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        loads.append(kwargs.get("cafile"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    return loads


def build(url: str, **overrides: Any) -> None:
    """Construct (and close) a real client: no transport given, no request sent."""
    TimeTrackClient(ClientSettings(url=url, api_key="k", api_secret="s", **overrides)).close()


def test_an_https_url_loads_the_trusted_cas(ca_loads: list[str | None]) -> None:
    build("https://tt.example.com/api/v2/ext")
    assert len(ca_loads) == 1


def test_an_https_url_with_a_ca_file_loads_that_file(ca_loads: list[str | None]) -> None:
    build("https://tt.example.com/api/v2/ext", ca_file=certifi.where())
    assert ca_loads == [certifi.where()]


@pytest.mark.parametrize("ca_file", [None, certifi.where()])
def test_an_http_url_loads_no_ca(ca_loads: list[str | None], ca_file: str | None) -> None:
    build("http://127.0.0.1:8787/api/v2/ext", ca_file=ca_file)
    assert ca_loads == []
