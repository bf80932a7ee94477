"""Directory.search against a scripted ldap3 connection: every way a read can end short."""

from __future__ import annotations

from typing import Any

import pytest

from sync.errors import SourceError
from sync.sources.ldap_conn import (
    PAGED_RESULTS_OID,
    ConnectSettings,
    Directory,
    LdapSearchError,
    SearchRequest,
)

URL = "ldap://dc1.test"
REQUEST = SearchRequest("dc=test", "(objectClass=person)", "subtree", ("uid",), 2)


def entry(n: int) -> dict[str, Any]:
    return {"type": "searchResEntry", "dn": f"uid=u{n},dc=test", "raw_attributes": {}}


def page(
    entries: list[dict[str, Any]], cookie: bytes | None, code: int = 0, control: bool = True
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    result: dict[str, Any] = {"result": code, "description": {0: "success"}.get(code, "bad")}
    if control:
        result["controls"] = {PAGED_RESULTS_OID: {"value": {"size": 0, "cookie": cookie or b""}}}
    return entries, result


class ScriptedConnection:
    """Answers successive searches with scripted (response, result) pages."""

    def __init__(self, *pages: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
        self.pages = list(pages)
        self.cookies: list[bytes | None] = []
        self.response: list[dict[str, Any]] = []
        self.result: dict[str, Any] = {}

    def search(self, **kwargs: Any) -> bool:
        self.cookies.append(kwargs["paged_cookie"])
        assert kwargs["paged_criticality"] is True
        self.response, self.result = self.pages.pop(0)
        return True

    def unbind(self) -> None:
        pass


def directory(conn: ScriptedConnection) -> Directory:
    return Directory(conn, URL, ConnectSettings(urls=(URL,)))


def test_pages_are_followed_with_the_servers_cookie_until_it_is_empty() -> None:
    conn = ScriptedConnection(
        page([entry(1), entry(2)], b"c1"), page([entry(3), entry(4)], b"c2"), page([entry(5)], None)
    )
    got = [e.dn for e in directory(conn).search(REQUEST)]
    assert got == [f"uid=u{n},dc=test" for n in range(1, 6)]
    assert conn.cookies == [None, b"c1", b"c2"]


def test_size_limit_on_a_later_page_is_an_error_naming_the_progress() -> None:
    conn = ScriptedConnection(page([entry(1), entry(2)], b"c1"), page([entry(3)], None, code=4))
    with pytest.raises(LdapSearchError) as caught:
        list(directory(conn).search(REQUEST))
    assert caught.value.result_code == 4
    assert "after 2 entries (1 pages)" in str(caught.value)
    assert URL in str(caught.value)


def test_a_page_without_the_paging_control_is_an_error_not_the_last_page() -> None:
    conn = ScriptedConnection(
        page([entry(1), entry(2)], b"c1"), page([entry(3)], None, control=False)
    )
    with pytest.raises(SourceError, match="without the paging control"):
        list(directory(conn).search(REQUEST))


def test_a_referral_result_is_an_error() -> None:
    conn = ScriptedConnection(page([], None, code=10))
    with pytest.raises(SourceError, match="referral"):
        list(directory(conn).search(REQUEST))


def test_a_continuation_reference_to_another_server_is_an_error() -> None:
    ref = {"type": "searchResRef", "uri": ["ldap://other.test/ou=emea,dc=test??sub"]}
    conn = ScriptedConnection(page([entry(1), ref], None))
    with pytest.raises(SourceError, match="held by another server"):
        list(directory(conn).search(REQUEST))


def test_references_to_ads_dns_and_configuration_partitions_are_ignored() -> None:
    refs = [
        {
            "type": "searchResRef",
            "uri": ["ldap://ForestDnsZones.corp.test/DC=ForestDnsZones,DC=corp"],
        },
        {
            "type": "searchResRef",
            "uri": ["ldap://DomainDnsZones.corp.test/DC=DomainDnsZones,DC=corp"],
        },
        {"type": "searchResRef", "uri": ["ldap://corp.test/CN=Configuration,DC=corp"]},
    ]
    conn = ScriptedConnection(page([entry(1), *refs], None))
    assert [e.dn for e in directory(conn).search(REQUEST)] == ["uid=u1,dc=test"]


def test_hook_sees_every_page() -> None:
    conn = ScriptedConnection(page([entry(1), entry(2)], b"c1"), page([entry(3)], None))
    seen: list[tuple[int, int]] = []
    list(directory(conn).search(REQUEST, on_page=lambda p, n: seen.append((p, n))))
    assert seen == [(1, 2), (2, 3)]
