"""A bound LDAP connection whose every search is either complete or a SourceError.

Decisions:
- Failover: the URLs are tried in order for connect (+ StartTLS) + bind; the first that
  binds serves the whole read. A failure after the read started is an error, never a
  switch to another server (two servers may be at different replication points).
- Paging (RFC 2696) is driven here page by page, with the control marked critical, so
  that the result code of every page is seen: ldap3 returns a truncated result without
  raising when a server's size limit cuts a search, and only `conn.result` tells.
  Anything but success is a failed read, and so is a page answered without the paging
  control (a lost cookie would otherwise look like the last page).
- Referrals are not chased. A referral result or a continuation reference is an error,
  except references to AD's own application partitions (DNS zones, Configuration), which
  a search at a domain's root always returns and which never hold people.
- TLS: certificates and host names are verified by Python's ssl (ldap3's own host-name
  check relies on the deprecated ssl.match_hostname); `tls_verify: false` turns both off.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from sync.errors import SourceError
from sync.sources.ldap_log import ldapsearch_line

with warnings.catch_warnings():
    # pyasn1 >= 0.6 deprecates names ldap3 2.9.1 imports (tagMap, typeMap): harmless, not
    # ours to fix, and fatal to runs with warnings as errors (the test suite).
    warnings.simplefilter("ignore", DeprecationWarning)
    from ldap3 import BASE, DEREF_NEVER, LEVEL, NONE, SUBTREE, Connection, Server, Tls
    from ldap3.core.exceptions import LDAPException

__all__ = [
    "ConnectSettings",
    "Directory",
    "Entry",
    "LdapSearchError",
    "SearchRequest",
    "connect",
    "ldapsearch_line",
]

log = structlog.get_logger(__name__)

PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
_SCOPES = {"base": BASE, "level": LEVEL, "subtree": SUBTREE}
# Continuation references a search at an AD domain root returns; they never hold people.
_AD_PARTITIONS = ("dc=domaindnszones,", "dc=forestdnszones,", "cn=configuration,")
_TLS_HINT = (
    "the server's certificate is not trusted or does not name the host in url: set ca_file "
    "to the PEM file of the CA that issued it and use the name the certificate carries"
)
_RESULT_HINTS = {
    3: "the server's time limit stopped the search: raise it for the bind identity",
    4: "the server's size limit cut the read short: lift it for the bind identity "
    '(OpenLDAP: limits dn.exact="<bind_dn>" size.prtotal=unlimited; '
    "AD: MaxResultSetSize), or lower page_size below the limit",
    10: "base_dn is held by another server (a referral): point url at that server",
    11: "the server's administrative limit stopped the search: ask its admin to lift it",
    32: "base_dn (or a group DN) does not exist on this server: check base_dn and groups",
    50: "the bind identity may not search there: grant it read access",
    12: "the server cannot page this search: page_size may exceed its limit",
    53: "the server refused the search: a paged search cookie may have expired",
}


@dataclass(frozen=True, slots=True)
class ConnectSettings:
    """How to reach and bind to the directory."""

    urls: tuple[str, ...]
    bind_dn: str | None = None
    start_tls: bool = False
    ca_file: str | None = None
    tls_verify: bool = True
    timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One search: where, what, and the page size (0: not paged)."""

    base: str
    filter: str
    scope: str = "subtree"
    attributes: tuple[str, ...] = ()
    page_size: int = 500


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry as the server returned it: DN and raw values per attribute description."""

    dn: str
    raw: dict[str, list[bytes]] = field(default_factory=dict)


class LdapSearchError(SourceError):
    """A search the server answered with a result code other than success."""

    def __init__(self, message: str, *, result_code: int | None, hint: str | None) -> None:
        super().__init__(message, hint=hint)
        self.result_code = result_code


PageHook = Callable[[int, int], None]  # (pages read, entries read so far)


class _VerifyingTls(Tls):  # type: ignore[misc]  # ldap3 is untyped
    """ldap3's Tls with Python's own certificate and host-name verification."""

    def __init__(self, ca_file: str | None, verify: bool) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
        self._ca_file = ca_file
        self._verify = verify

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        """Wrap the connection's socket, verifying the certificate against the host name."""
        context = ssl.create_default_context(cafile=self._ca_file)
        if not self._verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection.socket = context.wrap_socket(
            connection.socket,
            server_hostname=connection.server.host,
            do_handshake_on_connect=do_handshake,
        )


_SSL_REASON = re.compile(r"\[SSL: [A-Z_]+\] ([^(\]'\"]+)")
_NOISE = re.compile(r"[()\[\]'\"]+")


def _reason(exc: BaseException) -> str:
    """A readable reason: ldap3 nests the underlying error in tuples of reprs."""
    text = str(exc)
    ssl_reason = _SSL_REASON.search(text)
    if ssl_reason:
        return ssl_reason.group(1).strip().rstrip(",")
    text = _NOISE.sub("", text).strip(" ,") or type(exc).__name__
    return text[:300]


def _is_tls_problem(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, ssl.SSLError) or any(
        word in text for word in ("certificate", "ssl", "tls", "handshake")
    )


class Directory:
    """A connection bound to one server; searches are complete or raise SourceError."""

    def __init__(self, conn: Any, url: str, settings: ConnectSettings) -> None:
        self._conn = conn
        self.url = url
        self._settings = settings

    def close(self) -> None:
        """Unbind and close the connection (errors ignored: the read is already decided)."""
        _close_quietly(self._conn)

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def search(self, request: SearchRequest, on_page: PageHook | None = None) -> Iterator[Entry]:
        """Every entry the search matches, page by page; SourceError on any incomplete read."""
        log.debug(
            "ldap_search",
            server=self.url,
            command=ldapsearch_line(self._settings, self.url, request),
        )
        cookie: bytes | None = None
        pages = entries = 0
        while True:
            result = self._run(request, cookie, f"after {entries} entries ({pages} pages)")
            pages += 1
            for item in self._conn.response or ():
                kind = item.get("type")
                if kind == "searchResEntry":
                    entries += 1
                    yield Entry(dn=item["dn"], raw=dict(item.get("raw_attributes") or {}))
                elif kind == "searchResRef":
                    self._check_reference(request, item.get("uri") or [])
            cookie = self._next_cookie(request, result) if request.page_size else None
            if on_page is not None:
                on_page(pages, entries)
            if not cookie:
                break
        log.debug("ldap_search_done", server=self.url, entries=entries, pages=pages)

    def read_entry(self, dn: str, attributes: Sequence[str]) -> Entry | None:
        """One entry by DN (a base search), or None when it does not exist."""
        request = SearchRequest(dn, "(objectClass=*)", "base", tuple(attributes), page_size=0)
        try:
            return next(iter(self.search(request)), None)
        except LdapSearchError as exc:
            if exc.result_code == 32:  # noSuchObject
                return None
            raise

    def _run(self, request: SearchRequest, cookie: bytes | None, progress: str) -> dict[str, Any]:
        paged = request.page_size > 0
        try:
            self._conn.search(
                search_base=request.base,
                search_filter=request.filter,
                search_scope=_SCOPES[request.scope],
                dereference_aliases=DEREF_NEVER,
                attributes=list(request.attributes) or None,
                paged_size=request.page_size if paged else None,
                paged_criticality=paged,
                paged_cookie=cookie,
            )
        except (LDAPException, OSError) as exc:
            timed_out = "timed out" in str(exc).lower()
            raise SourceError(
                f"LDAP {self.url}: search of {request.base!r} failed {progress}: {_reason(exc)}",
                hint=(
                    f"the server did not answer within timeout_seconds "
                    f"({self._settings.timeout_seconds:g} s)"
                    if timed_out
                    else "the connection to the server was lost mid-read; nothing was synced "
                    "from this partial read. Check the server and retry"
                ),
            ) from None
        result: dict[str, Any] = self._conn.result or {}
        code = result.get("result")
        if code != 0:
            description = result.get("description") or f"result code {code}"
            message = (result.get("message") or "").strip()
            number = code if isinstance(code, int) else None
            raise LdapSearchError(
                f"LDAP {self.url}: search of {request.base!r} failed {progress}: {description}"
                + (f" ({message[:200]})" if message else ""),
                result_code=number,
                hint=_RESULT_HINTS.get(number or -1),
            )
        return result

    def _next_cookie(self, request: SearchRequest, result: dict[str, Any]) -> bytes | None:
        control = (result.get("controls") or {}).get(PAGED_RESULTS_OID)
        if control is None:
            raise SourceError(
                f"LDAP {self.url}: the server answered a paged search of {request.base!r} "
                "without the paging control; the read may be incomplete",
                hint="the server or a proxy in between does not support RFC 2696 paging",
            )
        cookie = (control.get("value") or {}).get("cookie")
        return bytes(cookie) if cookie else None

    def _check_reference(self, request: SearchRequest, uris: Sequence[str]) -> None:
        lowered = [uri.lower() for uri in uris]
        if lowered and all(
            any(part in uri for part in _AD_PARTITIONS) for uri in lowered
        ):  # AD's DNS and configuration partitions: no people there
            log.debug("ldap_reference_ignored", server=self.url, uris=list(uris))
            return
        raise SourceError(
            f"LDAP {self.url}: part of {request.base!r} is held by another server "
            f"(referral to {', '.join(uris) or 'an unnamed server'}); referrals are not followed",
            hint="narrow base_dn to the part this server holds, or use AD's global catalog "
            "(port 3268) to read the whole forest",
        )


def _fail(url: str, step: str, reason: str, hint: str) -> SourceError:
    return SourceError(f"LDAP {url}: {step} failed: {reason}", hint=hint)


def _bind_one(url: str, settings: ConnectSettings, password: str | None) -> Directory:
    """Connect, StartTLS and bind to one server; SourceError naming the step that failed."""
    tls = _VerifyingTls(settings.ca_file, settings.tls_verify)
    timeout = settings.timeout_seconds
    server = Server(url, tls=tls, connect_timeout=timeout, get_info=NONE)
    conn = Connection(
        server,
        user=settings.bind_dn,
        password=password,
        raise_exceptions=False,
        read_only=True,
        receive_timeout=max(1, math.ceil(timeout)),  # ldap3 packs it as whole seconds
        auto_referrals=False,
        check_names=False,
    )
    step = "connect"
    try:
        conn.open()
        if settings.start_tls:
            step = "StartTLS"
            if not conn.start_tls(read_server_info=False):
                raise LDAPException(conn.last_error or "the server refused StartTLS")
        step = "bind"
        if not conn.bind():
            raise _bind_error(url, settings, conn.result or {})
    except SourceError:
        _close_quietly(conn)
        raise
    except (LDAPException, OSError) as exc:
        _close_quietly(conn)
        raise _step_error(url, step, exc, timeout) from None
    return Directory(conn, url, settings)


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()
    # ldap3 leaves the socket of a failed connect (or a dead connection) open.
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _step_error(url: str, step: str, exc: BaseException, timeout: float) -> SourceError:
    reason = _reason(exc)
    if _is_tls_problem(exc):
        return _fail(url, f"{step} (TLS)", reason, _TLS_HINT)
    if "timed out" in reason.lower():
        return _fail(
            url,
            step,
            reason,
            f"no answer within timeout_seconds ({timeout:g} s): check the host, port and firewall",
        )
    if step == "StartTLS":
        return _fail(url, step, reason, "the server may not offer StartTLS: try ldaps://")
    return _fail(
        url,
        step,
        reason,
        "check the host name and port in url, that the server runs, "
        "and that no firewall blocks the way",
    )


def _bind_error(url: str, settings: ConnectSettings, result: dict[str, Any]) -> SourceError:
    description = result.get("description") or "refused"
    message = (result.get("message") or "").strip()
    who = settings.bind_dn or "anonymous"
    return _fail(
        url,
        f"bind as {who!r}",
        description + (f" ({message[:200]})" if message else ""),
        "check bind_dn and the bind password (bind_password_file); in AD, the account may "
        "be disabled, locked or have an expired password (see the data code in the message)",
    )


def connect(settings: ConnectSettings, password: str | None) -> Directory:
    """A directory bound on the first server that accepts; SourceError naming every failure."""
    failures: list[SourceError] = []
    for url in settings.urls:
        try:
            directory = _bind_one(url, settings, password)
        except SourceError as exc:
            if len(settings.urls) > 1:  # failover is worth a warning; a lone failure is raised
                log.warning("ldap_server_failed", server=url, error=exc.message)
            failures.append(exc)
            continue
        log.debug("ldap_bound", server=url, bind_dn=settings.bind_dn or "anonymous")
        return directory
    if len(failures) == 1:
        raise failures[0]
    raise SourceError(
        "no LDAP server could be used: " + "; ".join(f.message for f in failures),
        hint=failures[-1].hint,
    )
