"""A private OpenLDAP server for tests: own config, TLS with a throwaway CA, offline-loaded data.

slapd runs in the foreground from a temp dir on 127.0.0.1 (one ldap:// and one ldaps://
port), loaded with `slapadd` before it starts. Three bind identities besides the rootdn:
- FULL: no size limits (paged or not): reads everything;
- LIMITED: size limit 1,000, but paged searches may return any total;
- DEFAULT: slapd's default size limit (500), which also caps paged totals: the silent
  truncation ldap3 does not raise for.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pyasn1 vs ldap3 2.9.1 at import
    from ldap3 import Connection, Server

DATA_DIR = Path(__file__).parent / "data" / "ldap"
BASE_DN = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PW = "root-test-pw"
PEOPLE_DN = f"ou=people,{BASE_DN}"
STAFF_DN = f"ou=staff,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
FULL_DN, FULL_PW = f"cn=sync-full,ou=services,{BASE_DN}", "sync-full-test-pw"
LIMITED_DN, LIMITED_PW = f"cn=sync-limited,ou=services,{BASE_DN}", "sync-limited-test-pw"
DEFAULT_DN, DEFAULT_PW = f"cn=sync-default,ou=services,{BASE_DN}", "sync-default-test-pw"
SERVER_SIZE_LIMIT = 500
LIMITED_SIZE_LIMIT = 1000
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"


class SlapdError(RuntimeError):
    """slapd could not be set up or started (the message carries its output)."""


def slapd_available() -> bool:
    """Whether slapd, slapadd and openssl are installed."""
    return all(os.access(p, os.X_OK) for p in (SLAPD, SLAPADD)) and bool(shutil.which("openssl"))


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""

    ca_cert: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SlapdError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_tls(directory: Path) -> TlsFiles:
    """Generate a CA and a server certificate signed by it (EC P-256, valid two days)."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=timetrack-sync test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost", cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    return TlsFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")


def people_ldif(count: int, parent: str = PEOPLE_DN, start: int = 1) -> str:
    """`count` inetOrgPerson entries uid=u00001.. under `parent`."""
    chunks = []
    for n in range(start, start + count):
        chunks.append(
            f"dn: uid=u{n:05d},{parent}\n"
            "objectClass: inetOrgPerson\n"
            f"uid: u{n:05d}\ncn: Person {n}\nsn: Person{n}\ngivenName: Given{n}\n"
            f"mail: u{n:05d}@example.org\nemployeeNumber: {n}\n\n"
        )
    return "".join(chunks)


def fixture_ldif(*names: str) -> str:
    """The LDIF fixtures from tests/data/ldap, joined."""
    return "\n".join((DATA_DIR / name).read_text(encoding="utf-8").strip() + "\n" for name in names)


def _config(workdir: Path, tls: TlsFiles | None, suffix: str) -> str:
    includes = "".join(f"include /etc/ldap/schema/{name}.schema\n" for name in SCHEMAS)
    tls_lines = (
        f"TLSCACertificateFile {tls.ca_cert}\nTLSCertificateFile {tls.cert}\n"
        f"TLSCertificateKeyFile {tls.key}\n"
        if tls
        else ""
    )
    return f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args
{tls_lines}sizelimit {SERVER_SIZE_LIMIT}

database mdb
maxsize 1073741824
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
rootpw {ROOT_PW}
directory {workdir}/data
index objectClass eq
index uid eq
limits dn.exact="{FULL_DN}" size=unlimited size.prtotal=unlimited
limits dn.exact="{LIMITED_DN}" size.soft={LIMITED_SIZE_LIMIT} size.hard={LIMITED_SIZE_LIMIT} size.pr={LIMITED_SIZE_LIMIT} size.prtotal=unlimited
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by anonymous auth
"""  # noqa: E501


@dataclass
class Slapd:
    """A running private slapd."""

    workdir: Path
    port: int
    ldaps_port: int | None
    tls: TlsFiles | None
    process: subprocess.Popen[bytes]
    suffix: str = BASE_DN

    @property
    def root_dn(self) -> str:
        """The rootdn (password ROOT_PW)."""
        return f"cn=admin,{self.suffix}"

    @property
    def url(self) -> str:
        """The ldap:// URL."""
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """The ldaps:// URL (the server was started with TLS)."""
        assert self.ldaps_port is not None
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @contextmanager
    def admin(self) -> Iterator[Connection]:
        """A connection bound as the rootdn, for changing the directory in tests."""
        conn = Connection(
            Server(self.url), user=self.root_dn, password=ROOT_PW, raise_exceptions=True
        )
        conn.bind()
        try:
            yield conn
        finally:
            conn.unbind()

    def stop(self) -> None:
        """Stop slapd (SIGTERM) and wait for it to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def kill(self) -> None:
        """Kill slapd at once (SIGKILL), as a crash or a dropped connection would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_slapd(
    workdir: Path, ldif: str, *, tls: TlsFiles | None = None, suffix: str = BASE_DN
) -> Slapd:
    """Write a config, load `ldif` offline and start slapd; SlapdError with its output."""
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    conf = workdir / "slapd.conf"
    conf.write_text(_config(workdir, tls, suffix))
    (workdir / "data.ldif").write_text(ldif, encoding="utf-8")
    load = subprocess.run(
        [SLAPADD, "-q", "-f", str(conf), "-l", str(workdir / "data.ldif")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if load.returncode != 0:
        raise SlapdError(f"slapadd failed: {load.stderr.strip()[-2000:]}")
    port = free_port()
    ldaps_port = free_port() if tls else None
    urls = f"ldap://127.0.0.1:{port}/" + (f" ldaps://127.0.0.1:{ldaps_port}/" if tls else "")
    log = (workdir / "slapd.log").open("wb")
    process = subprocess.Popen(
        [SLAPD, "-f", str(conf), "-h", urls, "-d", "0"], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    server = Slapd(workdir, port, ldaps_port, tls, process, suffix)
    _wait_until_listening(server)
    return server


def _wait_until_listening(server: Slapd, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            output = (server.workdir / "slapd.log").read_text(errors="replace")
            raise SlapdError(f"slapd exited with {server.process.returncode}: {output[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)  # polling for readiness, not waiting on timing
    server.kill()
    raise SlapdError(f"slapd did not listen on port {server.port} within {timeout:g} s")
