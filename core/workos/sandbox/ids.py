"""Identifiers and timestamps in WorkOS's formats: ``<prefix>_<26 Crockford base32 chars>`` and ISO 8601 with ms.

The 26 characters are 10 of millisecond time and 16 random, like a ULID, so ids sort roughly by creation.
Request ids (``req_…``) use the same body. Nothing here knows about users or routes.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

__all__ = ["new_id", "now_iso"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _base32(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``user_01JD8Z3K8M4X2N5P7Q9R0S1T2V``."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_base32(millis, 10)}{_base32(rand, 16)}"


def now_iso() -> str:
    """Return the current UTC time as ``2026-11-30T12:00:00.000Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
