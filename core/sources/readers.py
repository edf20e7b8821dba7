"""Streaming readers for providers' export files: NDJSON, big JSON arrays, CSV; gzipped or not.

Every reader yields one record at a time, so memory stays flat whatever the export's size: NDJSON line by
line; ``json_items`` walks a top-level array, or the array under one key of a top-level object (Firebase's
``{"users": [...]}``, Keycloak's users files, Cognito's pages, several pages in one file), decoding one
element at a time. Malformed input raises ``SourceError`` naming the file and where.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from core.errors import SourceError

__all__ = ["csv_rows", "json_items", "json_object", "ndjson", "open_text", "table_rows"]

_CHUNK = 1 << 20
_MAX_VALUE = 64 << 20
_WHITESPACE = " \t\r\n"
_decoder = json.JSONDecoder()


def open_text(path: Path) -> IO[str]:
    """The file as UTF-8 text (a byte-order mark dropped), gunzipped when it is gzip."""
    try:
        with path.open("rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        raw: IO[bytes] = gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[assignment]  # noqa: SIM115
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def ndjson(path: Path) -> Iterator[dict[str, Any]]:
    """One JSON object per line (blank lines skipped)."""
    with open_text(path) as handle:
        try:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    value = _loads(line, path, number)
                    if not isinstance(value, dict):
                        raise SourceError(f"{path}: line {number} is not a JSON object")
                    yield value
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(f"{path}: not UTF-8 NDJSON ({exc})") from exc


def _loads(line: str, path: Path, number: int) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{path}: line {number} is not valid JSON ({exc})") from exc


class _Stream:
    """A text buffer over a file that ``json.JSONDecoder.raw_decode`` can read value by value."""

    def __init__(self, handle: IO[str], path: Path) -> None:
        self.handle, self.path = handle, path
        self.text, self.pos, self.eof, self.consumed = "", 0, False, 0

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        if self.pos > _CHUNK:
            self.consumed += self.pos
            self.text, self.pos = self.text[self.pos :], 0
        self.text += chunk
        return True

    def peek(self) -> str:
        """The next non-whitespace character ("" at the end)."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self._more():
                return ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected {char!r}")
        self.pos += 1

    def value(self) -> Any:
        """The next JSON value, reading on until it is complete."""
        self.peek()
        while True:
            try:
                value, end = _decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                # A value cut by the buffer's end decodes once more text arrives; a bad one never does, so
                # give up at the end of the file or once one value would exceed _MAX_VALUE.
                if len(self.text) - self.pos > _MAX_VALUE or not self._more():
                    raise self.error(exc.msg) from exc
                continue
            if end == len(self.text) and not self.eof and isinstance(value, int | float) and self._more():
                continue
            self.pos = end
            return value

    def error(self, detail: str) -> SourceError:
        return SourceError(f"{self.path}: not valid JSON near character {self.consumed + self.pos:,} ({detail})")


def _array(stream: _Stream) -> Iterator[Any]:
    stream.expect("[")
    if stream.peek() == "]":
        stream.pos += 1
        return
    while True:
        yield stream.value()
        following = stream.peek()
        stream.pos += 1
        if following == "]":
            return
        if following != ",":
            raise stream.error("expected ',' or ']' between array items")


def json_items(path: Path, key: str | None = None) -> Iterator[Any]:
    """The elements of the file's top-level array, or of the array under ``key`` in each top-level object.

    Several top-level objects one after another (concatenated pages) are all read. With ``key`` None a
    file of objects yields each object itself (NDJSON or concatenated JSON).
    """
    with open_text(path) as handle:
        stream = _Stream(handle, path)
        try:
            while first := stream.peek():
                if first == "[":
                    yield from _array(stream)
                elif first != "{":
                    raise stream.error("expected an object or an array")
                elif key is None:
                    yield stream.value()
                else:
                    yield from _object_items(stream, key)
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(f"{path}: not UTF-8 JSON ({exc})") from exc


def _object_items(stream: _Stream, key: str) -> Iterator[Any]:
    """The items of ``key``'s array in one object; the object's other values are decoded and dropped."""
    stream.expect("{")
    if stream.peek() == "}":
        stream.pos += 1
        return
    while True:
        name = stream.value()
        stream.expect(":")
        if name == key and stream.peek() == "[":
            yield from _array(stream)
        else:
            stream.value()
        following = stream.peek()
        stream.pos += 1
        if following == "}":
            return
        if following != ",":
            raise stream.error("expected ',' or '}' between members")


def csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(record number, fields) of each non-blank record, counting from 1 (the header, when there is one)."""
    with open_text(path) as handle:
        try:
            for number, fields in enumerate(csv.reader(handle), 1):
                if any(value.strip() for value in fields):
                    yield number, fields
        except csv.Error as exc:
            raise SourceError(f"{path}: malformed CSV ({exc})") from exc
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(f"{path}: not UTF-8 CSV ({exc})") from exc


def table_rows(path: Path) -> Iterator[dict[str, Any]]:
    """A table exported as CSV with a header, or as JSON (an array or one object per line), as dicts.

    CSV cells are strings; an empty cell is None.
    """
    with open_text(path) as handle:
        first = handle.read(64).lstrip()[:1]
    if first in ("{", "["):
        for item in json_items(path):
            if not isinstance(item, dict):
                raise SourceError(f"{path}: expected JSON objects (one per row)")
            yield item
        return
    rows = csv_rows(path)
    header = [name.strip().lower() for name in next(rows, (0, []))[1]]
    for _, fields in rows:
        yield {name: (value if value != "" else None) for name, value in zip(header, fields, strict=False)}


def json_object(value: Any) -> dict[str, Any] | None:
    """A JSON object held in a cell: the dict itself, or a string that parses to one; None for anything else
    (blank, malformed, or JSON that is not an object), so each source decides what such a cell means."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None
