"""The sources' config models: an HR CSV export, an LDAP or Active Directory directory."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from sync.config.base import ConfigModel
from sync.config.paths import relative_to_config
from sync.config.secret_files import read_secret_file

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DELIMITERS = (",", ";", "\t", "|")


class CsvSourceConfig(ConfigModel):
    """An HR CSV export."""

    type: Literal["csv"] = "csv"
    path: Path
    encoding: str = "utf-8-sig"
    delimiter: str = "auto"

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, value: Path, info: ValidationInfo) -> Path:
        resolved = relative_to_config(value, info)
        assert resolved is not None  # a Path in, a Path out
        return resolved

    @field_validator("encoding")
    @classmethod
    def _check_encoding(cls, value: str) -> str:
        try:
            # rot13 and friends are codecs too, but not text encodings a file can be read with.
            if not getattr(codecs.lookup(value), "_is_text_encoding", True):
                raise LookupError(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding {value!r}; use utf-8, utf-8-sig, cp1252 or latin-1"
            ) from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _check_delimiter(cls, value: str) -> str:
        if value != "auto" and value not in _DELIMITERS:
            raise ValueError(f'must be auto or one of , ; | or "\\t" (got {value!r})')
        return value


def _check_ldap_urls(value: Any) -> Any:
    urls = value if isinstance(value, list) else [value]
    if not urls or not all(isinstance(u, str) for u in urls):
        raise ValueError("must be an LDAP URL or a list of them")
    for url in urls:
        if not url.lower().startswith(("ldap://", "ldaps://")):
            raise ValueError(f"must start with ldap:// or ldaps:// (got {url!r})")
    return value


def _check_ldap_filter(value: str) -> str:
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if not value.startswith("(") or depth != 0:
        raise ValueError(f"must be an LDAP filter in balanced parentheses (got {value!r})")
    return value


_SCOPES = {"one": "level", "onelevel": "level"}


class LdapSourceConfig(ConfigModel):
    """An LDAP or Active Directory directory."""

    type: Literal["ldap"] = "ldap"
    url: Annotated[str | list[str], BeforeValidator(_check_ldap_urls)]
    start_tls: bool = Field(default=False, validate_default=True)
    ca_file: str | None = None
    tls_verify: bool = True
    bind_dn: str | None = None
    bind_password: SecretStr | None = Field(default=None, min_length=1)
    bind_password_file: Path | None = Field(default=None, validate_default=True)
    base_dn: str
    scope: Annotated[
        Literal["base", "level", "subtree"],
        BeforeValidator(lambda v: _SCOPES.get(v, v) if isinstance(v, str) else v),
    ] = "subtree"
    filter: str = "(objectClass=person)"
    attributes: list[str] = Field(default_factory=list)
    page_size: int = Field(default=500, ge=1, le=10000)
    timeout_seconds: float = Field(default=30.0, gt=0)
    flavor: Literal["openldap", "active_directory"] = "openldap"
    groups: dict[str, str] = Field(default_factory=dict)
    _where: str = PrivateAttr(default="source")

    def urls(self) -> list[str]:
        """The server URLs, tried in order."""
        return [self.url] if isinstance(self.url, str) else list(self.url)

    @field_validator("start_tls")
    @classmethod
    def _check_start_tls(cls, value: bool, info: ValidationInfo) -> bool:
        urls = info.data.get("url")
        urls = [urls] if isinstance(urls, str) else urls or []
        if value and any(u.lower().startswith("ldaps://") for u in urls):
            raise ValueError("start_tls cannot be used with ldaps:// URLs (already TLS)")
        return value

    @field_validator("ca_file")
    @classmethod
    def _resolve_ca(cls, value: str | None, info: ValidationInfo) -> str | None:
        path = relative_to_config(Path(value), info) if value else None
        return str(path) if path else None

    @field_validator("bind_password_file")
    @classmethod
    def _check_password_source(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        has_password = info.data.get("bind_password") is not None
        if "bind_password" not in info.data:
            return relative_to_config(
                value, info
            )  # bind_password itself is invalid: reported there
        if value is not None and has_password:
            raise ValueError("set bind_password or bind_password_file, not both")
        if info.data.get("bind_dn") and value is None and not has_password:
            raise ValueError("bind_dn is set: also set bind_password_file (or bind_password)")
        if not info.data.get("bind_dn") and (value is not None or has_password):
            raise ValueError("a bind password needs bind_dn (leave both out for anonymous bind)")
        return relative_to_config(value, info)

    @field_validator("filter")
    @classmethod
    def _check_filter(cls, value: str) -> str:
        return _check_ldap_filter(value)

    @field_validator("groups")
    @classmethod
    def _check_groups(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"group name {name!r} must be a name usable as groups.<name>")
        return value

    def read_bind_password(self) -> str | None:
        """The bind password (file read now), or None for an anonymous bind."""
        if self.bind_password is not None:
            return self.bind_password.get_secret_value()
        if self.bind_password_file is None:
            return None
        return read_secret_file(self.bind_password_file, f"{self._where}.bind_password_file")
