"""core.platform on both of its branches (POSIX and Windows), and the supervisor that uses it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from core import platform
from core.supervisor import runner_alive, runner_command, wait_for

pytestmark = pytest.mark.anyio

_SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_live_process_is_alive_and_a_reaped_one_is_not() -> None:
    assert platform.pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not platform.pid_alive(child.pid)


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    try:
        assert not platform.pid_alive(child.pid)
        assert platform.command_line(child.pid) is None
    finally:
        child.wait()


@pytest.mark.parametrize("windows", [False, True])
def test_detached_and_child_options_per_platform(windows: bool) -> None:
    detached = platform.detached_popen_options(windows=windows)
    child = platform.child_popen_options(windows=windows)
    if windows:
        assert detached == {"creationflags": 0x00000200 | 0x00000008 | 0x08000000}
        assert child == {"creationflags": 0x00000200}
    else:
        assert detached == {"start_new_session": True}
        assert child == {}


def test_request_stop_sends_sigterm_on_posix() -> None:
    child = subprocess.Popen(_SLEEPER)
    platform.request_stop(child, windows=False)
    assert child.wait(timeout=10) == -signal.SIGTERM


def test_request_stop_sends_ctrl_break_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    child = subprocess.Popen(_SLEEPER)
    sent: list[int] = []
    monkeypatch.setattr(child, "send_signal", sent.append)
    platform.request_stop(child, windows=True)
    assert sent == [1]  # CTRL_BREAK_EVENT; terminate() would kill the runner without letting it finish rows
    monkeypatch.undo()
    child.kill()
    child.wait()


@pytest.mark.parametrize("windows", [False, True])
async def test_stop_signals_reach_the_callback_on_both_branches(windows: bool) -> None:
    received: list[str] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: platform.watch_stop_signals(received.append, windows=windows))
        await anyio.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)
        with anyio.fail_after(5):
            while not received:
                await anyio.sleep(0.01)
        tasks.cancel_scope.cancel()
    assert received == ["SIGINT"]


def test_a_runner_is_recognised_by_its_command_line_not_its_pid(tmp_path: Path) -> None:
    command = runner_command("job-x", tmp_path, lead=True)
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *command[1:]])
    try:
        from core import supervisor

        supervisor._children.pop(stand_in.pid, None)
        # Until the child has exec'd, its command line is the parent's or empty: wait for its own (a loaded
        # machine can take a while), then judge it.
        deadline = time.monotonic() + 30
        while "job-x" not in (platform.command_line(stand_in.pid) or []) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner_alive(stand_in.pid, "job-x")
        assert not runner_alive(stand_in.pid, "job-y")
        assert not runner_alive(os.getpid(), "job-x")
    finally:
        stand_in.kill()
        stand_in.wait()


async def test_waiting_for_runners_obeys_stop_and_never_waits_forever() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"]
    )
    stop = anyio.Event()
    stop.set()
    with anyio.fail_after(10):
        await wait_for([stubborn], stop=stop, grace=0.3)
    assert stubborn.poll() is not None


def test_peak_memory_on_linux_is_kib_from_resource() -> None:
    import resource

    expected = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = platform.peak_rss_mib(windows=False, macos=False)
    assert expected <= peak < expected + 64 and peak > 5  # this interpreter holds more than 5 MiB


def test_peak_memory_on_macos_is_bytes_from_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    class Usage:
        ru_maxrss = 300 * 1024 * 1024  # macOS reports bytes

    monkeypatch.setattr(resource, "getrusage", lambda who: Usage())
    assert platform.peak_rss_mib(windows=False, macos=True) == 300.0


def test_peak_memory_on_windows_is_the_peak_working_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # psutil's Windows memory_info carries peak_wset; the resource module must not be touched (Windows has none).
    class Memory:
        def _asdict(self) -> dict[str, int]:
            return {"rss": 100 * 1024 * 1024, "peak_wset": 250 * 1024 * 1024}

    class Process:
        def memory_info(self) -> Memory:
            return Memory()

    monkeypatch.setattr(platform.psutil, "Process", Process)
    monkeypatch.setitem(sys.modules, "resource", None)  # importing it now raises, as on Windows
    assert platform.peak_rss_mib(windows=True) == 250.0


@pytest.mark.parametrize(
    ("windows", "uri_path", "expected"),
    [
        (False, "/home/ada/my%20exports", "/home/ada/my exports"),
        (True, "/C:/Users/ada/my%20exports", r"C:\Users\ada\my exports"),
    ],
)
def test_a_file_uri_names_a_local_path_on_both_branches(windows: bool, uri_path: str, expected: str) -> None:
    assert platform.file_uri_path(uri_path, windows=windows) == expected
