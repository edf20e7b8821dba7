"""Every call whose behaviour differs between POSIX and Windows, behind a few small functions.

Process liveness goes through psutil (``os.kill(pid, 0)`` is a liveness check on POSIX but terminates the
process on Windows); detaching a process uses ``start_new_session`` on POSIX and creation flags on Windows;
asking a process to stop is SIGTERM on POSIX and CTRL_BREAK_EVENT (to its own process group) on Windows;
listening for stop signals uses anyio's receiver on POSIX and plain ``signal.signal`` handlers on Windows,
where asyncio has no signal support; peak memory comes from ``resource`` on POSIX (which Windows lacks) and
from psutil's peak working set on Windows; a ``file:`` URI's path is ``/C:/x`` for ``C:\\x`` on Windows.
Each function takes ``windows=`` so tests run both branches on
one machine. Nothing else in the project may branch on the platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import anyio
import psutil

__all__ = [
    "IS_WINDOWS",
    "child_popen_options",
    "command_line",
    "detached_popen_options",
    "file_uri_path",
    "peak_rss_mib",
    "pid_alive",
    "request_stop",
    "watch_stop_signals",
]

IS_WINDOWS = os.name == "nt"
_MIB = 1024 * 1024

# Windows creation flags and the console event a process group receives; named here because the subprocess and
# signal modules only define them on Windows.
_CREATE_NEW_PROCESS_GROUP = 0x00000200
_DETACHED_PROCESS = 0x00000008
_CREATE_NO_WINDOW = 0x08000000
_CTRL_BREAK_EVENT = 1


def pid_alive(pid: int) -> bool:
    """True while a process ``pid`` exists on this host and is not a zombie (exited, never reaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists; another user owns it


def command_line(pid: int) -> list[str] | None:
    """The command line of a live process ``pid``; None when there is none (or it is a zombie)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return []


def detached_popen_options(*, windows: bool = IS_WINDOWS) -> dict[str, Any]:
    """``subprocess.Popen`` keywords that detach a child from this process's terminal and signals, so it
    outlives its parent: a new session on POSIX; a new process group without a console on Windows (the group
    is what ``request_stop`` signals there)."""
    if windows:
        return {"creationflags": _CREATE_NEW_PROCESS_GROUP | _DETACHED_PROCESS | _CREATE_NO_WINDOW}
    return {"start_new_session": True}


def child_popen_options(*, windows: bool = IS_WINDOWS) -> dict[str, Any]:
    """``subprocess.Popen`` keywords for a child this process watches and stops itself (``--workers`` helpers):
    on Windows its own process group, so ``request_stop`` reaches it and not this process."""
    return {"creationflags": _CREATE_NEW_PROCESS_GROUP} if windows else {}


def request_stop(process: subprocess.Popen[bytes], *, windows: bool = IS_WINDOWS) -> None:
    """Ask a child to finish its rows in flight and stop: SIGTERM on POSIX, CTRL_BREAK_EVENT on Windows
    (``terminate()`` there would kill it at once)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(OSError):  # it exited meanwhile
        process.send_signal(_CTRL_BREAK_EVENT if windows else signal.SIGTERM)


async def watch_stop_signals(on_stop: Callable[[str], None], *, windows: bool = IS_WINDOWS) -> None:
    """Call ``on_stop(signal name)`` for each stop request this process receives, until cancelled.

    POSIX: SIGINT and SIGTERM. Windows: SIGINT (Ctrl-C) and SIGBREAK (Ctrl-Break, what ``request_stop``
    sends), through ``signal.signal``, since asyncio cannot receive signals there.
    """
    if not windows:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                on_stop(signal.Signals(signum).name)
        return
    loop = asyncio.get_running_loop()
    wanted = [signal.SIGINT, *([signal.Signals(signal.SIGBREAK)] if hasattr(signal, "SIGBREAK") else [])]

    def handler(signum: int, _frame: object) -> None:
        loop.call_soon_threadsafe(on_stop, signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, handler) for signum in wanted}
    try:
        await anyio.sleep_forever()
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def peak_rss_mib(*, windows: bool = IS_WINDOWS, macos: bool = sys.platform == "darwin") -> float:
    """This process's peak resident memory in MiB.

    POSIX: ``ru_maxrss``, which Linux gives in KiB and macOS in bytes. Windows, which has no ``resource``
    module: the peak working set.
    """
    if windows:
        return float(psutil.Process().memory_info()._asdict()["peak_wset"]) / _MIB
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MIB if macos else peak / 1024


def file_uri_path(path: str, *, windows: bool = IS_WINDOWS) -> str:
    """The local path named by the path part of a ``file:`` URI, percent-decoded.

    On Windows ``/C:/Users/ada%20b`` is ``C:\\Users\\ada b``; elsewhere ``/home/ada%20b`` is ``/home/ada b``.
    """
    if windows:
        import nturl2path

        return nturl2path.url2pathname(path)
    return unquote(path)
