"""Writing an output file safely: private, created exclusively, in place only when complete.

Every file this package writes for a user (the fixed copy, the retry CSV, JSON reports) may hold emails,
password hashes or TOTP secrets, so ``private_output`` writes it through ``<target>.partial`` created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600: a file or symlink already at that name (an interrupted
write, or one planted to redirect the write) is refused, never followed or truncated. The finished file is
moved into place at the end; an existing target is replaced only with ``overwrite=True``, otherwise it is
linked in without clobbering (so a file that appeared meanwhile is never lost). Which paths may be written
is the caller's decision.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from core.errors import OptionsError

__all__ = ["PRIVATE_MODE", "partial_path", "private_output"]

PRIVATE_MODE = 0o600
"""Owner read and write only: written files hold emails and, in retry files, hashes."""

_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def partial_path(target: Path) -> Path:
    """Where ``private_output`` writes ``target`` before moving it into place."""
    return target.with_name(target.name + ".partial")


@contextmanager
def private_output(target: Path, *, overwrite: bool = True) -> Iterator[TextIO]:
    """A text handle (UTF-8, no newline translation) whose content becomes ``target`` when the block ends.

    Raises ``OptionsError`` when ``<target>.partial`` already exists (file or symlink), or when ``target``
    exists and ``overwrite`` is false; nothing is written then. If the block raises, no file is left.
    """
    partial = partial_path(target)
    try:
        descriptor = os.open(partial, _EXCLUSIVE, PRIVATE_MODE)
    except FileExistsError:
        raise OptionsError(
            f"{partial} is in the way (left by an interrupted write, or put there): remove it, then try again"
        ) from None
    except OSError as exc:
        raise OptionsError(f"cannot write {target}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
        _move_into_place(partial, target, overwrite=overwrite)
    finally:
        partial.unlink(missing_ok=True)


def _move_into_place(partial: Path, target: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(partial, target)
        return
    try:
        os.link(partial, target)  # fails if anything is at target: no window in which it is clobbered
    except FileExistsError:
        raise OptionsError(f"{target} already exists: it was not overwritten") from None
    except OSError:  # a file system without hard links: the narrower check has to do
        if os.path.lexists(target):
            raise OptionsError(f"{target} already exists: it was not overwritten") from None
        os.replace(partial, target)
