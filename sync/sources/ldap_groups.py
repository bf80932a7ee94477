"""Group membership for a job's `groups:`: each named group is a set of member DNs.

OpenLDAP (and other RFC directories): the group entry is read (`member` and
`uniqueMember`); a member DN that is not one of the people read may be a nested group and
is read too, so there is one search per group, not per person. Visited DNs are
remembered, so cycles end. A member DN that does not exist (no referential integrity) is
ignored. Active Directory: one paged search per group with the in-chain matching rule
(`memberOf:1.2.840.113556.1.4.1941:=<group>`), which the server expands for nested groups.

A configured group DN that does not exist is an error: reading it as "no members" would
quietly take a right (e.g. TimeTrack admin) away from everyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from sync.errors import SourceError
from sync.sources.ad import in_chain_filter
from sync.sources.ldap_conn import Entry, PageHook, SearchRequest

__all__ = ["GroupDirectory", "ad_members", "normalize_dn", "openldap_members", "resolve_groups"]

MEMBER_ATTRIBUTES = ("member", "uniqueMember")
_UNIQUE_MEMBER_UID = re.compile(r"#'[01]*'B$")  # uniqueMember's optional bit-string suffix
_DN_SPECIALS = frozenset(',+="\\<>;#')


class GroupDirectory(Protocol):
    """The two reads group resolution needs (sync.sources.ldap_conn.Directory has them)."""

    def read_entry(self, dn: str, attributes: Sequence[str]) -> Entry | None:
        """One entry by DN, or None when it does not exist."""
        ...

    def search(self, request: SearchRequest, on_page: PageHook | None = None) -> Iterator[Entry]:
        """Every entry a search matches."""
        ...


def _split_unescaped(text: str, separators: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char in separators:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code, 16)) if len(code) == 2 else code

    return re.sub(r"\\([0-9A-Fa-f]{2}|.)", replace, value)


def normalize_dn(dn: str) -> str:
    """A DN in a form for comparison: case, spaces around separators and escapes evened out."""
    rdns: list[str] = []
    for rdn in _split_unescaped(dn.strip(), ","):
        atoms: list[str] = []
        for atom in _split_unescaped(rdn, "+"):
            name, _, value = atom.partition("=")
            text = _unescape(value.strip()).casefold()
            escaped = "".join(f"\\{c}" if c in _DN_SPECIALS else c for c in text)
            atoms.append(f"{name.strip().casefold()}={escaped}")
        rdns.append("+".join(sorted(atoms)))
    return ",".join(rdns)


def _member_values(entry: Entry) -> list[str]:
    folded = {name.split(";")[0].casefold(): values for name, values in entry.raw.items()}
    values: list[str] = []
    for attribute in MEMBER_ATTRIBUTES:
        for raw in folded.get(attribute.casefold(), []):
            text = raw.decode("utf-8", errors="replace")
            values.append(_UNIQUE_MEMBER_UID.sub("", text) if attribute == "uniqueMember" else text)
    return values


def openldap_members(
    directory: GroupDirectory, name: str, group_dn: str, people: frozenset[str]
) -> frozenset[str]:
    """Normalized DNs of the group's members, nested groups followed (cycles are safe)."""
    members: set[str] = set()
    visited: set[str] = set()
    queue = [group_dn]
    top = normalize_dn(group_dn)
    while queue:
        dn = queue.pop()
        key = normalize_dn(dn)
        if key in visited:
            continue
        visited.add(key)
        entry = directory.read_entry(dn, MEMBER_ATTRIBUTES)
        if entry is None:
            if key == top:
                raise _missing_group(name, group_dn)
            continue  # a dangling member DN: nobody to count
        for member in _member_values(entry):
            member_key = normalize_dn(member)
            members.add(member_key)
            if member_key not in people and member_key not in visited:
                queue.append(member)  # not a person we read: perhaps a nested group
    return frozenset(members)


def ad_members(
    directory: GroupDirectory, name: str, group_dn: str, request: SearchRequest
) -> frozenset[str]:
    """Normalized DNs of the entries `request` finds that are in the group, nested or not."""
    if directory.read_entry(group_dn, ("objectClass",)) is None:
        raise _missing_group(name, group_dn)
    chained = SearchRequest(
        base=request.base,
        filter=in_chain_filter(group_dn, request.filter),
        scope=request.scope,
        attributes=(),
        page_size=request.page_size,
    )
    return frozenset(normalize_dn(entry.dn) for entry in directory.search(chained))


def resolve_groups(
    directory: GroupDirectory,
    groups: Mapping[str, str],
    *,
    flavor: str,
    people: frozenset[str],
    request: SearchRequest,
) -> dict[str, frozenset[str]]:
    """Members (normalized DNs) of each configured group, by the group's name."""
    resolved: dict[str, frozenset[str]] = {}
    for name, group_dn in groups.items():
        if flavor == "active_directory":
            resolved[name] = ad_members(directory, name, group_dn, request)
        else:
            resolved[name] = openldap_members(directory, name, group_dn, people)
    return resolved


def _missing_group(name: str, group_dn: str) -> SourceError:
    return SourceError(
        f"LDAP group {name!r}: {group_dn!r} does not exist",
        hint=f"check groups.{name} in the source config (the group's full DN)",
    )
