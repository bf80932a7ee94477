"""The HR CSV export as a source of people, read as a stream.

Decisions (each one errs towards failing loudly over guessing):
- The file is read in binary and decoded incrementally, so that a decode error can name
  the line, the byte offset and the bad byte; memory stays bounded by the longest line.
- A header row is required. Header names are stripped; a column whose header is empty
  (an export's trailing delimiter) is ignored. Duplicate names are an error.
- Required columns (the names the mapping reads) are checked case-insensitively, like the
  mapping looks them up, at the header: a missing one fails before any record is yielded.
- Blank lines, and rows whose every field is empty (",,,,"), are skipped.
- A row with FEWER fields than the header gets "" for the missing trailing values: many
  exports drop trailing empty cells. A row with MORE non-empty fields than the header is
  an error, because its values cannot be attributed to columns; extra empty fields (a
  trailing delimiter) are ignored since no data is lost.
- A NUL byte, a byte order mark after the start of the file (two exports concatenated), a
  quote left open at the end of the file and a field over 1 MiB are errors naming the line.
- Cells starting with = + - @ are kept as they are: we only read CSV and send the values
  as JSON strings, never write a spreadsheet, so formula injection does not apply.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import structlog

from sync.errors import SourceError
from sync.model import Person

__all__ = ["DELIMITERS", "FIELD_SIZE_LIMIT", "HrCsvSource"]

log = structlog.get_logger(__name__)

FIELD_SIZE_LIMIT = 1024 * 1024  # csv's default (128 KiB) is low for free-text columns
MAX_LINE_CHARS = 4 * FIELD_SIZE_LIMIT  # a longer physical line means a broken file
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_READ_BYTES = 64 * 1024
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_ENCODING_HINT = (
    "set source.encoding to the file's encoding (e.g. cp1252 for Windows exports, latin-1, utf-16)"
)


class HrCsvSource:
    """People from an HR CSV export: one Person per row, origin "<file>:<line>"."""

    def __init__(
        self,
        path: Path,
        *,
        encoding: str = "utf-8-sig",
        delimiter: str = "auto",
        required_columns: frozenset[str] = frozenset(),
    ) -> None:
        self.path = Path(path)
        self.encoding = _check_encoding(encoding)
        self.delimiter = _check_delimiter(delimiter)
        self.required_columns = frozenset(required_columns)

    def __repr__(self) -> str:
        return f"HrCsvSource({str(self.path)!r}, encoding={self.encoding!r})"

    def describe(self) -> str:
        """A short name for messages and logs."""
        return f"CSV {self.path}"

    def read(self) -> Iterator[Person]:
        """Yield one Person per data row; raise SourceError on anything unreadable."""
        # A process-wide setting; raising it is harmless for any other csv user.
        csv.field_size_limit(FIELD_SIZE_LIMIT)
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise SourceError(
                f"cannot read CSV {self.path}: {exc.strerror or exc}",
                hint="check source.path and the file's permissions",
            ) from exc
        with handle:
            _check_not_binary(handle.peek(8)[:8], self.path, self.encoding)
            lines = _Lines(handle, self.path, self.encoding)
            count = 0
            for person in self._records(lines):
                count += 1
                yield person
        log.debug("csv_read", path=str(self.path), records=count, lines=lines.line_no)

    def _records(self, lines: _Lines) -> Iterator[Person]:
        stream = iter(lines)
        first = next((line for line in stream if line.strip()), None)
        if first is None:
            raise SourceError(
                f"{self.path}: no header row (the file is empty)",
                hint="the first line must name the columns",
            )
        delimiter = self.delimiter
        if delimiter == "auto":
            delimiter = _sniff_delimiter(first, f"{self.path}:{lines.line_no}")
        reader = csv.reader(itertools.chain([first], stream), delimiter=delimiter, strict=True)
        header_start = lines.line_no
        header = [name.strip() for name in self._next_row(reader, lines, header_start) or []]
        self._check_header(header)
        name = self.path.name
        start = lines.line_no + 1
        while (row := self._next_row(reader, lines, start)) is not None:
            origin_line, start = start, lines.line_no + 1
            if not any(value.strip() for value in row):
                continue
            values = self._fit(row, len(header), origin_line)
            attributes = {col: value for col, value in zip(header, values, strict=True) if col}
            yield Person(attributes=attributes, origin=f"{name}:{origin_line}")

    def _next_row(self, reader: Iterator[list[str]], lines: _Lines, start: int) -> list[str] | None:
        try:
            return next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            text = str(exc)
            if "unexpected end of data" in text:
                text = f"the file ends inside a quoted field that starts at line {start}"
            elif "field larger than field limit" in text:
                text = f"a field is longer than {FIELD_SIZE_LIMIT} characters"
            raise SourceError(
                f"{self.path}:{lines.line_no}: {text}",
                hint="the export looks broken (unbalanced quotes or a wrong delimiter)",
            ) from exc

    def _check_header(self, header: list[str]) -> None:
        named = [col for col in header if col]
        duplicates = sorted({col for col in named if named.count(col) > 1})
        if duplicates:
            raise SourceError(
                f"{self.path}: duplicate column names in the header: {', '.join(duplicates)}",
                hint="every column must have its own name",
            )
        found = {col.casefold() for col in named}
        missing = sorted(col for col in self.required_columns if col.casefold() not in found)
        if missing:
            raise SourceError(
                f"{self.path}: missing required columns: {', '.join(missing)} "
                f"(found: {', '.join(named) or 'none'})",
                hint="the job's mapping reads these names; fix the export or the mapping",
            )

    def _fit(self, row: list[str], width: int, line: int) -> list[str]:
        values = [value.strip() for value in row]
        if len(values) > width:
            if any(values[width:]):
                raise SourceError(
                    f"{self.path}:{line}: {len(values)} fields but the header has {width} columns",
                    hint="a value probably contains an unquoted delimiter",
                )
            return values[:width]
        return values + [""] * (width - len(values))


class _Lines:
    """Decoded physical lines ("\\n" kept) with the number of the last one handed out."""

    def __init__(self, handle: BinaryIO, path: Path, encoding: str) -> None:
        self._handle = handle
        self._path = path
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self._bytes_read = 0
        self.line_no = 0

    def __iter__(self) -> Iterator[str]:
        pending = ""
        while True:
            chunk = self._read()
            pending += self._decode(chunk, final=not chunk)
            start = 0
            while (end := pending.find("\n", start)) != -1:
                yield self._checked(pending[start : end + 1])
                start = end + 1
            pending = pending[start:]
            if len(pending) > MAX_LINE_CHARS:
                raise SourceError(
                    f"{self._path}:{self.line_no + 1}: line longer than {MAX_LINE_CHARS} "
                    "characters",
                    hint="the file does not look like a CSV export",
                )
            if not chunk:
                break
        if pending:
            yield self._checked(pending)

    def _read(self) -> bytes:
        try:
            chunk = self._handle.readline(_READ_BYTES)
        except OSError as exc:
            raise SourceError(f"cannot read CSV {self._path}: {exc.strerror or exc}") from exc
        self._bytes_read += len(chunk)
        return chunk

    def _decode(self, chunk: bytes, *, final: bool) -> str:
        try:
            return self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            # exc.object is the tail of everything fed so far (the decoder's buffer + chunk).
            offset = self._bytes_read - len(exc.object) + exc.start
            before = exc.object[: exc.start].decode(self._encoding, errors="replace")
            line = self.line_no + 1 + before.count("\n")
            bad = exc.object[exc.start : exc.end].hex(" ")
            raise SourceError(
                f"{self._path}:{line}: cannot decode byte 0x{bad} at byte offset {offset} "
                f"as {self._encoding} ({exc.reason})",
                hint=_ENCODING_HINT,
            ) from exc

    def _checked(self, line: str) -> str:
        self.line_no += 1
        if self.line_no == 1 and line.startswith("\ufeff"):
            line = line[1:]  # a UTF-8 BOM read with encoding utf-8 rather than utf-8-sig
        if "\x00" in line:
            raise SourceError(
                f"{self._path}:{self.line_no}: NUL byte in the data",
                hint="the file may be UTF-16 or binary; " + _ENCODING_HINT,
            )
        if "\ufeff" in line:
            raise SourceError(
                f"{self._path}:{self.line_no}: byte order mark (U+FEFF) inside the file",
                hint="the file may be several exports concatenated; remove the extra mark",
            )
        return line


# Leading bytes of files an HR system may hand over instead of a CSV export.
_NOT_CSV = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an OLE2 file (an .xls workbook?)"),
    (b"%PDF", "a PDF document"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _check_not_binary(head: bytes, path: Path, encoding: str) -> None:
    """SourceError naming what the file is when it is plainly not a CSV in `encoding`."""
    for magic, what in _NOT_CSV:
        if head.startswith(magic):
            raise SourceError(
                f"{path}: is {what}, not a CSV file",
                hint="export the sheet as CSV (UTF-8) and point source.path at that file",
            )
    if head.startswith(_UTF16_BOMS) and not codecs.lookup(encoding).name.startswith(
        ("utf-16", "utf-32")
    ):
        raise SourceError(
            f"{path}: starts with a UTF-16 byte order mark but source.encoding is {encoding}",
            hint="set source.encoding: utf-16 (or export the file as UTF-8)",
        )


def _sniff_delimiter(header: str, where: str) -> str:
    """The one candidate delimiter the header line uses outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    found = [delimiter for delimiter, count in counts.items() if count]
    if len(found) > 1:
        shown = ", ".join(repr(d) for d in found)
        raise SourceError(
            f"{where}: cannot tell the delimiter: the header contains {shown}",
            hint="set source.delimiter to one of ',', ';', '\\t', '|'",
        )
    return found[0] if found else ","  # a single column reads the same with any delimiter


def _check_encoding(encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise SourceError(f"unknown encoding {encoding!r}", hint=_ENCODING_HINT) from exc
    return encoding


def _check_delimiter(delimiter: str) -> str:
    value = _DELIMITER_NAMES.get(delimiter.lower(), delimiter)
    if value == "auto" or (len(value) == 1 and value not in '"\r\n'):
        return value
    raise SourceError(
        f"invalid delimiter {delimiter!r}",
        hint="set source.delimiter to auto or one of ',', ';', '\\t', '|'",
    )
