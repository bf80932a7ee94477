"""The HR CSV source: encodings, delimiters, quoting, header checks, and loud failures."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sync.errors import SourceError
from sync.sources import build_source
from sync.sources.hr_csv import FIELD_SIZE_LIMIT, HrCsvSource
from tests.source_contract import Records, SourceContract, SourceFactory

HEADER = "employee_id,first_name,last_name,email\n"


def write(tmp_path: Path, data: str | bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def read_all(path: Path, **options: object) -> list[tuple[dict[str, str], str]]:
    source = HrCsvSource(path, **options)  # type: ignore[arg-type]
    return [(dict(p.attributes), p.origin) for p in source.read()]


class TestHrCsvSourceContract(SourceContract):
    @pytest.fixture
    def make_source(self, tmp_path: Path) -> SourceFactory:
        def make(records: Records) -> HrCsvSource:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=["uid", "givenName", "sn", "mail"])
            writer.writeheader()
            writer.writerows(records)
            return HrCsvSource(write(tmp_path, buffer.getvalue()))

        return make

    @pytest.fixture
    def unreadable_source(self, tmp_path: Path) -> HrCsvSource:
        return HrCsvSource(tmp_path / "missing.csv")

    @pytest.fixture
    def broken_source(self, tmp_path: Path) -> HrCsvSource:
        good = "".join(f"{i},Ann,Lee,a{i}@example.com\n" for i in range(50))
        return HrCsvSource(write(tmp_path, HEADER.encode() + good.encode() + b"9,J\xf6rg,X,y\n"))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_reads_umlauts_in_the_configured_encoding(tmp_path: Path, encoding: str) -> None:
    text = HEADER + "1,Jörg,Müller-Lüdenscheidt,j@example.com\n2,Zoë,Façade,z@example.com\n"
    path = write(tmp_path, text.encode(encoding))
    rows = read_all(path, encoding=encoding)
    assert [r["first_name"] for r, _ in rows] == ["Jörg", "Zoë"]
    assert rows[0][0]["last_name"] == "Müller-Lüdenscheidt"


def test_utf8_bom_is_removed_from_the_first_column_name(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + (HEADER + "1,A,B,a@example.com\n").encode())
    for encoding in ("utf-8-sig", "utf-8"):
        assert read_all(path, encoding=encoding)[0][0]["employee_id"] == "1"


def test_decode_error_names_file_line_offset_and_byte(tmp_path: Path) -> None:
    data = (HEADER + "1,Ann,Lee,a@example.com\n").encode() + b"2,J\xf6rg,M,j@example.com\n"
    path = write(tmp_path, data)
    with pytest.raises(SourceError) as caught:
        read_all(path, encoding="utf-8")
    message = str(caught.value)
    offset = data.index(b"\xf6")
    assert f"{path}:3:" in message
    assert "0xf6" in message
    assert f"byte offset {offset}" in message
    assert "source.encoding" in message
    assert "cp1252" in message


def test_cp1252_undefined_byte_is_a_decode_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.encode() + b"1,A\x81,B,a@example.com\n")
    with pytest.raises(SourceError, match=r":2: cannot decode byte 0x81"):
        read_all(path, encoding="cp1252")


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(SourceError, match="unknown encoding 'klingon'"):
        HrCsvSource(Path("x.csv"), encoding="klingon")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_auto_delimiter_finds_each_candidate(tmp_path: Path, delimiter: str) -> None:
    lines = [HEADER.strip().split(","), ["7", "Ann", "Lee, Jr.", "a@example.com"]]
    text = "".join(
        delimiter.join(f'"{v}"' if "," in v else v for v in line) + "\n" for line in lines
    )
    rows = read_all(write(tmp_path, text))
    assert rows == [
        (
            {
                "employee_id": "7",
                "first_name": "Ann",
                "last_name": "Lee, Jr.",
                "email": "a@example.com",
            },
            "people.csv:2",
        )
    ]


def test_ambiguous_delimiter_asks_for_the_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "id;name,first\n1;x,y\n")
    with pytest.raises(SourceError, match="cannot tell the delimiter") as caught:
        read_all(path)
    assert "source.delimiter" in str(caught.value)


def test_delimiter_inside_quoted_header_does_not_count(tmp_path: Path) -> None:
    path = write(tmp_path, 'id;"name, full"\n1;"Lee, Ann"\n')
    assert read_all(path)[0][0] == {"id": "1", "name, full": "Lee, Ann"}


def test_explicit_delimiter_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "id;name,first\n1;x,y\n")
    assert read_all(path, delimiter=";")[0][0] == {"id": "1", "name,first": "x,y"}


def test_quoted_newline_keeps_the_line_where_the_record_starts(tmp_path: Path) -> None:
    text = HEADER + '1,"Ann\nMarie",Lee,a@example.com\n2,Bob,"Multi\nLine\nName",b@example.com\n'
    text += "3,Cy,Dee,c@example.com\n"
    rows = read_all(write(tmp_path, text))
    assert [origin for _, origin in rows] == ["people.csv:2", "people.csv:4", "people.csv:7"]
    assert rows[0][0]["first_name"] == "Ann\nMarie"


def test_crlf_line_endings(tmp_path: Path) -> None:
    text = HEADER.replace("\n", "\r\n") + "1,Ann,Lee,a@example.com\r\n"
    rows = read_all(write(tmp_path, text))
    assert rows == [
        (
            {"employee_id": "1", "first_name": "Ann", "last_name": "Lee", "email": "a@example.com"},
            "people.csv:2",
        )
    ]


def test_missing_required_column_fails_before_any_record(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,Ann,Lee,a@example.com\n")
    source = HrCsvSource(path, required_columns=frozenset({"email", "status", "role"}))
    iterator = source.read()
    with pytest.raises(SourceError) as caught:
        next(iterator)
    message = str(caught.value)
    assert "missing required columns: role, status" in message
    assert "found: employee_id, first_name, last_name, email" in message


def test_required_columns_match_case_insensitively(tmp_path: Path) -> None:
    path = write(tmp_path, "ID,Email\n1,a@example.com\n")
    source = HrCsvSource(path, required_columns=frozenset({"id", "email"}))
    assert len(list(source.read())) == 1


def test_duplicate_header_names_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "id, email ,name,email\n1,a,b,c\n")
    with pytest.raises(SourceError, match="duplicate column names in the header: email"):
        read_all(path)


def test_empty_file_has_no_header_row(tmp_path: Path) -> None:
    for data in ("", "\n\n  \n"):
        with pytest.raises(SourceError, match="no header row"):
            read_all(write(tmp_path, data))


def test_header_only_file_yields_no_records(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, HEADER)) == []


def test_blank_and_empty_rows_are_skipped(tmp_path: Path) -> None:
    text = "\n" + HEADER + "\n1,Ann,Lee,a@example.com\n\n   \n,,,\n2,Bob,Ray,b@example.com\n\n"
    rows = read_all(write(tmp_path, text))
    assert [origin for _, origin in rows] == ["people.csv:4", "people.csv:8"]


def test_names_and_values_are_stripped(tmp_path: Path) -> None:
    text = " employee_id , first_name ,last_name,email\n  1 ,  Ann ,Lee,  a@example.com  \n"
    assert read_all(write(tmp_path, text))[0][0] == {
        "employee_id": "1",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "a@example.com",
    }


def test_row_with_too_many_fields_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,Ann,Lee,a@example.com\n2,Bob,Ray,Jr.,b@example.com\n")
    with pytest.raises(SourceError, match=r"people\.csv:3: 5 fields but the header has 4"):
        read_all(path)


def test_extra_empty_trailing_fields_are_ignored(tmp_path: Path) -> None:
    rows = read_all(write(tmp_path, HEADER + "1,Ann,Lee,a@example.com,,\n"))
    assert rows[0][0]["email"] == "a@example.com"


def test_short_row_gets_empty_values(tmp_path: Path) -> None:
    rows = read_all(write(tmp_path, HEADER + "1,Ann\n"))
    assert rows[0][0] == {"employee_id": "1", "first_name": "Ann", "last_name": "", "email": ""}


def test_columns_with_an_empty_header_are_ignored(tmp_path: Path) -> None:
    rows = read_all(write(tmp_path, "id,,name\n1,junk,Ann\n"))
    assert rows[0][0] == {"id": "1", "name": "Ann"}


def test_nul_byte_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,Ann,Lee,a@example.com\n2,B\x00b,Ray,b@example.com\n")
    with pytest.raises(SourceError, match=r"people\.csv:3: NUL byte"):
        read_all(path)


def test_byte_order_mark_inside_the_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,Ann,Lee,a@example.com\n\ufeff" + HEADER)
    with pytest.raises(SourceError, match=r"people\.csv:3: byte order mark"):
        read_all(path)


def test_unclosed_quote_at_end_of_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + '1,Ann,Lee,a@example.com\n2,"Bob,Ray,b@example.com\n3,C,D,E\n')
    with pytest.raises(SourceError, match="quoted field that starts at line 3"):
        read_all(path)


def test_over_long_field_is_an_error_naming_the_line(tmp_path: Path) -> None:
    long_value = "x" * (FIELD_SIZE_LIMIT + 10)
    path = write(tmp_path, HEADER + f'1,"{long_value}",Lee,a@example.com\n')
    with pytest.raises(SourceError, match=r"people\.csv:2: a field is longer than"):
        read_all(path)


def test_formula_like_cells_are_kept_as_text(tmp_path: Path) -> None:
    rows = read_all(write(tmp_path, HEADER + "1,=HYPERLINK(x),+49 30,@me\n"))
    assert rows[0][0]["first_name"] == "=HYPERLINK(x)"
    assert rows[0][0]["email"] == "@me"


def test_missing_file_names_the_path_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(SourceError, match="No such file or directory") as caught:
        read_all(path)
    assert str(path) in str(caught.value)


def test_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="Is a directory"):
        read_all(tmp_path)


def test_origin_uses_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,Ann,Lee,a@example.com\n", name="hr-export.csv")
    assert read_all(path)[0][1] == "hr-export.csv:2"


def test_build_source_makes_a_csv_source_from_config(tmp_path: Path) -> None:
    class Config:
        type = "csv"
        path = write(tmp_path, "id;Mail\n1;a@example.com\n")
        encoding = "utf-8"
        delimiter = "auto"

    source = build_source(Config(), frozenset({"mail"}))  # type: ignore[arg-type]
    assert source.describe() == f"CSV {Config.path}"
    assert [dict(p.attributes) for p in source.read()] == [{"id": "1", "Mail": "a@example.com"}]


def test_the_example_people_file_reads_completely() -> None:
    path = Path(__file__).parents[2] / "examples" / "people.csv"
    people = list(HrCsvSource(path).read())
    assert 150 <= len(people) <= 250
    statuses = {p.attributes["status"] for p in people}
    assert statuses == {"active", "terminated"}


def test_decode_error_far_into_a_file_with_a_bom_has_the_exact_offset(tmp_path: Path) -> None:
    rows = "".join(f"{i},Ann,Lee,a{i}@example.com\n" for i in range(5000))
    data = b"\xef\xbb\xbf" + (HEADER + rows).encode() + b"9,J\xf6rg,X,y\n"
    path = write(tmp_path, data)
    with pytest.raises(SourceError) as caught:
        read_all(path, encoding="utf-8-sig")
    offset = data.index(b"\xf6")
    assert f"{path}:5002: cannot decode byte 0xf6 at byte offset {offset}" in str(caught.value)
