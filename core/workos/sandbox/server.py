"""Running the sandbox: in this process on a background thread, in a child process, or in the foreground.

All three give a ``SandboxHandle``-compatible URL. The handle talks to the admin endpoints over HTTP, so it
works the same whether the sandbox is a thread here or another process.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx2

from core.errors import OptionsError
from core.workos.sandbox.app import SandboxApp
from core.workos.sandbox.runtime import Sandbox

if TYPE_CHECKING:
    import uvicorn

__all__ = ["SandboxHandle", "ready_message", "running_sandbox", "serve", "spawned_sandbox"]

_START_TIMEOUT_S = 15.0


class SandboxHandle:
    """A client for one sandbox's admin endpoints, plus the URL and API key to point a WorkOS client at."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self._http = httpx2.Client(base_url=url, timeout=10.0)

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        data: dict[str, Any] = response.json() if response.content else {}
        return data

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def reset(self) -> None:
        """Back to the start-up seed and configuration, with zeroed counters and rate windows."""
        self._call("POST", "/_sandbox/reset")

    def stats(self) -> dict[str, Any]:
        """Requests and outcomes per route (``routes``), their ``totals``, and object counts (``objects``)."""
        return self._call("GET", "/_sandbox/stats")

    def state(self) -> dict[str, Any]:
        """Every stored object (users without passwords or hashes)."""
        return self._call("GET", "/_sandbox/state")

    def config(self) -> dict[str, Any]:
        return self._call("GET", "/_sandbox/config")

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change configuration fields (see ``SandboxConfig``); returns the whole new configuration."""
        return self._call("PUT", "/_sandbox/config", changes)

    def add_hook(
        self, method: str, path: str, status: int, *, body: Any = None, count: int | None = None
    ) -> dict[str, Any]:
        """Add an emulator-style error hook; returns it with its ``id``."""
        hook: dict[str, Any] = {"method": method, "path": path, "status": status}
        if body is not None:
            hook["body"] = body
        if count is not None:
            hook["count"] = count
        return self._call("POST", "/_emulate/hooks", hook)

    def close(self) -> None:
        self._http.close()


def ready_message(url: str, api_key: str) -> str:
    """What a started sandbox prints: its URL, then the environment to point a client at it."""
    return f"WorkOS sandbox listening on {url}\nexport WORKOS_BASE_URL={url} WORKOS_API_KEY={api_key}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP, and
    # without it every response waits ~40 ms for a delayed ACK between its header and body writes.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OptionsError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(sandbox: Sandbox) -> uvicorn.Server:
    # Imported here: uvicorn imports click, and importing core must not load click (only serving does).
    import uvicorn

    config = uvicorn.Config(
        SandboxApp(sandbox),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        backlog=2048,
    )
    return uvicorn.Server(config)


@contextmanager
def running_sandbox(
    sandbox: Sandbox | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[SandboxHandle]:
    """Serve ``sandbox`` (a default one when None) from a background thread with its own event loop.

    Yields once uvicorn has started; on exit asks it to stop and joins the thread, releasing the port.
    Example: ``with running_sandbox() as sb: WorkOSClient(base_url=sb.url, api_key=sb.api_key)``.
    """
    sandbox = sandbox or Sandbox()
    sock = _bind(host, port)
    server = _server(sandbox)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="workos-sandbox", daemon=True)
    thread.start()
    handle = SandboxHandle(_url(sock), sandbox.api_key)
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        yield handle
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        handle.close()
        sock.close()


def serve(sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 4100, on_ready: Callable[[str], None]) -> None:
    """Serve in the foreground until interrupted; ``on_ready(url)`` is called once the port is bound."""
    sock = _bind(host, port)
    try:
        on_ready(_url(sock))
        _server(sandbox).run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def spawned_sandbox(
    args: Sequence[str] = (), *, api_key: str | None = None, python: str | None = None
) -> Iterator[SandboxHandle]:
    """Run ``python -m core.workos.sandbox --port 0 [args]`` as a child process and yield its handle.

    Keeps the sandbox's CPU out of the caller's process (benchmarks). ``api_key`` must be one the child
    accepts when ``args`` configure keys; ``python`` is the interpreter (default: this one), so an installed
    copy can be run. The child is terminated and reaped on exit.
    """
    command = [python or sys.executable, "-m", "core.workos.sandbox", "--port", "0", *args]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        match = re.search(r"http://\S+", line)
        if match is None:
            raise RuntimeError(f"the sandbox process did not start (exit code {child.wait(timeout=10)})")
        handle = SandboxHandle(match.group(0), api_key or "sk_test_sandbox")
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while True:
                try:
                    handle.health()
                    break
                except httpx2.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            yield handle
        finally:
            handle.close()
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
