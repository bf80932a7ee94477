"""TLS to a real slapd with a throwaway CA: ldaps://, StartTLS, verification on by default."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from sync.errors import SourceError
from sync.sources.ldap import LdapSource
from tests.integration.conftest import LdapConfigFactory
from tests.slapd import Slapd

pytestmark = pytest.mark.ldap


def test_ldaps_with_the_right_ca_file_reads(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    assert slapd_server.tls is not None
    config = ldap_config(url=slapd_server.ldaps_url, ca_file=str(slapd_server.tls.ca_cert))
    assert len(list(LdapSource(config).read())) == 6


def test_start_tls_with_the_right_ca_file_reads(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    assert slapd_server.tls is not None
    config = ldap_config(start_tls=True, ca_file=str(slapd_server.tls.ca_cert))
    assert len(list(LdapSource(config).read())) == 6


def test_ldaps_certificate_from_an_unknown_ca_is_refused(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    with pytest.raises(SourceError) as caught:
        list(LdapSource(ldap_config(url=slapd_server.ldaps_url)).read())
    message = str(caught.value)
    assert slapd_server.ldaps_url in message
    assert "connect (TLS) failed: certificate verify failed" in message
    assert "ca_file" in message


def test_start_tls_certificate_from_an_unknown_ca_is_refused(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    with pytest.raises(SourceError) as caught:
        list(LdapSource(ldap_config(start_tls=True)).read())
    assert "StartTLS (TLS) failed: certificate verify failed" in str(caught.value)


def test_a_ca_file_that_did_not_sign_the_certificate_is_refused(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    assert slapd_server.tls is not None
    # The server certificate itself is not a CA: trusting it must not verify the chain.
    config = ldap_config(url=slapd_server.ldaps_url, ca_file=str(slapd_server.tls.cert))
    with pytest.raises(SourceError, match="certificate verify failed"):
        list(LdapSource(config).read())


def test_tls_verify_false_reads_but_warns_loudly(
    slapd_server: Slapd, ldap_config: LdapConfigFactory
) -> None:
    config = ldap_config(url=slapd_server.ldaps_url, tls_verify=False)
    with capture_logs() as logs:
        assert len(list(LdapSource(config).read())) == 6
    warnings = [e for e in logs if e["event"] == "ldap_tls_verify_disabled"]
    assert warnings and warnings[0]["log_level"] == "warning"
