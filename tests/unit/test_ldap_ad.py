"""Active Directory rules and LDAP record shaping, on values shaped like AD's (no server)."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from sync.config import LdapSourceConfig
from sync.errors import SourceError
from sync.sources import build_source
from sync.sources.ad import (
    account_expiry,
    escape_filter_value,
    format_guid,
    format_sid,
    in_chain_filter,
    is_disabled,
    uac_disabled,
)
from sync.sources.ldap import LdapSource, record_from_entry
from sync.sources.ldap_conn import ConnectSettings, Entry, PageHook, SearchRequest, ldapsearch_line
from sync.sources.ldap_groups import ad_members, normalize_dn, openldap_members

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ADMINS = "CN=TimeTrack-Admins,OU=Groups,DC=corp,DC=example,DC=com"


def filetime(moment: datetime) -> int:
    """100-ns intervals since 1601-01-01 UTC, computed independently of the code under test."""
    return (int(moment.timestamp()) + 11_644_473_600) * 10_000_000


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        ("512", False),  # NORMAL_ACCOUNT
        ("514", True),  # NORMAL_ACCOUNT | ACCOUNTDISABLE
        ("66048", False),  # NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
        ("66050", True),  # ... | ACCOUNTDISABLE
        (["546"], True),  # PASSWD_NOTREQD | ACCOUNTDISABLE, as a one-item list
        (None, False),
        ("", False),
    ],
)
def test_user_account_control_disable_bit(value: object, disabled: bool) -> None:
    assert uac_disabled(value) is disabled


def test_user_account_control_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(ValueError, match="userAccountControl"):
        uac_disabled("enabled")


@pytest.mark.parametrize("never", ["0", "9223372036854775807", None])
def test_account_expires_never(never: str | None) -> None:
    assert account_expiry(never) is None


def test_account_expires_converts_from_1601_filetime() -> None:
    assert account_expiry("116444736000000000") == datetime(1970, 1, 1, tzinfo=UTC)
    moment = datetime(2027, 3, 31, 22, 0, tzinfo=UTC)
    assert account_expiry(str(filetime(moment))) == moment


def test_expired_account_counts_as_disabled_and_future_expiry_does_not() -> None:
    past = str(filetime(NOW - timedelta(days=1)))
    future = str(filetime(NOW + timedelta(days=1)))
    assert is_disabled({"userAccountControl": "512", "accountExpires": past}, NOW)
    assert not is_disabled({"userAccountControl": "512", "accountExpires": future}, NOW)
    assert not is_disabled({"userAccountControl": "512", "accountExpires": "0"}, NOW)
    assert is_disabled({"useraccountcontrol": "514", "ACCOUNTEXPIRES": future}, NOW)


def test_object_guid_in_canonical_mixed_endian_form() -> None:
    raw = bytes.fromhex("103ce567cb9a4e4b8d7f2b01e6c2bd3f")
    assert format_guid(raw) == "67e53c10-9acb-4b4e-8d7f-2b01e6c2bd3f"
    with pytest.raises(ValueError, match="16 bytes"):
        format_guid(b"\x01\x02")


def test_object_sid_in_canonical_form() -> None:
    builtin_admins = bytes.fromhex("01020000000000052000000020020000")
    assert format_sid(builtin_admins) == "S-1-5-32-544"
    subs = (21, 1004336348, 1177238915, 682003330, 512)
    domain_admins = bytes([1, len(subs)]) + (5).to_bytes(6, "big") + struct.pack("<5I", *subs)
    assert format_sid(domain_admins) == "S-1-5-21-1004336348-1177238915-682003330-512"
    with pytest.raises(ValueError):
        format_sid(builtin_admins[:-1])


def test_in_chain_filter_for_a_group() -> None:
    assert in_chain_filter(ADMINS) == f"(memberOf:1.2.840.113556.1.4.1941:={ADMINS})"
    assert in_chain_filter(ADMINS, "(objectClass=user)") == (
        f"(&(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:={ADMINS}))"
    )


def test_in_chain_filter_escapes_filter_specials_in_the_dn() -> None:
    dn = r"CN=Doe\, Jane (Admins)*,DC=corp"
    assert escape_filter_value(dn) == r"CN=Doe\5c, Jane \28Admins\29\2a,DC=corp"
    assert in_chain_filter(dn).endswith(r":=CN=Doe\5c, Jane \28Admins\29\2a,DC=corp)")


def ad_entry(**overrides: list[bytes]) -> Entry:
    raw: dict[str, list[bytes]] = {
        "sAMAccountName": [b"jdoe"],
        "mail": [b"jane.doe@corp.example.com"],
        "employeeID": [b"4711"],
        "objectGUID": [bytes.fromhex("103ce567cb9a4e4b8d7f2b01e6c2bd3f")],
        "objectSid": [bytes.fromhex("01020000000000052000000020020000")],
        "userAccountControl": [b"512"],
        "accountExpires": [b"9223372036854775807"],
        "memberOf": [ADMINS.encode()],
    }
    raw.update(overrides)
    return Entry(dn="CN=Jane Doe,OU=Staff,DC=corp,DC=example,DC=com", raw=raw)


NAMES = ("sAMAccountName", "mail", "employeeID", "objectGUID", "objectSid", "memberOf")
AD_NAMES = (*NAMES, "userAccountControl", "accountExpires", "department", "proxyAddresses")


def test_ad_record_has_text_ids_lists_and_disabled() -> None:
    record = record_from_entry(
        ad_entry(), AD_NAMES, {"admins": True}, active_directory=True, now=NOW
    )
    assert record == {
        "sAMAccountName": "jdoe",
        "mail": "jane.doe@corp.example.com",
        "employeeID": "4711",
        "objectGUID": "67e53c10-9acb-4b4e-8d7f-2b01e6c2bd3f",
        "objectSid": "S-1-5-32-544",
        "memberOf": [ADMINS],  # a list by nature, even with one value
        "userAccountControl": "512",
        "accountExpires": "9223372036854775807",
        "department": None,  # absent
        "proxyAddresses": [],  # absent, list by nature
        "dn": "CN=Jane Doe,OU=Staff,DC=corp,DC=example,DC=com",
        "groups": {"admins": True},
        "disabled": False,
    }


def test_ad_record_of_a_disabled_or_expired_account() -> None:
    disabled = ad_entry(userAccountControl=[b"514"])
    expired = ad_entry(accountExpires=[str(filetime(NOW - timedelta(hours=1))).encode()])
    for entry in (disabled, expired):
        record = record_from_entry(entry, AD_NAMES, {}, active_directory=True, now=NOW)
        assert record["disabled"] is True


def test_attribute_names_match_the_servers_spelling_case_insensitively() -> None:
    entry = Entry(dn="uid=a,dc=x", raw={"samaccountname": [b"a"], "GIVENNAME": [b"\xc3\x84nne"]})
    record = record_from_entry(
        entry, ("sAMAccountName", "givenName"), {}, active_directory=False, now=NOW
    )
    assert record["sAMAccountName"] == "a"
    assert record["givenName"] == "Änne"
    assert "disabled" not in record


def test_non_utf8_values_are_base64_text() -> None:
    entry = Entry(dn="uid=a,dc=x", raw={"jpegPhoto": [b"\xff\xd8\xff"]})
    record = record_from_entry(entry, ("jpegPhoto",), {}, active_directory=False, now=NOW)
    assert record["jpegPhoto"] == "/9j/"


def test_ranged_attribute_values_are_an_error_not_a_partial_list() -> None:
    entry = ad_entry(**{"proxyAddresses;range=0-1499": [b"smtp:a@b"]})
    with pytest.raises(SourceError, match="ranged retrieval"):
        record_from_entry(entry, AD_NAMES, {}, active_directory=True, now=NOW)


def test_bad_user_account_control_names_the_entry() -> None:
    with pytest.raises(SourceError, match="CN=Jane Doe"):
        record_from_entry(
            ad_entry(userAccountControl=[b"x"]), AD_NAMES, {}, active_directory=True, now=NOW
        )


class FakeDirectory:
    """Answers group reads from a dict of DN -> member values; records every request."""

    def __init__(self, groups: dict[str, list[str]], search_result: Sequence[str] = ()) -> None:
        self.groups = {normalize_dn(dn): members for dn, members in groups.items()}
        self.search_result = search_result
        self.reads: list[str] = []
        self.searches: list[SearchRequest] = []

    def read_entry(self, dn: str, attributes: Sequence[str]) -> Entry | None:
        self.reads.append(dn)
        members = self.groups.get(normalize_dn(dn))
        if members is None:
            return None
        return Entry(dn=dn, raw={"member": [m.encode() for m in members]})

    def search(self, request: SearchRequest, on_page: PageHook | None = None) -> Iterator[Entry]:
        self.searches.append(request)
        return iter([Entry(dn=dn) for dn in self.search_result])


def test_ad_membership_is_one_in_chain_search_per_group() -> None:
    people = SearchRequest("DC=corp,DC=example,DC=com", "(objectClass=user)", page_size=250)
    fake = FakeDirectory({ADMINS: []}, search_result=["CN=Jane Doe,OU=Staff,DC=corp"])
    members = ad_members(fake, "admins", ADMINS, people)
    assert members == {normalize_dn("cn=jane doe,ou=staff,dc=corp")}
    [search] = fake.searches
    assert search.filter == in_chain_filter(ADMINS, "(objectClass=user)")
    assert (search.base, search.page_size, search.attributes) == (people.base, 250, ())


def test_ad_group_that_does_not_exist_is_an_error() -> None:
    people = SearchRequest("DC=corp", "(objectClass=user)")
    with pytest.raises(SourceError, match=r"'admins'.*does not exist"):
        ad_members(FakeDirectory({}), "admins", ADMINS, people)


def test_openldap_nested_groups_and_cycles_with_one_read_per_group() -> None:
    fake = FakeDirectory(
        {
            "cn=a,dc=x": ["uid=p1,dc=x", "cn=b,dc=x"],
            "cn=b,dc=x": ["uid=p2,dc=x", "CN=A, DC=X", "uid=gone,dc=x"],
        }
    )
    people = frozenset(normalize_dn(dn) for dn in ("uid=p1,dc=x", "uid=p2,dc=x"))
    members = openldap_members(fake, "g", "cn=a,dc=x", people)
    assert people <= members
    assert sorted(fake.reads) == ["cn=a,dc=x", "cn=b,dc=x", "uid=gone,dc=x"]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("CN=Jane Doe, OU=Staff,DC=Corp", "cn=jane doe,ou=staff,dc=corp"),
        (r"cn=Doe\, Jane,dc=x", r"CN=doe\2C jane,DC=x"),
        ("uid=a+cn=b,dc=x", "cn=B+uid=A,dc=x"),
    ],
)
def test_normalized_dns_compare_equal(left: str, right: str) -> None:
    assert normalize_dn(left) == normalize_dn(right)


def test_escaped_comma_is_not_a_separator() -> None:
    assert normalize_dn(r"cn=a\,b,dc=x") != normalize_dn("cn=a,b=,dc=x")


def test_ldapsearch_line_is_a_runnable_command_without_the_password() -> None:
    settings = ConnectSettings(
        urls=("ldap://dc1",), bind_dn="CN=svc sync,DC=corp", start_tls=True, ca_file="/etc/ca.pem"
    )
    request = SearchRequest("DC=corp", "(&(objectClass=user)(mail=*))", "subtree", ("mail",), 500)
    assert ldapsearch_line(settings, "ldap://dc1", request) == (
        "LDAPTLS_CACERT=/etc/ca.pem ldapsearch -x -H ldap://dc1 -ZZ -D 'CN=svc sync,DC=corp' -W "
        "-b DC=corp -s sub -E pr=500/noprompt '(&(objectClass=user)(mail=*))' mail"
    )
    anonymous = ConnectSettings(urls=("ldaps://dc1",), tls_verify=False)
    base = SearchRequest("cn=g,dc=x", "(objectClass=*)", "base", (), 0)
    assert ldapsearch_line(anonymous, "ldaps://dc1", base) == (
        "LDAPTLS_REQCERT=never ldapsearch -x -H ldaps://dc1 -b cn=g,dc=x -s base "
        "'(objectClass=*)' 1.1"
    )


def ad_config(**overrides: object) -> LdapSourceConfig:
    values: dict[str, object] = {
        "type": "ldap",
        "url": ["ldaps://dc1.corp.example.com", "ldaps://dc2.corp.example.com"],
        "bind_dn": "CN=svc-timetrack,OU=Service,DC=corp,DC=example,DC=com",
        "bind_password": "test-only",
        "base_dn": "DC=corp,DC=example,DC=com",
        "flavor": "active_directory",
        "attributes": ["sAMAccountName", "mail", "employeeID"],
    }
    values.update(overrides)
    return LdapSourceConfig.model_validate(values)


def test_ad_source_requests_its_flag_attributes_and_mapping_names() -> None:
    source = build_source(ad_config(), frozenset({"givenName", "MAIL", "dn", "disabled"}))
    assert isinstance(source, LdapSource)
    assert source.names == (
        "sAMAccountName",
        "mail",
        "employeeID",
        "givenName",
        "userAccountControl",
        "accountExpires",
    )
    assert (
        source.describe()
        == "LDAP ldaps://dc1.corp.example.com (+1 failover) (DC=corp,DC=example,DC=com)"
    )


def test_building_the_source_does_not_read_the_password_file() -> None:
    config = ad_config(bind_password=None, bind_password_file="/nonexistent/bind_password")
    assert isinstance(LdapSource(config), LdapSource)  # the file is read at read time only
