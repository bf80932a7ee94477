"""Config loading: the example validates and documents every key; errors name file and key."""

from __future__ import annotations

import os
import re
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from structlog.testing import capture_logs

from sync.config import (
    AppConfig,
    CsvSourceConfig,
    JobConfig,
    LdapSourceConfig,
    load_config,
    resolve_config_path,
)
from sync.config.secret_files import exposed
from sync.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.yaml"
SECRET = "s3cr3t-Value-never-shown"  # a test constant, not a real secret


def base_config(**overrides: Any) -> dict[str, Any]:
    """A minimal valid config as a dict."""
    config: dict[str, Any] = {
        "timetrack": {
            "url": "https://acme.example.com/api/v2/ext",
            "api_key": "key",
            "api_secret": "secret",
        },
        "jobs": [
            {
                "name": "hr",
                "source": {"type": "csv", "path": "people.csv"},
                "mapping": {
                    "username": "{{ login }}",
                    "firstName": "{{ first }}",
                    "lastName": "{{ last }}",
                    "email": "{{ mail }}",
                },
            }
        ],
    }
    config.update(overrides)
    return config


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    path.chmod(0o600)
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env or {})
    return info.value.problems


def ldap_job(**source: Any) -> dict[str, Any]:
    job: dict[str, Any] = base_config()["jobs"][0]
    job["source"] = {"type": "ldap", "url": "ldap://dir.example.com", "base_dn": "dc=x"} | source
    return job


# ---- the example file ------------------------------------------------------------------------


def test_example_config_validates_with_its_env_vars() -> None:
    config = load_config(EXAMPLE, {"TIMETRACK_API_KEY": "key"})

    assert [job.name for job in config.jobs] == ["hr", "directory"]
    assert config.jobs[0].policy.delete is True
    assert config.jobs[1].active_expression() == "{{ not disabled }}"
    assert config.job("directory").interval_seconds() == 3600.0


def test_example_config_gives_client_settings_when_the_secret_file_exists(tmp_path: Path) -> None:
    secret_file = tmp_path / "api_secret"
    secret_file.write_text("from-file\n")
    secret_file.chmod(0o600)
    config = load_config(EXAMPLE, {"TIMETRACK_API_KEY": "key"})
    timetrack = config.timetrack.model_copy(update={"api_secret_file": secret_file})

    settings = timetrack.client_settings()

    assert (settings.api_key, settings.api_secret) == ("key", "from-file")
    assert settings.concurrency == 8


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, info in model.model_fields.items():
        if not (model is AppConfig and name == "path"):  # set by load_config, not a YAML key
            names.add(info.alias or name)  # the YAML key (`from`, not `sender`)
        for inner in _models_in(info.annotation):
            names |= _field_names(inner, seen)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def test_every_config_key_is_documented_in_the_example() -> None:
    names = _field_names(AppConfig, set())
    text = EXAMPLE.read_text(encoding="utf-8")
    # A key counts as documented when it appears as `key:` (commented out or not).
    missing = [n for n in sorted(names) if not re.search(rf"^[\s#-]*{n}:", text, re.MULTILINE)]

    assert len(names) > 40
    assert missing == []


# ---- error reporting -------------------------------------------------------------------------


def test_unknown_key_suggests_the_closest_one(tmp_path: Path) -> None:
    data = base_config()
    data["jobs"][0]["policy"] = {"max_delets": 3}

    problems = problems_of(write(tmp_path, data))

    assert problems == [
        f"{tmp_path / 'config.yaml'}: jobs[0].policy.max_delets: "
        "unknown key; did you mean 'max_deletes'?"
    ]


def test_all_problems_are_reported_at_once_with_file_and_key_path(tmp_path: Path) -> None:
    data = base_config(logging={"level": "loud"})
    data["timetrack"]["concurrency"] = 99
    data["jobs"][0]["policy"] = {"max_deletes": -1, "on_rename": "keep"}
    path = write(tmp_path, data)

    with pytest.raises(ConfigError) as info:
        load_config(path, {})

    error = info.value
    assert error.message == f"{path}: 4 problems"
    assert "config.example.yaml" in (error.hint or "")
    assert error.exit_code == 2
    assert f"{path}: jobs[0].policy.max_deletes: must be >= 0 (got -1)" in error.problems
    assert f"{path}: timetrack.concurrency: must be <= 32 (got 99)" in error.problems
    assert any("logging.level: must be one of" in p for p in error.problems)
    assert any("jobs[0].policy.on_rename: must be one of" in p for p in error.problems)


def test_wrong_types_name_the_key_path(tmp_path: Path) -> None:
    data = base_config()
    data["timetrack"]["timeout_seconds"] = "soon"
    data["jobs"][0]["policy"] = {"delete": "maybe", "protected": "admin"}

    problems = problems_of(write(tmp_path, data))

    assert any(
        p.endswith("timetrack.timeout_seconds: must be a number (got 'soon')") for p in problems
    )
    assert any("jobs[0].policy.delete: must be true or false" in p for p in problems)
    assert any("jobs[0].policy.protected: must be a list" in p for p in problems)


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "timetrack:\n  url: [unclosed\njobs: []\n")

    with pytest.raises(ConfigError, match=re.escape(f"{path}:3:")) as info:
        load_config(path, {})

    assert "YAML syntax error" in info.value.message


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "timetrack: {}\njobs: []\ntimetrack: {}\n")

    with pytest.raises(ConfigError, match=r"config.yaml:3:1: .*'timetrack' twice"):
        load_config(path, {})


def test_yaml_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    path = write(tmp_path, "\n".join(lines) + "\n")

    with pytest.raises(ConfigError, match="YAML bomb"):
        load_config(path, {})


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a: &a [1, *a]\n")

    with pytest.raises(ConfigError, match="recursive alias"):
        load_config(path, {})


def test_a_modest_alias_is_fine(tmp_path: Path) -> None:
    text = """\
timetrack: {url: "https://tt.example.com", api_key: k, api_secret: s}
jobs:
  - &hr
    name: hr
    source: {type: csv, path: people.csv}
    mapping: &mapping {username: a, firstName: b, lastName: c, email: d}
  - <<: *hr
    name: hr2
    mapping: *mapping
"""
    config = load_config(write(tmp_path, text), {})

    assert [job.name for job in config.jobs] == ["hr", "hr2"]
    assert config.jobs[1].mapping == config.jobs[0].mapping


def test_missing_config_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", {})

    assert f"config file not found: {tmp_path / 'nope.yaml'}" in str(info.value)
    assert "/etc/timetrack-sync/config.yaml" in str(info.value)
    assert "TIMETRACK_SYNC_CONFIG" in str(info.value)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, ""), {})


def test_no_jobs_is_an_error(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, base_config(jobs=[])))

    assert problems == [f"{tmp_path / 'config.yaml'}: jobs: must list at least one job"]


def test_duplicate_job_names_are_reported(tmp_path: Path) -> None:
    data = base_config()
    data["jobs"].append(dict(data["jobs"][0]))

    problems = problems_of(write(tmp_path, data))

    assert problems == [
        f"{tmp_path / 'config.yaml'}: jobs[1].name: 'hr' is already used by jobs[0]; "
        "job names must be unique"
    ]


# ---- resolve_config_path ---------------------------------------------------------------------


def test_config_path_prefers_cli_then_env(tmp_path: Path) -> None:
    env = {"TIMETRACK_SYNC_CONFIG": "/from/env.yaml"}

    assert resolve_config_path("/from/cli.yaml", env) == Path("/from/cli.yaml")
    assert resolve_config_path(None, env) == Path("/from/env.yaml")


def test_config_path_falls_back_to_local_then_etc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(None, {}) == Path("/etc/timetrack-sync/config.yaml")

    (tmp_path / "config.yaml").write_text("x: 1\n")
    assert resolve_config_path(None, {}) == Path("config.yaml")


# ---- ${VAR} ----------------------------------------------------------------------------------


def test_env_vars_are_expanded_with_defaults_and_escapes(tmp_path: Path) -> None:
    data = base_config()
    data["timetrack"]["api_key"] = "${TT_KEY}"
    data["timetrack"]["concurrency"] = "${TT_CONC:-4}"
    data["jobs"][0]["mapping"]["language"] = "$${not_a_var}"

    config = load_config(write(tmp_path, data), {"TT_KEY": "k-123"})

    assert config.timetrack.api_key.get_secret_value() == "k-123"
    assert config.timetrack.concurrency == 4
    assert config.jobs[0].mapping["language"] == "${not_a_var}"


def test_unset_env_var_names_key_and_variable(tmp_path: Path) -> None:
    data = base_config()
    data["timetrack"]["api_key"] = "${TT_KEY}"

    problems = problems_of(write(tmp_path, data))

    assert len(problems) == 1
    assert "timetrack.api_key: environment variable TT_KEY is not set" in problems[0]
    assert "${TT_KEY:-default}" in problems[0]


# ---- secrets ---------------------------------------------------------------------------------


def _with_secret_file(tmp_path: Path, content: str, mode: int = 0o600) -> AppConfig:
    secret = tmp_path / "api_secret"
    secret.write_text(content)
    secret.chmod(mode)
    data = base_config()
    del data["timetrack"]["api_secret"]
    data["timetrack"]["api_secret_file"] = "api_secret"  # relative to the config's folder
    return load_config(write(tmp_path, data), {})


def test_secret_file_is_read_fresh_on_every_call(tmp_path: Path) -> None:
    config = _with_secret_file(tmp_path, "first\n")
    assert config.timetrack.client_settings().api_secret == "first"

    (tmp_path / "api_secret").write_text("rotated\r\n")

    assert config.timetrack.client_settings().api_secret == "rotated"


def test_world_readable_secret_file_logs_a_warning(tmp_path: Path) -> None:
    config = _with_secret_file(tmp_path, "s\n", mode=0o644)

    with capture_logs() as logs:
        config.timetrack.client_settings()

    warnings = [e for e in logs if e["event"] == "secret_file_permissions"]
    assert len(warnings) == 1
    assert warnings[0]["key"].endswith("timetrack.api_secret_file")
    assert warnings[0]["log_level"] == "warning"


@pytest.mark.parametrize(
    ("mode", "gid", "warns"),
    [
        (0o600, 50, False),
        (0o400, 50, False),
        (0o440, 7, False),  # Kubernetes: group-readable for the pod's fsGroup, our group
        (0o640, 50, True),  # readable by a group we are not in
        (0o604, 7, True),
        (0o660, 7, False),
    ],
)
def test_a_secret_file_is_exposed_when_others_or_a_foreign_group_may_read_it(
    mode: int, gid: int, warns: bool
) -> None:
    assert exposed(mode, gid, {7, 8}) is warns


def test_private_secret_file_logs_nothing(tmp_path: Path) -> None:
    config = _with_secret_file(tmp_path, "s\n")

    with capture_logs() as logs:
        config.timetrack.client_settings()

    assert logs == []


def test_missing_secret_file_names_key_and_path(tmp_path: Path) -> None:
    config = _with_secret_file(tmp_path, "s")
    (tmp_path / "api_secret").unlink()

    with pytest.raises(ConfigError) as info:
        config.timetrack.client_settings()

    text = str(info.value)
    assert "config.yaml: timetrack.api_secret_file" in text
    assert str(tmp_path / "api_secret") in text


def test_api_secret_and_file_are_exclusive_and_one_is_required(tmp_path: Path) -> None:
    both = base_config()
    both["timetrack"]["api_secret_file"] = "/x"
    neither = base_config()
    del neither["timetrack"]["api_secret"]

    assert any(
        "set api_secret or api_secret_file, not both" in p
        for p in problems_of(write(tmp_path, both))
    )
    assert any("neither is set" in p for p in problems_of(write(tmp_path, neither)))


def test_secrets_never_appear_in_repr_or_errors(tmp_path: Path) -> None:
    data = base_config(state={"url": f"mysql://sync:{SECRET}@db/x"})
    data["timetrack"]["api_secret"] = SECRET
    data["jobs"][0] = ldap_job(bind_dn="cn=sync", bind_password=SECRET)
    data["jobs"].append(ldap_job(bind_password=[SECRET]))
    data["jobs"][1]["name"] = "second"

    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data), {})
    assert SECRET not in str(info.value)
    assert "mysql" in str(info.value) or "state.url" in str(info.value)

    del data["state"]
    del data["jobs"][1]
    config = load_config(write(tmp_path, data), {})
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert config.timetrack.read_api_secret() == SECRET
    source = config.jobs[0].source
    assert isinstance(source, LdapSourceConfig)
    assert source.read_bind_password() == SECRET


def test_world_readable_config_with_literal_secret_warns(tmp_path: Path) -> None:
    path = write(tmp_path, base_config())
    path.chmod(0o644)

    with capture_logs() as logs:
        load_config(path, {})

    assert [e["key"] for e in logs if e["event"] == "config_literal_secret_world_readable"] == [
        "timetrack.api_secret"
    ]


# ---- jobs ------------------------------------------------------------------------------------


def _job(tmp_path: Path, **job: Any) -> JobConfig:
    data = base_config()
    data["jobs"][0].update(job)
    return load_config(write(tmp_path, data), {}).jobs[0]


def _job_problems(tmp_path: Path, **job: Any) -> list[str]:
    data = base_config()
    data["jobs"][0].update(job)
    return [p.split(": ", 1)[1] for p in problems_of(write(tmp_path, data))]


def test_cron_schedule_is_validated(tmp_path: Path) -> None:
    assert _job(tmp_path, schedule="*/15 * * * *").schedule == "*/15 * * * *"
    problems = _job_problems(tmp_path, schedule="61 * * * *")
    assert len(problems) == 1
    assert problems[0].startswith("jobs[0].schedule: must be a 5-field cron expression")
    assert _job_problems(tmp_path, schedule="* * *")[0].startswith("jobs[0].schedule:")


@pytest.mark.parametrize(
    ("interval", "seconds"), [("30s", 30.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0)]
)
def test_interval_is_parsed_into_seconds(tmp_path: Path, interval: str, seconds: float) -> None:
    assert _job(tmp_path, interval=interval).interval_seconds() == seconds


def test_bad_interval_and_both_schedule_kinds_are_errors(tmp_path: Path) -> None:
    assert _job_problems(tmp_path, interval="15 minutes")[0].startswith("jobs[0].interval: must be")
    both = _job_problems(tmp_path, interval="15m", schedule="* * * * *")
    assert both == ["jobs[0].interval: set schedule or interval, not both"]
    assert _job(tmp_path).interval_seconds() is None


def test_job_name_must_be_lowercase_slug(tmp_path: Path) -> None:
    assert _job_problems(tmp_path, name="HR Job")[0].startswith("jobs[0].name: must use only a-z")


def test_mapping_refuses_password_and_needs_required_fields(tmp_path: Path) -> None:
    problems = _job_problems(tmp_path, mapping={"username": "x", "password": "p", "colour": "c"})

    assert any(
        p.startswith("jobs[0].mapping.password: cannot be mapped: passwords") for p in problems
    )
    assert any(
        p.startswith("jobs[0].mapping.colour: is not a TimeTrack user field") for p in problems
    )


def test_mapping_missing_required_fields_is_an_error(tmp_path: Path) -> None:
    problems = _job_problems(tmp_path, mapping={"username": "x", "email": "e"})

    assert problems == [
        "jobs[0].mapping: must map username, firstName, lastName, email "
        "(missing: firstName, lastName)"
    ]


def test_match_on_must_be_mapped(tmp_path: Path) -> None:
    problems = _job_problems(tmp_path, match_on="personalNumber")

    assert problems == [
        "jobs[0].match_on: 'personalNumber' is not mapped; "
        "add mapping.personalNumber or match on a mapped field"
    ]


def test_active_directory_defaults_active_to_not_disabled(tmp_path: Path) -> None:
    data = base_config()
    data["jobs"] = [
        ldap_job(flavor="active_directory") | {"name": "ad"},
        ldap_job() | {"name": "openldap"},
        ldap_job(flavor="active_directory") | {"name": "explicit", "active": "{{ x }}"},
    ]
    jobs = load_config(write(tmp_path, data), {}).jobs

    assert [job.active_expression() for job in jobs] == ["{{ not disabled }}", True, "{{ x }}"]
    assert jobs[0].active is None


def test_csv_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    data = base_config()
    path = write(tmp_path / "etc", data)

    config = load_config(path, {})

    source = config.jobs[0].source
    assert isinstance(source, CsvSourceConfig)
    assert source.path == tmp_path / "etc" / "people.csv"


def test_csv_encoding_and_delimiter_are_checked(tmp_path: Path) -> None:
    bad = {"type": "csv", "path": "p.csv", "encoding": "klingon", "delimiter": "::"}
    problems = _job_problems(tmp_path, source=bad)

    assert [p.split(":")[0] for p in problems] == [
        "jobs[0].source.encoding",
        "jobs[0].source.delimiter",
    ]
    tab = {"type": "csv", "path": "p.csv", "encoding": "cp1252", "delimiter": "\t"}
    source = _job(tmp_path, source=tab).source
    assert isinstance(source, CsvSourceConfig)
    assert source.delimiter == "\t"


def test_policy_protected_usernames_are_casefolded(tmp_path: Path) -> None:
    job = _job(tmp_path, policy={"protected": ["API-Admin"], "delete": True})
    policy = job.policy.to_policy()

    assert policy.protected == frozenset({"api-admin"})
    assert policy.delete is True
    assert _job(tmp_path).policy.to_policy().delete is False


def test_unknown_job_name_lists_known_jobs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base_config()), {})

    with pytest.raises(ConfigError, match="no job named 'nope'; known jobs: hr"):
        config.job("nope")


# ---- LDAP and others -------------------------------------------------------------------------


def _ldap_problems(tmp_path: Path, **source: Any) -> list[str]:
    data = base_config(jobs=[ldap_job(**source)])
    return [p.split(": ", 1)[1] for p in problems_of(write(tmp_path, data))]


def test_start_tls_with_ldaps_is_an_error(tmp_path: Path) -> None:
    problems = _ldap_problems(tmp_path, url=["ldaps://a", "ldaps://b"], start_tls=True)

    assert problems == [
        "jobs[0].source.start_tls: start_tls cannot be used with ldaps:// URLs (already TLS)"
    ]


def test_ldap_url_scheme_and_limits_are_checked(tmp_path: Path) -> None:
    problems = _ldap_problems(tmp_path, url="http://dir", page_size=0, flavor="ad")

    assert [p.split(":")[0] for p in problems] == [
        "jobs[0].source.url",
        "jobs[0].source.page_size",
        "jobs[0].source.flavor",
    ]


def test_bind_dn_needs_a_password_and_anonymous_bind_is_allowed(tmp_path: Path) -> None:
    problems = _ldap_problems(tmp_path, bind_dn="cn=sync")
    assert problems[0].startswith("jobs[0].source.bind_password_file: bind_dn is set")

    config = load_config(write(tmp_path, base_config(jobs=[ldap_job()])), {})
    source = config.jobs[0].source
    assert isinstance(source, LdapSourceConfig)
    assert source.read_bind_password() is None


def test_bind_password_file_is_read_and_missing_file_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("bindpw\n")
    (tmp_path / "pw").chmod(0o600)
    job = ldap_job(bind_dn="cn=sync", bind_password_file="pw")
    source = load_config(write(tmp_path, base_config(jobs=[job])), {}).jobs[0].source
    assert isinstance(source, LdapSourceConfig)
    assert source.read_bind_password() == "bindpw"

    os.unlink(tmp_path / "pw")
    with pytest.raises(ConfigError, match=r"jobs\[0\]\.source\.bind_password_file: cannot read"):
        source.read_bind_password()


def test_plain_http_to_a_remote_host_warns_but_loopback_does_not(tmp_path: Path) -> None:
    remote = base_config()
    remote["timetrack"]["url"] = "http://tt.example.com/api/v2/ext"
    local = base_config()
    local["timetrack"]["url"] = "http://127.0.0.1:8080/api/v2/ext"

    with capture_logs() as logs:
        load_config(write(tmp_path, remote), {})
        load_config(write(tmp_path, local), {})

    assert [e.get("host") for e in logs if e["event"] == "config_insecure_url"] == [
        "tt.example.com"
    ]


def test_state_url_must_be_sqlite_or_postgresql(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base_config(state={"url": "postgresql://u@h/db"})), {})
    assert config.state.url == "postgresql+psycopg://u@h/db"

    problems = problems_of(write(tmp_path, base_config(state={"url": "mysql://h/db"})))
    assert problems[0].split(": ")[1] == "state.url"


def test_defaults_match_the_documented_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base_config()), {})

    assert config.state.url == "sqlite:////var/lib/timetrack-sync/state.db"
    assert (config.logging.level, config.logging.format, config.metrics.listen) == (
        "info",
        "auto",
        None,
    )
    assert (config.timetrack.concurrency, config.timetrack.timeout_seconds) == (8, 30.0)
    assert config.jobs[0].match_on == "username"
    assert config.jobs[0].policy.protected == []


def test_offboarding_durations_take_a_unit_or_zero(tmp_path: Path) -> None:
    data = base_config()
    data["jobs"][0]["policy"] = {
        "leaver_grace": "2d",
        "delete_after": 0,
        "delete_retry_after": "12h",
        "lock_leavers": False,
    }
    policy = load_config(write(tmp_path, data), {}).jobs[0].policy.to_policy()
    assert (policy.leaver_grace, policy.delete_after, policy.delete_retry_after) == (
        timedelta(days=2),
        timedelta(0),
        timedelta(hours=12),
    )
    assert policy.lock_leavers is False
    defaults = load_config(write(tmp_path, base_config()), {}).jobs[0].policy.to_policy()
    assert (defaults.leaver_grace, defaults.delete_retry_after) == (timedelta(0), timedelta(30))
    assert defaults.lock_leavers is True


@pytest.mark.parametrize("value", ["2 days", 30, "1w", "-1d", True])
def test_a_duration_without_a_unit_names_the_key_and_the_forms(tmp_path: Path, value: Any) -> None:
    data = base_config()
    data["jobs"][0]["policy"] = {"leaver_grace": value}
    (problem,) = problems_of(write(tmp_path, data))
    assert "jobs[0].policy.leaver_grace: must be 0 or a number and a unit s/m/h/d" in problem
    assert repr(value) in problem
