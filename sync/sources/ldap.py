"""An LDAP or Active Directory directory as a source of people.

The read is all or nothing: every page of the search, then the groups, then the records
are yielded. Any incomplete read (a size or time limit, a referral, a lost connection or
paging cookie) raises SourceError; see sync.sources.ldap_conn for how that is detected.

Records: every attribute in `attributes` (and every name the mapping needs) is defined on
every record, in the spelling the config uses (an empty `attributes` reads every user
attribute an entry has, in the server's spelling, plus the names the mapping needs):
- absent: None (a list-by-nature attribute such as memberOf or objectClass: []);
- one value: a string; several values: a list of strings in the server's order;
- objectGUID and objectSid in their canonical text forms, other non-UTF-8 values base64;
- `dn`: the entry's DN; `groups`: {name: bool} for the configured groups;
- active_directory flavor: `disabled`, true when userAccountControl has the
  ACCOUNTDISABLE bit or accountExpires is in the past.
Names are matched case-insensitively by the mapping, as LDAP does.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog

from sync.errors import SourceError
from sync.model import Person
from sync.sources.ad import format_guid, format_sid, is_disabled
from sync.sources.ldap_conn import ConnectSettings, Entry, PageHook, SearchRequest, connect
from sync.sources.ldap_groups import normalize_dn, resolve_groups

if TYPE_CHECKING:
    from sync.config import LdapSourceConfig

__all__ = ["ALWAYS_LIST", "LdapSource", "record_from_entry"]

log = structlog.get_logger(__name__)

# Attributes that are lists by nature: a list even with one value or none.
ALWAYS_LIST = frozenset(
    name.casefold()
    for name in (
        "objectClass",
        "memberOf",
        "member",
        "uniqueMember",
        "proxyAddresses",
        "otherMailbox",
        "servicePrincipalName",
    )
)
_BINARY: dict[str, Callable[[bytes], str]] = {"objectguid": format_guid, "objectsid": format_sid}
# Names a record has that are not directory attributes (never requested from the server).
SYNTHETIC = frozenset({"dn", "groups", "disabled"})
AD_FLAG_ATTRIBUTES = ("userAccountControl", "accountExpires")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _decode(name: str, raw: bytes) -> str:
    formatter = _BINARY.get(name)
    if formatter is not None:
        try:
            return formatter(raw)
        except ValueError:
            pass  # not the binary form (e.g. a proxy that already made it text): keep as text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")


def record_from_entry(
    entry: Entry,
    names: Iterable[str],
    groups: Mapping[str, bool],
    *,
    active_directory: bool,
    now: datetime,
    all_attributes: bool = False,
) -> dict[str, Any]:
    """The attributes of one Person from a raw entry (see the module docstring).

    With `all_attributes`, every attribute the entry returned is included as well, in the
    server's spelling (the config lists no attributes: "all user attributes").
    """
    by_name: dict[str, list[bytes]] = {}
    spelling: dict[str, str] = {}
    for description, values in entry.raw.items():
        base, _, options = description.partition(";")
        if "range=" in options.casefold():
            raise SourceError(
                f"LDAP entry {entry.dn!r}: {base} has too many values for one answer "
                f"({description}); ranged retrieval is not supported",
                hint=f"leave {base} out of attributes, or use groups: for group membership",
            )
        by_name.setdefault(base.casefold(), []).extend(values)
        spelling.setdefault(base.casefold(), base)
    record: dict[str, Any] = {}
    wanted = {name.casefold(): name for name in names}
    if all_attributes:
        wanted = {**spelling, **wanted}
    for name in wanted.values():
        folded = name.casefold()
        texts = [_decode(folded, raw) for raw in by_name.get(folded, [])]
        if folded in ALWAYS_LIST or len(texts) > 1:
            record[name] = texts
        else:
            record[name] = texts[0] if texts else None
    record["dn"] = entry.dn
    record["groups"] = dict(groups)
    if active_directory:
        try:
            record["disabled"] = is_disabled(record, now)
        except ValueError as exc:
            raise SourceError(f"LDAP entry {entry.dn!r}: {exc}") from None
    return record


def _requested_names(
    attributes: Iterable[str], required: Iterable[str], active_directory: bool
) -> tuple[str, ...]:
    """The configured attributes, plus names the mapping needs, plus AD's flag attributes."""
    names: list[str] = []
    seen: set[str] = set()
    extra = AD_FLAG_ATTRIBUTES if active_directory else ()
    for name in (*attributes, *sorted(required), *extra):
        folded = name.casefold()
        if folded in seen or folded in SYNTHETIC:
            continue
        seen.add(folded)
        names.append(name)
    return tuple(names)


class LdapSource:
    """People from an LDAP directory: one Person per entry, origin the entry's DN."""

    def __init__(
        self,
        config: LdapSourceConfig,
        *,
        required_fields: frozenset[str] = frozenset(),
        on_page: PageHook | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._ad = config.flavor == "active_directory"
        self.names = _requested_names(config.attributes, required_fields, self._ad)
        self._on_page = on_page
        self._clock = clock
        self.settings = ConnectSettings(
            urls=tuple(config.urls()),
            bind_dn=config.bind_dn,
            start_tls=config.start_tls,
            ca_file=config.ca_file,
            tls_verify=config.tls_verify,
            timeout_seconds=config.timeout_seconds,
        )
        self.request = SearchRequest(
            base=config.base_dn,
            filter=config.filter,
            scope=config.scope,
            # No attributes configured: all user attributes ("*"), as ldapsearch would.
            attributes=self.names if config.attributes else ("*", *self.names),
            page_size=config.page_size,
        )

    @classmethod
    def from_config(
        cls, config: LdapSourceConfig, *, required_fields: frozenset[str] = frozenset()
    ) -> LdapSource:
        """The source a job's `source: {type: ldap, ...}` describes."""
        return cls(config, required_fields=required_fields)

    def describe(self) -> str:
        """E.g. "LDAP ldaps://dc1.corp.example:636 (ou=people,dc=corp,dc=example)"."""
        urls = self.settings.urls
        more = f" (+{len(urls) - 1} failover)" if len(urls) > 1 else ""
        return f"LDAP {urls[0]}{more} ({self.request.base})"

    def read(self) -> Iterator[Person]:
        """Every entry the search matches, as Person records; SourceError on any short read."""
        yield from self._read_all()

    def _read_all(self) -> list[Person]:
        self._warn_about_transport()
        password = self.config.read_bind_password()  # read now: admins rotate it
        with connect(self.settings, password) as directory:
            entries = list(directory.search(self.request, self._on_page))
            # DNs are normalized only when groups need comparing (10,000 DNs: ~0.3 s).
            keys = [normalize_dn(entry.dn) for entry in entries] if self.config.groups else []
            memberships = resolve_groups(
                directory,
                self.config.groups,
                flavor=self.config.flavor,
                people=frozenset(keys),
                request=self.request,
            )
            server = directory.url
        now = self._clock()
        people = []
        for index, entry in enumerate(entries):
            flags = {name: keys[index] in members for name, members in memberships.items()}
            record = record_from_entry(
                entry,
                self.names,
                flags,
                active_directory=self._ad,
                now=now,
                all_attributes=not self.config.attributes,
            )
            people.append(Person(attributes=record, origin=entry.dn))
        log.info("ldap_read", server=server, records=len(people), groups=len(memberships))
        return people

    def _warn_about_transport(self) -> None:
        if not self.settings.tls_verify:
            log.warning(
                "ldap_tls_verify_disabled",
                source=self.describe(),
                risk="anyone on the network path can read the bind password and forge "
                "the directory's answers; set ca_file and remove tls_verify: false",
            )
        for url in self.settings.urls:
            parts = urlsplit(url)
            plain = parts.scheme.lower() == "ldap" and not self.settings.start_tls
            if plain and self.settings.bind_dn and (parts.hostname or "") not in _LOOPBACK:
                log.warning(
                    "ldap_cleartext_bind",
                    server=url,
                    risk="the bind password crosses the network unencrypted; "
                    "use ldaps:// or start_tls: true",
                )
