"""The LDAP source against a real slapd: contract, paging and size limits, groups, failures."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date

import pytest
from structlog.testing import capture_logs

from sync.errors import SourceError
from sync.mapping import Mapper
from sync.model import DesiredUser, Person
from sync.sources import Source, build_source
from sync.sources.ldap import LdapSource
from sync.sources.ldap_conn import ConnectSettings, SearchRequest, connect
from tests.integration.conftest import PEOPLE_COUNT, LdapConfigFactory, SlapdFactory
from tests.slapd import (
    BASE_DN,
    DEFAULT_DN,
    DEFAULT_PW,
    FULL_DN,
    FULL_PW,
    GROUPS_DN,
    LIMITED_DN,
    LIMITED_PW,
    LIMITED_SIZE_LIMIT,
    PEOPLE_DN,
    SERVER_SIZE_LIMIT,
    Slapd,
    fixture_ldif,
    free_port,
    people_ldif,
)
from tests.source_contract import Records, SourceContract, SourceFactory

pytestmark = pytest.mark.ldap
_contract_ou = itertools.count()


def group(name: str) -> str:
    return f"cn={name},{GROUPS_DN}"


def read(source: LdapSource) -> dict[str, Person]:
    return {str(p.attributes["uid"]): p for p in source.read()}


class TestLdapSourceContract(SourceContract):
    @pytest.fixture
    def make_source(self, slapd_server: Slapd, ldap_config: LdapConfigFactory) -> SourceFactory:
        def make(records: Records) -> Source:
            ou = f"ou=c{next(_contract_ou)},ou=contract,{BASE_DN}"
            with slapd_server.admin() as admin:
                admin.add(ou, "organizationalUnit")
                for record in records:
                    cn = f"{record['givenName']} {record['sn']}"
                    admin.add(f"uid={record['uid']},{ou}", "inetOrgPerson", {**record, "cn": cn})
            return LdapSource(ldap_config(base_dn=ou))

        return make

    @pytest.fixture
    def unreadable_source(self, ldap_config: LdapConfigFactory) -> Source:
        return LdapSource(ldap_config(url=f"ldap://127.0.0.1:{free_port()}"))

    @pytest.fixture
    def broken_source(self, ldap_config: LdapConfigFactory) -> Source:
        # The default size limit stops the paged read after 500 of 10,000 entries.
        config = ldap_config(bind_dn=DEFAULT_DN, bind_password=DEFAULT_PW, base_dn=PEOPLE_DN)
        return LdapSource(config)


def test_ten_thousand_people_are_read_completely_in_pages_of_500(
    ldap_config: LdapConfigFactory, record_property: pytest.RecordProperty
) -> None:
    pages: list[tuple[int, int]] = []
    source = LdapSource(
        ldap_config(base_dn=PEOPLE_DN, page_size=500),
        on_page=lambda page, entries: pages.append((page, entries)),
    )
    started = time.perf_counter()
    people = list(source.read())
    seconds = time.perf_counter() - started
    record_property("ldap_read_10000_seconds", round(seconds, 3))
    print(f"read {len(people)} entries in {seconds:.2f} s")  # recorded, not asserted
    assert len(people) == PEOPLE_COUNT
    assert len({p.attributes["uid"] for p in people}) == PEOPLE_COUNT
    assert pages[-1] == (PEOPLE_COUNT // 500, PEOPLE_COUNT)


def test_size_limit_of_1000_with_paging_reads_everything(ldap_config: LdapConfigFactory) -> None:
    config = ldap_config(bind_dn=LIMITED_DN, bind_password=LIMITED_PW, base_dn=PEOPLE_DN)
    assert len(list(LdapSource(config).read())) == PEOPLE_COUNT > LIMITED_SIZE_LIMIT


def test_page_size_above_the_servers_limit_is_an_error(ldap_config: LdapConfigFactory) -> None:
    config = ldap_config(
        bind_dn=LIMITED_DN, bind_password=LIMITED_PW, base_dn=PEOPLE_DN, page_size=2000
    )
    with pytest.raises(SourceError, match="adminLimitExceeded"):
        list(LdapSource(config).read())


def test_unpaged_read_over_the_size_limit_is_an_error(slapd_server: Slapd) -> None:
    settings = ConnectSettings(urls=(slapd_server.url,), bind_dn=LIMITED_DN)
    request = SearchRequest(PEOPLE_DN, "(objectClass=person)", page_size=0)
    got: list[object] = []
    with connect(settings, LIMITED_PW) as directory, pytest.raises(SourceError) as caught:
        got.extend(directory.search(request))
    assert "sizeLimitExceeded" in str(caught.value)
    assert "size limit" in str(caught.value)  # the hint says what to change


def test_paged_total_cut_by_the_default_size_limit_is_an_error_not_a_short_read(
    ldap_config: LdapConfigFactory,
) -> None:
    # ldap3 returns these 500 entries without raising; only the result code tells.
    config = ldap_config(bind_dn=DEFAULT_DN, bind_password=DEFAULT_PW, base_dn=PEOPLE_DN)
    yielded: list[Person] = []
    with pytest.raises(SourceError) as caught:
        yielded.extend(LdapSource(config).read())
    assert yielded == []  # nothing of the partial read reaches the caller
    message = str(caught.value)
    assert "sizeLimitExceeded" in message
    assert f"after {SERVER_SIZE_LIMIT} entries" in message


def test_every_configured_attribute_is_defined_on_every_record(
    ldap_config: LdapConfigFactory,
) -> None:
    attributes = ["uid", "mail", "objectClass", "preferredLanguage", "employeeNumber"]
    people = read(LdapSource(ldap_config(attributes=attributes)))
    assert set(people) == {"alice", "bob", "carol", "dave", "erin", "frank"}
    for person in people.values():
        assert set(attributes) | {"dn", "groups"} == set(person.attributes)
    assert people["frank"].attributes["mail"] is None
    assert people["bob"].attributes["mail"] == ["bob@example.org", "robert.baker@example.org"]
    assert people["alice"].attributes["preferredLanguage"] == "de"
    assert people["bob"].attributes["preferredLanguage"] is None
    assert people["alice"].attributes["objectClass"] == ["inetOrgPerson"]
    assert people["carol"].attributes["dn"] == f"uid=carol,ou=staff,{BASE_DN}"
    assert people["carol"].origin == f"uid=carol,ou=staff,{BASE_DN}"


def test_no_attributes_configured_reads_every_user_attribute(
    ldap_config: LdapConfigFactory,
) -> None:
    source = build_source(ldap_config(attributes=[]), frozenset({"MAIL"}))
    frank = next(p for p in source.read() if p.attributes["uid"] == "frank")
    assert frank.attributes["employeeNumber"] == "1006"
    assert frank.attributes["cn"] == "Frank Fischer"
    assert frank.attributes["MAIL"] is None  # needed by the mapping: defined, though absent


def test_names_the_mapping_needs_are_read_even_when_not_listed(
    ldap_config: LdapConfigFactory,
) -> None:
    source = build_source(ldap_config(attributes=["uid"]), frozenset({"employeeNumber", "dn"}))
    alice = next(p for p in source.read() if p.attributes["uid"] == "alice")
    assert alice.attributes["employeeNumber"] == "1001"


def test_mapping_reads_ldap_attributes_case_insensitively_and_groups(
    ldap_config: LdapConfigFactory,
) -> None:
    mapper = Mapper(
        {
            "username": "{{ UID }}",
            "firstName": "{{ givenname }}",
            "lastName": "{{ SN }}",
            "email": "{{ Mail }}",
            "admin": "{{ groups.admins }}",
        },
        True,
        "username",
    )
    config = ldap_config(groups={"admins": group("level1")})
    desired, skipped = mapper.map_all(LdapSource(config).read(), today=date(2026, 1, 1))
    by_name = {d.username: d for d in desired if isinstance(d, DesiredUser)}
    assert by_name["carol"].fields == {
        "username": "carol",
        "firstName": "Carol",
        "lastName": "Cöllner",
        "email": "carol@example.org",
        "admin": True,
    }
    assert by_name["dave"].fields["admin"] is False
    # frank has no mail, bob has two: both are reported, not guessed.
    assert {s.origin.split(",")[0] for s in skipped} == {"uid=frank", "uid=bob"}


def test_nested_groups_three_levels_deep_resolve(ldap_config: LdapConfigFactory) -> None:
    people = read(LdapSource(ldap_config(groups={"l1": group("level1"), "l2": group("level2")})))
    in_l1 = {uid for uid, p in people.items() if p.attributes["groups"]["l1"]}
    in_l2 = {uid for uid, p in people.items() if p.attributes["groups"]["l2"]}
    assert in_l1 == {"alice", "bob", "carol"}  # alice's member value is in other case and spacing
    assert in_l2 == {"bob", "carol"}


def test_group_cycle_resolves_and_ends(ldap_config: LdapConfigFactory) -> None:
    people = read(LdapSource(ldap_config(groups={"cycle": group("cycle-b")})))
    assert {uid for uid, p in people.items() if p.attributes["groups"]["cycle"]} == {"dave", "erin"}


def test_unique_members_and_dangling_members(ldap_config: LdapConfigFactory) -> None:
    config = ldap_config(groups={"unique": group("unique"), "dangling": group("dangling")})
    people = read(LdapSource(config))
    assert {u for u, p in people.items() if p.attributes["groups"]["unique"]} == {"carol", "frank"}
    assert {u for u, p in people.items() if p.attributes["groups"]["dangling"]} == {"alice"}


def test_group_dn_that_does_not_exist_is_an_error(ldap_config: LdapConfigFactory) -> None:
    config = ldap_config(groups={"admins": group("no-such-group")})
    with pytest.raises(SourceError, match=r"group 'admins'.*does not exist"):
        list(LdapSource(config).read())


def test_wrong_bind_password_names_the_server_and_the_bind_step(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    with pytest.raises(SourceError) as caught:
        list(LdapSource(ldap_config(bind_password="not-the-password")).read())
    message = str(caught.value)
    assert slapd_server.url in message
    assert "bind as" in message and "invalidCredentials" in message
    assert "not-the-password" not in message
    assert "bind_password_file" in message  # what to check


def test_failover_binds_to_the_next_url_when_the_first_is_down(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    down = f"ldap://127.0.0.1:{free_port()}"
    with capture_logs() as logs:
        people = read(LdapSource(ldap_config(url=[down, slapd_server.url])))
    assert len(people) == 6
    failed = [e for e in logs if e["event"] == "ldap_server_failed"]
    assert [e["server"] for e in failed] == [down]


def test_every_server_down_names_each_of_them(ldap_config: LdapConfigFactory) -> None:
    urls = [f"ldap://127.0.0.1:{free_port()}", f"ldap://127.0.0.1:{free_port()}"]
    with pytest.raises(SourceError) as caught:
        list(LdapSource(ldap_config(url=urls)).read())
    assert all(f"{url}: connect failed" in str(caught.value) for url in urls)


def test_searches_are_logged_as_ldapsearch_lines_without_the_password(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    with capture_logs() as logs:
        list(LdapSource(ldap_config(groups={"l3": group("level3")})).read())
    commands = [e["command"] for e in logs if e["event"] == "ldap_search"]
    assert commands[0] == (
        f"ldapsearch -x -H {slapd_server.url} -D {FULL_DN} -W -b ou=staff,{BASE_DN} -s sub "
        "-E pr=500/noprompt '(objectClass=person)' uid givenName sn mail"
    )
    assert any(f"-b cn=level3,{GROUPS_DN} -s base" in c for c in commands[1:])
    assert FULL_PW not in repr(logs)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()
    for conn in accepted:
        conn.close()
    thread.join(timeout=5)


def test_server_that_does_not_answer_times_out_at_the_bind_step(
    silent_server: str, ldap_config: LdapConfigFactory
) -> None:
    with pytest.raises(SourceError) as caught:
        list(LdapSource(ldap_config(url=silent_server, timeout_seconds=1)).read())
    message = str(caught.value)
    assert silent_server in message and "bind" in message
    assert "timeout_seconds" in message


def test_server_stopped_mid_read_is_an_error(
    private_slapd: SlapdFactory, ldap_config: LdapConfigFactory
) -> None:
    server = private_slapd(fixture_ldif("base.ldif") + "\n" + people_ldif(1000))

    def kill_after_second_page(page: int, _entries: int) -> None:
        if page == 2:
            server.kill()

    config = ldap_config(url=server.url, base_dn=PEOPLE_DN, page_size=100)
    yielded: list[Person] = []
    with pytest.raises(SourceError) as caught:
        yielded.extend(LdapSource(config, on_page=kill_after_second_page).read())
    assert yielded == []
    assert server.url in str(caught.value)
    assert "after 200 entries" in str(caught.value)
