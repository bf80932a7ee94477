"""The mapping: literals and sandboxed templates, typed coercion, skips and config errors."""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from sync.errors import MappingError
from sync.mapping import Mapper, _Expression, compile_expression, parse_bool
from sync.model import DesiredUser, Person, Skipped
from sync.sandbox import sandbox

MAPPING: dict[str, Any] = {
    "username": "{{ email.split('@')[0] | lower }}",
    "firstName": "{{ first_name }}",
    "lastName": "{{ last_name }}",
    "email": "{{ email | lower }}",
    "personalNumber": "{{ employee_id }}",
    "language": "{{ language | default('de', true) }}",
    "admin": False,
    "teamLead": "{{ role == 'manager' }}",
}
ACTIVE = "{{ status == 'active' }}"
TODAY = date(2026, 6, 15)


def person(origin: str = "people.csv:2", **attributes: Any) -> Person:
    record = {
        "employee_id": " 1001 ",
        "first_name": "Jörg",
        "last_name": "Müller",
        "email": "Joerg.Mueller@Example.com",
        "role": "manager",
        "status": "active",
        "language": "",
    }
    record.update(attributes)
    return Person(attributes=record, origin=origin)


def mapper(match_on: str = "personalNumber", active: str | bool = ACTIVE, **fields: Any) -> Mapper:
    return Mapper({**MAPPING, **fields}, active, match_on)


def desired(result: DesiredUser | Skipped) -> DesiredUser:
    assert isinstance(result, DesiredUser), result
    return result


def skipped(result: DesiredUser | Skipped) -> Skipped:
    assert isinstance(result, Skipped), result
    return result


def test_maps_a_record_to_typed_fields() -> None:
    user = desired(mapper().map(person(), today=TODAY))
    assert user.fields == {
        "username": "joerg.mueller",
        "firstName": "Jörg",
        "lastName": "Müller",
        "email": "joerg.mueller@example.com",
        "personalNumber": "1001",
        "language": "de",
        "admin": False,
        "teamLead": True,
    }
    assert user.key == "1001"
    assert user.active is True
    assert user.origin == "people.csv:2"


def test_a_second_mapper_for_the_same_config_compiles_no_template() -> None:
    compile_expression.cache_clear()
    first = mapper()
    templates = len(MAPPING) - 1 + 1  # every field but admin's literal, and active
    assert compile_expression.cache_info().misses == templates
    second = mapper()  # e.g. the daemon's next run
    assert compile_expression.cache_info().misses == templates
    assert compile_expression.cache_info().hits == templates
    assert second.map(person(), today=TODAY) == first.map(person(), today=TODAY)


def test_a_column_named_like_a_jinja_global_wins_over_it() -> None:
    result = desired(mapper(firstName="{{ joiner }}").map(person(joiner="Ann"), today=TODAY))
    assert result.fields["firstName"] == "Ann"
    ranged = desired(mapper(firstName="{{ range(3) | join }}").map(person(), today=TODAY))
    assert ranged.fields["firstName"] == "012"  # the globals are there without such a column


def test_a_template_with_a_syntax_error_fails_in_every_mapper() -> None:
    for _ in range(2):  # errors are not cached away
        with pytest.raises(MappingError, match="syntax error"):
            mapper(firstName="{{ first_name ")


def test_fields_are_exactly_the_mapped_ones() -> None:
    mapping = {k: v for k, v in MAPPING.items() if k not in ("language", "admin", "teamLead")}
    user = desired(Mapper(mapping, True, "email").map(person(), today=TODAY))
    assert set(user.fields) == {"username", "firstName", "lastName", "email", "personalNumber"}
    assert user.key == "joerg.mueller@example.com"


def test_literals_are_used_as_given() -> None:
    user = desired(
        mapper(language="  en ", personalNumber=4711, admin=True).map(person(), today=TODAY)
    )
    assert user.fields["language"] == "en"
    assert user.fields["personalNumber"] == "4711"
    assert user.fields["admin"] is True


def test_a_string_without_template_marks_is_a_literal() -> None:
    user = desired(mapper(lastName="first_name").map(person(), today=TODAY))
    assert user.fields["lastName"] == "first_name"


def test_values_are_stripped() -> None:
    user = desired(mapper().map(person(first_name="  Ann  ", last_name="\tLee "), today=TODAY))
    assert (user.fields["firstName"], user.fields["lastName"]) == ("Ann", "Lee")


def test_empty_personal_number_becomes_none() -> None:
    user = desired(mapper(match_on="email").map(person(employee_id="  "), today=TODAY))
    assert user.fields["personalNumber"] is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("True", True),
        ("YES", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        ("", False),
        (" TRUE ", True),
    ],
)
def test_bool_fields_parse_common_spellings(text: str, value: bool) -> None:
    user = desired(mapper(admin="{{ is_admin }}").map(person(is_admin=text), today=TODAY))
    assert user.fields["admin"] is value
    assert parse_bool(text) is value


def test_bool_field_with_another_value_skips_the_person() -> None:
    result = skipped(mapper(admin="{{ is_admin }}").map(person(is_admin="maybe"), today=TODAY))
    assert result.reason == "admin: 'maybe' is not true or false"
    assert result.key == "1001"
    assert result.origin == "people.csv:2"


def test_active_template_is_coerced_to_bool() -> None:
    assert desired(mapper().map(person(status="terminated"), today=TODAY)).active is False
    assert (
        desired(mapper(active="{{ status }}").map(person(status="1"), today=TODAY)).active is True
    )
    assert (
        desired(mapper(active="{{ status }}").map(person(status=""), today=TODAY)).active is False
    )


def test_active_literal() -> None:
    assert desired(mapper(active=False).map(person(), today=TODAY)).active is False


def test_active_rendering_that_is_not_a_bool_skips_the_person() -> None:
    result = skipped(mapper(active="{{ status }}").map(person(status="maybe"), today=TODAY))
    assert result.reason == "active: 'maybe' is not true or false"


@pytest.mark.parametrize("email", ["jdoe", "j doe@example.com", "a@b@example.com", "a@localhost"])
def test_invalid_email_skips_the_person_with_the_reason(email: str) -> None:
    result = skipped(mapper().map(person(email=email), today=TODAY))
    assert result.reason == f"invalid email {email.lower()!r}"


def test_empty_first_name_skips_the_person() -> None:
    result = skipped(mapper().map(person(first_name="   "), today=TODAY))
    assert result.reason == "missing firstName"
    assert result.key == "1001"


def test_empty_match_key_skips_the_person_without_a_key() -> None:
    result = skipped(mapper().map(person(employee_id=""), today=TODAY))
    assert result.key is None
    assert "empty match key" in result.reason


def test_data_dependent_template_failure_skips_the_person() -> None:
    result = skipped(
        mapper(username="{{ email.split('@')[1] }}").map(person(email="x"), today=TODAY)
    )
    assert result.reason.startswith("mapping.username: cannot evaluate")


def test_undefined_name_is_a_mapping_error_naming_field_origin_and_names() -> None:
    with pytest.raises(MappingError) as caught:
        mapper(firstName="{{ given_name }}").map(person(origin="people.csv:7"), today=TODAY)
    message = str(caught.value)
    assert message.startswith("mapping.firstName: given_name is undefined")
    assert "people.csv:7" in message
    assert "first_name" in message
    assert "employee_id" in message


def test_name_with_default_may_be_absent() -> None:
    record = person()
    del record.attributes["language"]  # type: ignore[attr-defined]
    assert desired(mapper().map(record, today=TODAY)).fields["language"] == "de"


def test_template_syntax_error_names_the_field_and_template() -> None:
    with pytest.raises(MappingError, match=r"mapping\.firstName: template syntax error") as caught:
        mapper(firstName="{{ first_name ")
    assert "'{{ first_name '" in str(caught.value)


def test_active_syntax_error_names_active() -> None:
    with pytest.raises(MappingError, match=r"^active: template syntax error"):
        mapper(active="{% if %}")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ record.__class__ }}",
        "{{ record.clear() }}",
    ],
)
def test_sandbox_escape_is_a_mapping_error(template: str) -> None:
    with pytest.raises(MappingError, match="refused by the sandbox"):
        mapper(firstName=template).map(person(), today=TODAY)


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(10**9) %}x{% endfor %}",
        "{{ range(100000000) | list | length }}",
        "{% for i in range(9000) %}{{ first_name }}{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{{ 2 ** 100000000 }}",
    ],
)
def test_huge_output_or_range_is_refused_quickly(template: str) -> None:
    started = time.perf_counter()
    with pytest.raises(MappingError, match="refused by the sandbox"):
        mapper(firstName=template).map(person(), today=TODAY)
    assert time.perf_counter() - started < 2


def test_small_ranges_work() -> None:
    user = desired(mapper(lastName="{{ range(3) | join('-') }}").map(person(), today=TODAY))
    assert user.fields["lastName"] == "0-1-2"


def test_names_match_attributes_differing_only_in_case() -> None:
    record = Person(
        attributes={"Mail": "a@example.com", "GivenName": "Ann", "SN": "Lee", "UID": "alee"},
        origin="uid=alee,ou=people,dc=example,dc=com",
    )
    mapping = {
        "username": "{{ uid }}",
        "firstName": "{{ givenName }}",
        "lastName": "{{ sn }}",
        "email": "{{ mail }}",
    }
    user = desired(Mapper(mapping, True, "username").map(record, today=TODAY))
    assert user.fields == {
        "username": "alee",
        "firstName": "Ann",
        "lastName": "Lee",
        "email": "a@example.com",
    }


def test_exact_name_wins_over_a_case_variant() -> None:
    user = desired(mapper().map(person(First_Name="Other"), today=TODAY))
    assert user.fields["firstName"] == "Jörg"


def test_record_gives_access_to_any_column_name() -> None:
    user = desired(
        mapper(lastName="{{ record['last name'] }}").map(person(**{"last name": "X"}), today=TODAY)
    )
    assert user.fields["lastName"] == "X"


def test_referenced_names_lists_the_columns_the_templates_read() -> None:
    names = mapper().referenced_names()
    assert names == {"email", "first_name", "last_name", "employee_id", "role", "status"}


def test_referenced_names_excludes_record_groups_loop_variables_and_globals() -> None:
    m = mapper(
        lastName="{% for i in range(2) %}{{ record['x'] }}{% endfor %}{{ groups.admins }}",
        admin="{% set flag = dept == 'IT' %}{{ flag }}",
    )
    assert "dept" in m.referenced_names()
    assert not {"record", "groups", "i", "range", "flag"} & m.referenced_names()


def test_name_used_both_with_and_without_default_is_required() -> None:
    m = mapper(language="{{ language | default('de') }}{{ language }}")
    assert "language" in m.referenced_names()


def test_map_all_separates_desired_and_skipped() -> None:
    people = [person(), person(origin="people.csv:3", email="bad", employee_id="1002")]
    wanted, left_out = mapper().map_all(people, today=TODAY)
    assert [u.key for u in wanted] == ["1001"]
    assert [(s.origin, s.key) for s in left_out] == [("people.csv:3", "1002")]


@pytest.mark.parametrize("field", ["password", "enabled", "id"])
def test_fields_the_sync_manages_cannot_be_mapped(field: str) -> None:
    with pytest.raises(MappingError, match=rf"^mapping\.{field}: cannot be mapped: "):
        mapper(**{field: "x"})


def test_unmapped_required_field_is_a_mapping_error() -> None:
    mapping = {k: v for k, v in MAPPING.items() if k != "email"}
    with pytest.raises(MappingError, match=r"^mapping: must map .*\(missing: email\)$"):
        Mapper(mapping, True, "username")


def test_match_on_must_be_mapped() -> None:
    mapping = {k: v for k, v in MAPPING.items() if k != "personalNumber"}
    with pytest.raises(MappingError, match=r"^match_on: 'personalNumber' is not mapped"):
        Mapper(mapping, True, "personalNumber")


# ---- today and dates -------------------------------------------------------------------------

LEAVER = "{{ not exit_date or today <= exit_date | date('%d.%m.%Y') }}"
JOINER = "{{ today >= start_date | date('%d.%m.%Y') - days(7) }}"


def active_on(active: str, today: date, **attributes: Any) -> DesiredUser | Skipped:
    return mapper(active=active).map(person(**attributes), today=today)


def test_today_is_the_date_passed_in() -> None:
    m = mapper(lastName="{{ today }} {{ today.year }}")
    assert desired(m.map(person(), today=date(2027, 1, 2))).fields["lastName"] == "2027-01-02 2027"
    assert desired(m.map(person(), today=TODAY)).fields["lastName"] == "2026-06-15 2026"


def test_today_and_days_are_not_source_columns() -> None:
    assert not {"today", "days"} & mapper(active=JOINER).referenced_names()


def test_a_column_named_today_is_reachable_through_record() -> None:
    m = mapper(lastName="{{ today }}|{{ record.today }}|{{ record['today'] }}")
    user = desired(m.map(person(today="column", Today="other"), today=TODAY))
    assert user.fields["lastName"] == "2026-06-15|column|column"


@pytest.mark.parametrize(
    ("text", "template"),
    [
        ("31.12.2026", "{{ d | date('%d.%m.%Y') }}"),
        ("2026-12-31", "{{ d | date }}"),
        ("2026-12-31", "{{ d | date('%Y-%m-%d') }}"),
        ("12/31/2026", "{{ d | date('%m/%d/%Y') }}"),
        ("31/12/26", "{{ d | date(format='%d/%m/%y') }}"),
        ("31 Dec 2026", "{{ d | date('%d %b %Y') }}"),
    ],
)
def test_date_parses_each_format(text: str, template: str) -> None:
    user = desired(mapper(lastName=template).map(person(d=text), today=TODAY))
    assert user.fields["lastName"] == "2026-12-31"


@pytest.mark.parametrize("value", ["", None])
def test_an_empty_or_missing_date_is_none(value: str | None) -> None:
    m = mapper(lastName="{{ d | date('%d.%m.%Y') is none }}/{{ d | date is none }}")
    assert desired(m.map(person(d=value), today=TODAY)).fields["lastName"] == "True/True"


def test_a_non_iso_date_without_a_format_skips_the_person_and_asks_for_one() -> None:
    result = skipped(
        mapper(active=JOINER.replace("('%d.%m.%Y')", "")).map(
            person(start_date="01/02/2026"), today=TODAY
        )
    )
    assert result.reason == (
        "active: start_date '01/02/2026' is not an ISO date (YYYY-MM-DD); "
        "other layouts need their format, e.g. date('%d.%m.%Y')"
    )
    assert result.key == "1001"


@pytest.mark.parametrize(
    ("template", "column"),
    [
        ("{{ exit_date | date('%d.%m.%Y') }}", "exit_date"),
        ("{{ record['exit date'] | date('%d.%m.%Y') }}", "record['exit date']"),
        ("{{ record.exit_date | date('%d.%m.%Y') }}", "record.exit_date"),
    ],
)
def test_an_unparseable_date_skips_the_person_naming_field_column_value_and_format(
    template: str, column: str
) -> None:
    bad = person(exit_date="31.13.2026", **{"exit date": "31.13.2026"})
    result = skipped(mapper(lastName=template).map(bad, today=TODAY))
    assert result.reason == (
        f"mapping.lastName: {column} '31.13.2026' is not a date in the format '%d.%m.%Y' "
        "(e.g. '31.12.2026')"
    )
    assert (result.origin, result.key) == ("people.csv:2", "1001")


def test_a_bad_date_in_one_record_skips_only_that_person() -> None:
    people = [person(exit_date="31.12.2026"), person("people.csv:3", exit_date="soon")]
    wanted, left_out = mapper(active=LEAVER).map_all(people, today=TODAY)
    assert [u.origin for u in wanted] == ["people.csv:2"]
    assert [s.origin for s in left_out] == ["people.csv:3"]
    assert "exit_date 'soon'" in left_out[0].reason


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("%Y", "lacks the day, month or year"),
        ("dd.mm.yyyy", "lacks the day, month or year"),
        ("%Q.%m.%Y", "is not valid"),
        ("%-d.%m.%Y", r"has flags or widths \(strptime takes none\)"),
        ("%999999999d.%m.%Y", r"has flags or widths \(strptime takes none\)"),
    ],
)
def test_a_date_format_that_cannot_describe_a_date_is_a_mapping_error(
    fmt: str, problem: str
) -> None:
    with pytest.raises(MappingError, match=rf"^active: date format '{re.escape(fmt)}' {problem}"):
        mapper(active=f"{{{{ exit_date | date('{fmt}') }}}}")
    dynamic = mapper(active="{{ exit_date | date(fmt) }}")
    with pytest.raises(MappingError, match=rf"^active: date format '{re.escape(fmt)}' {problem}"):
        dynamic.map(person(exit_date="31.12.2026", fmt=fmt), today=TODAY)


@pytest.mark.parametrize(
    ("today", "active"),
    [(date(2026, 12, 30), True), (date(2026, 12, 31), True), (date(2027, 1, 1), False)],
)
def test_a_leaver_is_active_through_the_exit_date_and_leaves_the_day_after(
    today: date, active: bool
) -> None:
    assert desired(active_on(LEAVER, today, exit_date="31.12.2026")).active is active


def test_a_person_without_an_exit_date_stays_active() -> None:
    assert desired(active_on(LEAVER, date(2099, 1, 1), exit_date="")).active is True


@pytest.mark.parametrize(
    ("today", "active"),
    [(date(2026, 12, 31), False), (date(2027, 1, 1), True), (date(2027, 1, 8), True)],
)
def test_a_joiner_is_active_from_seven_days_before_the_start_date(
    today: date, active: bool
) -> None:
    assert desired(active_on(JOINER, today, start_date="08.01.2027")).active is active


def test_days_must_be_a_whole_number() -> None:
    result = skipped(active_on("{{ today > today - days('7') }}", TODAY))
    assert result.reason.startswith("active: cannot evaluate for this record: days() takes")


@pytest.mark.parametrize(
    "template",
    [
        "{{ today.__class__ }}",
        "{{ days.__globals__ }}",
        "{{ (today | string).__class__ }}",
        "{{ today.strftime('%_999999999d') }}",
        "{{ today.strftime('%999999999Y') }}",
        "{{ '{:%_999999999d}'.format(today) }}",
    ],
)
def test_the_sandbox_refuses_internals_and_huge_widths_of_dates(template: str) -> None:
    started = time.perf_counter()
    with pytest.raises(MappingError, match="refused by the sandbox"):
        mapper(lastName=template).map(person(), today=TODAY)
    assert time.perf_counter() - started < 2


def documented_date_examples() -> list[str]:
    """The dated `active:` examples of config.example.yaml (commented) and the README."""
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "config.example.yaml").read_text() + (repo / "README.md").read_text()
    found = re.findall(r'^[ #]*active: ("\{\{ .*today.* \}\}")$', text, flags=re.MULTILINE)
    return [yaml.safe_load(example) for example in found]


def test_the_documented_date_examples_do_what_they_say() -> None:
    examples = documented_date_examples()
    assert len(examples) == 5
    staff = {"exit_date": "31.12.2026", "start_date": "01.01.2020"}
    joiner = {"exit_date": "", "start_date": "08.01.2027"}
    for example in examples:
        if "exit_date" in example:
            assert desired(active_on(example, date(2026, 12, 31), **staff)).active is True
            assert desired(active_on(example, date(2027, 1, 1), **staff)).active is False
        if "start_date" in example:
            assert desired(active_on(example, date(2026, 12, 31), **joiner)).active is False
            assert desired(active_on(example, date(2027, 1, 1), **joiner)).active is True


@pytest.mark.parametrize("value", ["Åsa", "", "  padded  ", "{{ not a template }}", "x" * 500])
def test_a_plain_column_template_renders_what_jinja_renders(value: str) -> None:
    plain = _Expression(sandbox(), "mapping.firstName", "{{ first_name }}")
    assert plain._column == "first_name"
    jinja = _Expression(sandbox(), "mapping.firstName", "{{ first_name }}")
    jinja._column = None  # the same template, run through Jinja
    context = {"first_name": value}
    assert plain.render(context, "row 2") == jinja.render(context, "row 2") == value


def test_a_plain_column_holding_a_list_is_rendered_by_jinja() -> None:
    groups = _Expression(sandbox(), "mapping.teamLead", "{{ memberOf }}")
    assert groups.render({"memberOf": ["a", "b"]}, "row 2") == "['a', 'b']"
