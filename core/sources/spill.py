"""A private on-disk scratch store for one conversion, so memory stays flat whatever the export's size.

Two uses: side tables an adapter joins by id (Auth0's password rows and organization members, Supabase's
identities and MFA factors, ...), and the converted users, read back grouped by email so users sharing
an email can be merged. It is a SQLite file in a fresh ``0700`` temporary directory (it holds hashes),
removed when the conversion ends.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

__all__ = ["Spill"]

_BATCH = 5000


class Spill:
    """Side tables (name, key) -> values, and the users table; use as a context manager."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="workos-convert-"))
        os.chmod(self._dir, 0o700)
        self._db = sqlite3.connect(self._dir / "spill.sqlite3", isolation_level=None)
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            PRAGMA cache_size = -16384;
            CREATE TABLE side (name TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL);
            CREATE TABLE users (email TEXT NOT NULL, rank INTEGER NOT NULL, seq INTEGER NOT NULL, payload BLOB);
            """
        )
        self._side: list[tuple[str, str, bytes]] = []
        self._users: list[tuple[str, int, int, bytes]] = []
        self._indexed = False
        self._db.execute("BEGIN")

    def __enter__(self) -> Spill:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def put(self, name: str, key: str, value: Any) -> None:
        """Add ``value`` (JSON-able) under ``key`` in side table ``name``; a key may hold several values."""
        self._side.append((name, key, orjson.dumps(value)))
        if len(self._side) >= _BATCH:
            self._flush_side()

    def _flush_side(self) -> None:
        self._db.executemany("INSERT INTO side VALUES (?, ?, ?)", self._side)
        self._side.clear()

    def get(self, name: str, key: str) -> list[Any]:
        """Every value under ``key`` in ``name``, in the order they were put."""
        if self._side:
            self._flush_side()
        if not self._indexed:
            self._db.execute("CREATE INDEX side_key ON side (name, key)")
            self._indexed = True
        rows = self._db.execute("SELECT value FROM side WHERE name = ? AND key = ? ORDER BY rowid", (name, key))
        return [orjson.loads(value) for (value,) in rows]

    def has(self, name: str) -> bool:
        """Whether side table ``name`` holds anything."""
        if self._side:
            self._flush_side()
        return self._db.execute("SELECT 1 FROM side WHERE name = ? LIMIT 1", (name,)).fetchone() is not None

    def keys(self, name: str) -> Iterator[str]:
        """The distinct keys of side table ``name``."""
        if self._side:
            self._flush_side()
        for (key,) in self._db.execute("SELECT DISTINCT key FROM side WHERE name = ?", (name,)):
            yield key

    def add_user(self, email: str, rank: int, seq: int, payload: Any) -> None:
        """Keep one converted user until ``users_by_email``."""
        self._users.append((email, rank, seq, orjson.dumps(payload)))
        if len(self._users) >= _BATCH:
            self._flush_users()

    def _flush_users(self) -> None:
        self._db.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", self._users)
        self._users.clear()

    def users_by_email(self) -> Iterator[tuple[str, list[Any]]]:
        """(email, payloads best first) for every email: lower ``rank`` first, then the order they came in."""
        self._flush_users()
        self._db.execute("COMMIT")
        rows: Iterable[tuple[str, bytes]] = self._db.execute(
            "SELECT email, payload FROM users ORDER BY email, rank, seq"
        )
        current: str | None = None
        group: list[Any] = []
        for email, payload in rows:
            if email != current:
                if current is not None:
                    yield current, group
                current, group = email, []
            group.append(orjson.loads(payload))
        if current is not None:
            yield current, group
