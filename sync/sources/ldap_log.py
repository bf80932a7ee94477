"""The `ldapsearch` command line equivalent to one of our searches, for the debug log."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync.sources.ldap_conn import ConnectSettings, SearchRequest

_LDAPSEARCH_SCOPES = {"base": "base", "level": "one", "subtree": "sub"}


def ldapsearch_line(settings: ConnectSettings, url: str, request: SearchRequest) -> str:
    """The equivalent `ldapsearch` command line (never the password: -W prompts for it)."""
    parts: list[str] = []
    if settings.ca_file:
        parts.append(f"LDAPTLS_CACERT={shlex.quote(settings.ca_file)}")
    if not settings.tls_verify:
        parts.append("LDAPTLS_REQCERT=never")
    parts += ["ldapsearch", "-x", "-H", shlex.quote(url)]
    if settings.start_tls:
        parts.append("-ZZ")
    if settings.bind_dn:
        parts += ["-D", shlex.quote(settings.bind_dn), "-W"]
    parts += ["-b", shlex.quote(request.base), "-s", _LDAPSEARCH_SCOPES[request.scope]]
    if request.page_size:
        parts += ["-E", f"pr={request.page_size}/noprompt"]
    parts.append(shlex.quote(request.filter))
    parts += [shlex.quote(name) for name in request.attributes or ("1.1",)]
    return " ".join(parts)
