"""What every Source must do; each source's tests subclass SourceContract.

A subclass provides three fixtures:
- `make_source`: a factory, records (list of {attribute: value}) -> a Source holding them;
- `unreadable_source`: a Source that cannot be read at all (missing file, server down);
- `broken_source`: a Source that fails part-way, after some records could be read.

The name does not start with "Test", so pytest collects the contract only via subclasses.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync.errors import SourceError
from sync.model import Person
from sync.sources import Source

Records = list[dict[str, str]]
SourceFactory = Callable[[Records], Source]

PEOPLE: Records = [
    {"uid": "jdoe", "givenName": "Jane", "sn": "Doe", "mail": "jane.doe@example.com"},
    {"uid": "jmueller", "givenName": "Jörg", "sn": "Müller", "mail": "joerg@example.com"},
    {"uid": "fdupont", "givenName": "François", "sn": "Dupont", "mail": "f.dupont@example.fr"},
]


class SourceContract:
    """The behaviour shared by the CSV and LDAP sources."""

    @pytest.fixture
    def make_source(self) -> SourceFactory:
        raise NotImplementedError("a source's tests must provide make_source")

    @pytest.fixture
    def unreadable_source(self) -> Source:
        raise NotImplementedError("a source's tests must provide unreadable_source")

    @pytest.fixture
    def broken_source(self) -> Source:
        raise NotImplementedError("a source's tests must provide broken_source")

    def test_is_a_source(self, make_source: SourceFactory) -> None:
        assert isinstance(make_source(PEOPLE), Source)

    def test_yields_one_person_per_record_with_its_values(self, make_source: SourceFactory) -> None:
        people = list(make_source(PEOPLE).read())
        assert all(isinstance(person, Person) for person in people)
        got = sorted(
            (p.attributes["uid"], p.attributes["sn"], p.attributes["mail"]) for p in people
        )
        want = sorted((r["uid"], r["sn"], r["mail"]) for r in PEOPLE)
        assert got == want

    def test_every_person_has_a_distinct_origin(self, make_source: SourceFactory) -> None:
        origins = [person.origin for person in make_source(PEOPLE).read()]
        assert all(origins)
        assert len(set(origins)) == len(PEOPLE)

    def test_empty_source_yields_nothing(self, make_source: SourceFactory) -> None:
        assert list(make_source([]).read()) == []

    def test_reading_twice_gives_the_same_records(self, make_source: SourceFactory) -> None:
        source = make_source(PEOPLE)
        assert list(source.read()) == list(source.read())

    def test_describe_is_a_non_empty_line(self, make_source: SourceFactory) -> None:
        text = make_source(PEOPLE).describe()
        assert text.strip()
        assert "\n" not in text

    def test_unreadable_source_raises_source_error(self, unreadable_source: Source) -> None:
        with pytest.raises(SourceError) as caught:
            list(unreadable_source.read())
        assert str(caught.value).strip()

    def test_broken_source_raises_rather_than_ending_early(self, broken_source: Source) -> None:
        # A read that stops part-way must never look complete: iterating must raise.
        read: list[Person] = []
        with pytest.raises(SourceError):
            for person in broken_source.read():
                read.append(person)
