"""Streaming CSV reading: the header, its columns, and data records with row numbers and byte offsets.

``CsvSource`` opens a file, reads and normalises its header (trimmed, case-insensitive, UTF-8 BOM dropped,
``role_slug`` accepted for ``role_slugs``) and streams data records. Row numbers are spreadsheet rows: the
header is row 1 and every record after it counts one row, even when a quoted field holds newlines, and
blank records (no non-space character in any field) count a row but are never yielded. ``rows`` also gives
the byte offset where each record starts, so ``rows(offset=o, first_row=n)`` resumes there without
re-reading the file. Validating field values is left to ``records``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from core.errors import SourceError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["CANONICAL_COLUMNS", "MAX_FIELD_CHARS", "Columns", "CsvSource", "is_blank", "sha256_file"]

logger = logging.getLogger(__name__)

MAX_FIELD_CHARS = 1 << 20
"""The longest field accepted (1 MiB of characters); a longer one is almost always an unclosed quote."""

# The csv module's limit is process-wide; ours is the only CSV reading in this package.
csv.field_size_limit(MAX_FIELD_CHARS)

CANONICAL_COLUMNS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "email_verified",
    "password",
    "password_hash",
    "password_hash_type",
    "password_salt_position",
    "external_id",
    "metadata",
    "org_id",
    "org_external_id",
    "org_name",
    "role_slugs",
    "totp_secret",
)
_ALIASES = {"role_slug": "role_slugs"}
ORG_COLUMNS = ("org_id", "org_external_id", "org_name")


class _Window(io.RawIOBase):
    """The bytes of a file between two offsets, as a raw stream (so a BufferedReader iterates its lines in C)."""

    def __init__(self, path: Path, start: int, stop: int) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed with the window
        self._file.seek(start)
        self._left = stop - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._left <= 0:
            return 0
        with memoryview(buffer) as view:
            count = self._file.readinto(view[: self._left]) or 0
        self._left -= count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def is_blank(fields: list[str]) -> bool:
    """True when a record has no non-space character in any field (an empty line or ``,,,``)."""
    return not any(field and not field.isspace() for field in fields)


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each known column sits in a record: its 0-based index, or None when the file lacks it."""

    width: int
    email: int
    first_name: int | None = None
    last_name: int | None = None
    email_verified: int | None = None
    password: int | None = None
    password_hash: int | None = None
    password_hash_type: int | None = None
    password_salt_position: int | None = None
    external_id: int | None = None
    metadata: int | None = None
    org_id: int | None = None
    org_external_id: int | None = None
    org_name: int | None = None
    role_slugs: int | None = None
    totp_secret: int | None = None

    @property
    def role_slug(self) -> int | None:
        """Alias of ``role_slugs`` (a file may name the column either way)."""
        return self.role_slugs

    @property
    def org_columns(self) -> tuple[str, ...]:
        """The organization columns present in the file (``org_name`` counts)."""
        return tuple(name for name in ORG_COLUMNS if getattr(self, name) is not None)

    @classmethod
    def from_header(cls, header: list[str]) -> tuple[Columns, list[str]]:
        """Map a header to ``Columns`` and the list of unknown column names.

        Raises ``SourceError`` when a name appears twice or there is no email column.
        """
        found: dict[str, int] = {}
        labels: dict[str, str] = {}
        unknown: list[str] = []
        duplicates: list[str] = []
        for index, raw in enumerate(header):
            label = raw.strip()
            name = label.lower()
            if not name:
                unknown.append(f"(unnamed column {index + 1})")
                continue
            key = _ALIASES.get(name, name)
            if key in labels:
                duplicates.extend(label for label in (labels[key], label) if label not in duplicates)
                continue
            labels[key] = label
            if key in CANONICAL_COLUMNS:
                found[key] = index
            else:
                unknown.append(label)
        if duplicates:
            raise SourceError(
                "The header names a column more than once: "
                + ", ".join(duplicates)
                + " (role_slug and role_slugs are the same column). Rename or remove the extra column.",
                without_content=(
                    "The header names a column more than once (role_slug and role_slugs are the same column). "
                    "Rename or remove the extra column."
                ),
            )
        if "email" not in found:
            hint = ""
            joined = ",".join(header)
            for delimiter, label in ((";", "semicolons"), ("\t", "tabs")):
                if delimiter in joined:
                    hint = f" The header seems separated by {label}: save the file as comma-separated CSV."
                    break
            raise SourceError(
                "The CSV has no email column (the header must have a column named 'email'). Found: "
                + (", ".join(repr(name.strip()) for name in header) or "nothing")
                + "."
                + hint,
                without_content=(
                    "The file's first row has no column named 'email': it is not a CSV of users (the first row "
                    "must be a header with an email column)." + hint
                ),
            )
        return cls(width=len(header), **found), unknown


class CsvSource:
    """A CSV file of users: its header and its data records, streamed.

    Construction reads the header and raises ``SourceError`` when the file is missing, a directory, empty,
    not UTF-8, malformed, or lacks an email column. A header without data rows is fine.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.header: list[str] = []  # read below; an error while reading it names columns by number
        if not self.path.exists():
            raise SourceError(f"CSV file not found: {self.path}")
        if self.path.is_dir():
            raise SourceError(f"CSV path is a directory, not a file: {self.path}")
        try:
            self.size = self.path.stat().st_size
            handle = open(self.path, "rb")  # noqa: SIM115 - closed just below
        except OSError as exc:
            raise SourceError(f"CSV file cannot be read: {self.path} ({exc.strerror})") from None
        with handle:
            records = self._parse(handle, offset=0, first_row=1)
            first = next(records, None)
            if first is None:
                raise SourceError(f"CSV file is empty: {self.path} (it needs a header row with an email column)")
            header = first[2]
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            if is_blank(header):
                raise SourceError(
                    f"Row 1 of {self.path} is blank: the first row must be the header with an email column"
                )
            self.header = header
            second = next(records, None)
        self.columns, self.unknown_columns = Columns.from_header(header)
        self.data_offset: int = self.size if second is None else second[1]
        """Byte offset of the first record after the header."""

    def rows(self, *, offset: int | None = None, first_row: int = 2) -> Iterator[tuple[int, int, list[str]]]:
        """Yield ``(row_number, byte_offset, fields)`` for each non-blank data record.

        ``offset`` must be where a record starts (an offset this method yielded, or None for the first data
        record); ``first_row`` is that record's row number. Raises ``SourceError`` naming the row on bytes
        that are not UTF-8, an unclosed quote, or a field over ``MAX_FIELD_CHARS``.
        """
        start = self.data_offset if offset is None else offset
        with open(self.path, "rb") as handle:
            for row, record_offset, fields in self._parse(handle, offset=start, first_row=first_row):
                if fields and ((fields[0] and not fields[0].isspace()) or not is_blank(fields)):
                    yield row, record_offset, fields

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(row_number, fields)`` for each non-blank data record: ``rows`` without offsets, faster."""
        for first, block in self.blocks():
            for row, fields in enumerate(block, first):
                if fields and ((fields[0] and not fields[0].isspace()) or not is_blank(fields)):
                    yield row, fields

    def blocks(self, size: int = 512) -> Iterator[tuple[int, list[list[str]]]]:
        """Yield ``(first_row, records)``: consecutive data records, blank ones included, ``size`` at a time.

        Record ``i`` of a block is row ``first_row + i``. The fastest way through the file (no offsets).
        Raises ``SourceError`` like ``rows``: on an error it re-reads the file with ``rows`` to name the
        exact row, byte and column.
        """
        row = 2
        try:
            with io.BufferedReader(_Window(self.path, self.data_offset, self.size), 1 << 16) as handle:
                reader = csv.reader(map(bytes.decode, handle), strict=True)
                while block := list(islice(reader, size)):
                    yield row, block
                    row += len(block)
        except (UnicodeDecodeError, csv.Error):
            for _ in self.rows():
                pass
            raise SourceError(f"{self.path} could not be read after row {row}") from None

    def _parse(self, handle: BinaryIO, *, offset: int, first_row: int) -> Iterator[tuple[int, int, list[str]]]:
        """Every record from ``offset`` (blank ones included) with its row number and start offset."""
        handle.seek(offset)
        position = [offset, offset]  # [start of the line being read, end of what the reader consumed]

        def lines() -> Iterator[str]:
            for raw in handle:
                position[0] = position[1]
                position[1] += len(raw)
                yield raw.decode("utf-8")

        row = first_row - 1
        start = offset
        try:
            for fields in csv.reader(lines(), strict=True):
                row += 1
                yield row, start, fields
                start = position[1]
        except UnicodeDecodeError as exc:
            at = position[0] + exc.start
            raise SourceError(
                f"Row {row + 1} of {self.path} is not valid UTF-8 (byte offset {at}: 0x{exc.object[exc.start]:02x})."
                " Save the file as UTF-8 (in Excel: 'CSV UTF-8')."
            ) from None
        except csv.Error as exc:
            raise self._malformed(row + 1, start, str(exc)) from None

    def _malformed(self, row: int, offset: int, detail: str) -> SourceError:
        if detail.startswith("field larger than field limit"):
            index = self._oversized_column(offset)
            if index is None:
                column = "?"
            elif index < len(self.header):
                column = repr(self.header[index].strip())
            else:
                column = f"number {index + 1}"
            too_long = f"a field is longer than {MAX_FIELD_CHARS:,} characters (often a quote that is never closed)."
            return SourceError(
                f"Row {row} of {self.path}, column {column}: {too_long}",
                without_content=f"Row {row} of {self.path}: {too_long}",
            )
        if detail.startswith("new-line character seen in unquoted field") and self._bare_carriage_returns(offset):
            return SourceError(
                f"Row {row} of {self.path} ends its lines with a bare carriage return (CR: old Mac line endings), "
                "which CSV readers do not take as a line break: save the file with LF or CRLF line endings "
                "(in Excel: 'CSV UTF-8'; or tr '\\r' '\\n' < in.csv > out.csv)."
            )
        if detail.startswith("new-line character seen in unquoted field"):
            return SourceError(
                f"Row {row} of {self.path} has a line break (a carriage return) inside a field that is not quoted:"
                ' quote the whole field ("..."), or remove the carriage return.'
            )
        if detail == "unexpected end of data":
            return SourceError(
                f"Row {row} of {self.path} has a quoted field that is never closed (unbalanced quotes):"
                ' close the quote, or double any quote inside a quoted field ("").'
            )
        return SourceError(
            f"Row {row} of {self.path} is not well-formed CSV ({detail}): a quote inside a field must be doubled"
            ' ("") and the whole field quoted.'
        )

    def _bare_carriage_returns(self, offset: int) -> bool:
        """Whether the lines around ``offset`` end in CR alone (old Mac files), not CRLF or LF."""
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            text = handle.read(1 << 16)
        return b"\r" in text and b"\n" not in text

    def _oversized_column(self, offset: int) -> int | None:
        """The 0-based column of the first over-long field in the record at ``offset``."""
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            text = handle.read(4 * MAX_FIELD_CHARS + 4096).decode("utf-8", errors="replace")
        column = length = 0
        quoted = False
        for char in text:
            if quoted:
                if char == '"':
                    quoted = False
                else:
                    length += 1
            elif char == '"':
                quoted = True
            elif char == ",":
                column += 1
                length = 0
            elif char in "\r\n":
                return None
            else:
                length += 1
            if length > MAX_FIELD_CHARS:
                return column
        return None
