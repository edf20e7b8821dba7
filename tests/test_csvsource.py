"""CsvSource: header normalisation, row numbers, byte offsets, and every kind of unusable file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.csvsource import MAX_FIELD_CHARS, CsvSource, sha256_file
from core.errors import SourceError
from tests.conftest import CsvWriter, csv_text


def test_header_is_matched_case_insensitively_after_trimming(write_csv: CsvWriter) -> None:
    source = CsvSource(write_csv([" Email ", "FIRST_NAME", "Role_Slug", "notes"]))
    assert source.columns.email == 0
    assert source.columns.first_name == 1
    assert source.columns.role_slugs == 2
    assert source.columns.role_slug == 2
    assert source.unknown_columns == ["notes"]
    assert source.header == [" Email ", "FIRST_NAME", "Role_Slug", "notes"]


def test_bom_and_crlf_are_read_as_plain_utf8(write_csv: CsvWriter) -> None:
    source = CsvSource(write_csv(["email", "last_name"], [["a@x.com", "Ørsted"]], bom=True))
    assert source.header == ["email", "last_name"]
    assert list(source.rows()) == [(2, source.data_offset, ["a@x.com", "Ørsted"])]


def test_quoted_newlines_count_one_row_per_record(write_csv: CsvWriter) -> None:
    path = write_csv(["email", "first_name"], [["a@x.com", "two\nlines"], ["b@x.com", "Bob, Jr."]])
    assert [(row, fields) for row, _, fields in CsvSource(path).rows()] == [
        (2, ["a@x.com", "two\nlines"]),
        (3, ["b@x.com", "Bob, Jr."]),
    ]


def test_blank_lines_count_in_row_numbers_but_are_not_yielded(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("email,first_name\n\na@x.com,A\n,\n  \nb@x.com,B\n")
    source = CsvSource(path)
    assert [row for row, _, _ in source.rows()] == [3, 6]
    assert [row for row, _ in source.records()] == [3, 6]


def test_header_only_file_has_no_rows(write_csv: CsvWriter) -> None:
    assert list(CsvSource(write_csv(["email"])).rows()) == []


def test_seeking_to_any_offset_yields_the_same_rows_as_a_full_read(write_csv: CsvWriter) -> None:
    rows = [[f"u{i}@x.com", "multi\nline" if i % 3 == 0 else f"N{i}"] for i in range(40)]
    source = CsvSource(write_csv(["email", "first_name"], rows))
    everything = list(source.rows())
    for index, (row, offset, _) in enumerate(everything):
        assert list(source.rows(offset=offset, first_row=row)) == everything[index:]


def test_sha256_file_matches_hashlib(write_csv: CsvWriter) -> None:
    import hashlib

    path = write_csv(["email"], [["a@x.com"]])
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda tmp: tmp / "missing.csv", "not found"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: _write(tmp, b""), "empty"),
        (lambda tmp: _write(tmp, b"\n\n"), "blank"),
        (lambda tmp: _write(tmp, b"first_name,last_name\nA,B\n"), "no email column"),
        (lambda tmp: _write(tmp, b"email;first_name\na@x.com;A\n"), "separated by semicolons"),
        (lambda tmp: _write(tmp, b"email,Email\n"), "more than once: email, Email"),
        (lambda tmp: _write(tmp, b"email,role_slug,role_slugs\n"), "role_slug, role_slugs"),
    ],
)
def test_unusable_files_raise_source_error_with_a_clear_message(tmp_path: Path, setup, expected: str) -> None:
    with pytest.raises(SourceError, match=expected):
        CsvSource(setup(tmp_path))


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "users.csv"
    path.write_bytes(data)
    return path


def test_non_utf8_bytes_name_the_row_and_byte(tmp_path: Path) -> None:
    path = _write(tmp_path, b"email,last_name\na@x.com,Smith\nb@x.com,M\xfcller\n")
    source = CsvSource(path)
    with pytest.raises(SourceError, match=r"Row 3 .* not valid UTF-8 \(byte offset 39: 0xfc\)"):
        list(source.rows())
    with pytest.raises(SourceError, match=r"Row 3 .* not valid UTF-8"):
        list(source.records())


def test_unbalanced_quote_names_the_row_where_the_field_opens(tmp_path: Path) -> None:
    path = _write(tmp_path, b'email,first_name\na@x.com,A\nb@x.com,"Bob\nc@x.com,C\n')
    with pytest.raises(SourceError, match=r"Row 3 .* never closed"):
        list(CsvSource(path).records())


def test_stray_quote_after_a_quoted_field_is_malformed(tmp_path: Path) -> None:
    path = _write(tmp_path, b'email,first_name\na@x.com,"A"x\n')
    with pytest.raises(SourceError, match=r"Row 2 .* not well-formed"):
        list(CsvSource(path).rows())


def test_a_ten_megabyte_field_names_row_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, b"email,first_name,metadata\na@x.com,A,{}\nb@x.com,B," + b"x" * 10_000_000 + b"\n")
    with pytest.raises(SourceError, match=rf"Row 3 .*column 'metadata'.*longer than {MAX_FIELD_CHARS:,}"):
        list(CsvSource(path).records())


def test_an_unreadable_header_is_reported_at_construction(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not valid UTF-8"):
        CsvSource(_write(tmp_path, b"em\xffail\n"))


cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.lists(cell, min_size=3, max_size=3), max_size=25), crlf=st.booleans())
def test_reader_round_trips_any_records_with_spreadsheet_row_numbers(
    tmp_path: Path, records: list[list[str]], crlf: bool
) -> None:
    path = tmp_path / "prop.csv"
    path.write_bytes(csv_text(["email", "first_name", "notes"], records, crlf=crlf).encode())
    source = CsvSource(path)
    with open(path, newline="", encoding="utf-8") as handle:
        expected = [
            (row, fields)
            for row, fields in enumerate(csv.reader(handle), 1)
            if row > 1 and any(value.strip() for value in fields)
        ]
    rows = list(source.rows())
    assert [(row, fields) for row, _, fields in rows] == expected
    assert list(source.records()) == expected
    for row, offset, _ in rows:
        assert next(source.rows(offset=offset, first_row=row))[0] == row


def test_quoted_crlf_inside_a_field_is_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, b'email,notes\r\na@x.com,"one\r\ntwo"\r\nb@x.com,x\r\n')
    assert [(row, fields) for row, _, fields in CsvSource(path).rows()] == [
        (2, ["a@x.com", "one\r\ntwo"]),
        (3, ["b@x.com", "x"]),
    ]
