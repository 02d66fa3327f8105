"""cagent_host.runner driven as the Swift host drives it: from another thread."""

from __future__ import annotations

import gc
import http.client
import json
import os
import socket
import sys
import threading
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cagent_host import runner
from cagent_host.server import purge_service_modules
from waiting import wait_until_blocking

APP = """
import gc
from fastapi import FastAPI
import helper
app = FastAPI()
LOADED_WITH_GC = gc.isenabled()


class Marker:
    def __init__(self):
        self.cycle = self  # only the cyclic collector can free it


marker = Marker()

@app.get("/health")
async def health():
    return {"status": "ok", "version": helper.VERSION}
"""


@pytest.fixture
def service(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text(APP)
    (tmp_path / "helper.py").write_text('VERSION = "1"\n')
    return tmp_path


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


class Host:
    """What the Swift host does: run() on one thread, commands from another."""

    def __init__(self, service: Path, listener: socket.socket, **extra: Any) -> None:
        self.port = listener.getsockname()[1]
        self.notes: list[tuple[str, Any]] = []
        self.controller: runner.Controller | None = None
        self.serving = threading.Semaphore(0)
        options = {
            "server": {
                "service_dir": str(service),
                "app": "main:app",
                "listen_fd": listener.fileno(),
                "log_level": "warning",
                "loop": "asyncio",
                "http": "h11",
                "shutdown_timeout_s": 2.0,
            },
            **extra,
        }
        self.result: str | None = None
        self.thread = threading.Thread(target=self._run, args=(json.dumps(options),))
        self.thread.start()

    def _run(self, options: str) -> None:
        try:
            gc.disable()  # as the Swift host does before it imports the runner
            self.result = runner.run(options, self._notify)
        finally:
            for name in [n for n in sys.modules if n in ("main", "helper")]:
                del sys.modules[name]

    def _notify(self, kind: str, payload: Any) -> None:
        if kind == "controller":
            self.controller = payload
            return
        self.notes.append((kind, payload))
        if kind == "serving":
            self.serving.release()

    def wait_serving(self) -> None:
        assert self.serving.acquire(timeout=30), self.notes

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return json.loads(response.read())

    def request(self, command: str) -> None:
        assert self.controller is not None
        self.controller.request(command)

    def finish(self) -> str | None:
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.result


def test_serves_warm_restarts_with_new_code_and_stops(service: Path, listener: socket.socket) -> None:
    host = Host(service, listener)
    host.wait_serving()
    assert host.get("/health") == {"status": "ok", "version": "1"}
    (service / "helper.py").write_text('VERSION = "2"\n')
    host.request("warm")
    host.wait_serving()
    assert host.get("/health")["version"] == "2"
    host.request("stop")
    assert host.finish() == "stop"
    serving = [note for note in host.notes if note[0] == "serving"]
    assert serving == [("serving", {"service_generation": 1, "restart": None}), ("serving", {"service_generation": 1, "restart": "warm"})]


def test_the_replaced_server_serves_until_retired_then_closes_its_connections(service: Path, listener: socket.socket) -> None:
    host = Host(service, listener)
    host.wait_serving()
    old = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    old.request("GET", "/health")
    assert json.loads(old.getresponse().read())["version"] == "1"
    (service / "helper.py").write_text('VERSION = "2"\n')
    host.request("warm")
    host.wait_serving()
    assert host.get("/health")["version"] == "2"
    # Not retired yet: the old server still answers on its keep-alive connection.
    old.request("GET", "/health")
    assert json.loads(old.getresponse().read())["version"] == "1"
    host.request("retire")

    def old_connection_closed() -> bool:
        try:
            old.request("GET", "/health")
            old.getresponse().read()
        except (ConnectionError, http.client.HTTPException, OSError):
            return True
        return False

    wait_until_blocking(old_connection_closed, what="the replaced server closes its keep-alive connection after retire")
    assert host.get("/health")["version"] == "2"
    host.request("stop")
    assert host.finish() == "stop"


def test_the_service_loads_without_the_cyclic_collector_which_then_resumes_without_it(
    service: Path, listener: socket.socket
) -> None:
    host = Host(service, listener)
    host.wait_serving()
    assert sys.modules["main"].LOADED_WITH_GC is False
    assert gc.isenabled()
    assert gc.get_freeze_count() > 10_000, "what the load left alive is out of the collector's generations"
    host.request("stop")
    assert host.finish() == "stop"
    assert gc.isenabled() and gc.get_freeze_count() == 0, "finalization must see every object"


def test_a_retired_service_is_collected_although_it_was_frozen(service: Path, listener: socket.socket) -> None:
    host = Host(service, listener)
    host.wait_serving()
    old_marker = weakref.ref(sys.modules["main"].marker)
    (service / "helper.py").write_text('VERSION = "2"\n')
    host.request("warm")
    host.wait_serving()
    assert sys.modules["main"].LOADED_WITH_GC is False, "a warm restart loads with the collector off too"
    assert gc.isenabled()
    assert old_marker() is not None, "the old service serves until it is retired"
    host.request("retire")
    wait_until_blocking(lambda: old_marker() is None, what="the replaced service's cyclic objects are collected")
    wait_until_blocking(lambda: gc.get_freeze_count() != 0, what="the new service is frozen again")
    assert gc.get_freeze_count() > 10_000, "the new service is frozen again after the collection"
    host.request("stop")
    assert host.finish() == "stop"


def test_a_broken_reload_keeps_the_running_service(service: Path, listener: socket.socket) -> None:
    host = Host(service, listener)
    host.wait_serving()
    (service / "helper.py").write_text("VERSION = (\n")
    host.request("warm")
    wait_until_blocking(lambda: any(kind == "warm_restart_failed" for kind, _ in host.notes), what="the host is told the reload failed")
    assert host.get("/health")["version"] == "1"
    failure = next(payload for kind, payload in host.notes if kind == "warm_restart_failed")
    assert failure["error"].startswith("SyntaxError")
    assert gc.isenabled(), "a failed load resumes the collector"
    host.request("stop")
    assert host.finish() == "stop"


def test_cold_is_refused_for_an_unsafe_module_and_done_warm(service: Path, listener: socket.socket) -> None:
    host = Host(service, listener, extra_unsafe=["h11"])
    host.wait_serving()
    host.request("cold")
    host.wait_serving()
    assert ("cold_restart_refused", {"reasons": ["extension module 'h11' does not survive re-initialization"]}) in host.notes
    host.request("cold")  # h11 still loaded: refused again, never "cold"
    host.wait_serving()
    host.request("stop")
    assert host.finish() == "stop"


def test_cold_returns_to_the_host(service: Path, listener: socket.socket) -> None:
    host = Host(service, listener)
    host.wait_serving()
    host.request("cold")
    assert host.finish() == "cold"


def test_unknown_commands_are_refused(service: Path, listener: socket.socket) -> None:
    host = Host(service, listener)
    host.wait_serving()
    with pytest.raises(ValueError, match="unknown command 'reboot'"):
        host.request("reboot")
    host.request("stop")
    assert host.finish() == "stop"


def test_heartbeats_written_to_the_pipe_are_acknowledged_newest_first(service: Path, listener: socket.socket) -> None:
    # The Swift watchdog writes sequence numbers without the GIL; the loop answers the
    # newest it has read, and only while it runs.
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    acknowledged: list[int] = []
    answered = threading.Event()

    def acknowledge(sequence: int) -> None:
        acknowledged.append(sequence)
        answered.set()

    host = Host(service, listener)
    host.wait_serving()
    try:
        assert host.controller is not None
        host.controller._loop.call_soon_threadsafe(host.controller.watch_heartbeats, read_end, acknowledge)
        os.write(write_end, (1).to_bytes(8, "little") + (2).to_bytes(8, "little"))
        assert answered.wait(10)
        assert acknowledged == [2]
        answered.clear()
        os.write(write_end, (3).to_bytes(8, "little"))
        assert answered.wait(10)
        assert acknowledged == [2, 3]
    finally:
        host.request("stop")
        assert host.finish() == "stop"
        os.close(read_end)
        os.close(write_end)


def test_purge_forgets_only_the_service_modules(service: Path) -> None:
    sys.path.insert(0, str(service))
    try:
        import helper  # noqa: F401

        assert "helper" in sys.modules
        assert purge_service_modules(str(service)) == ["helper"]
        assert "helper" not in sys.modules
        assert "json" in sys.modules
    finally:
        sys.path.remove(str(service))


STOPPABLE_APP = """
from fastapi import FastAPI
app = FastAPI()


class Service:
    on_stop_requested = None


app.state.service = Service()


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.post("/shutdown")
async def shutdown():
    app.state.service.on_stop_requested("POST /shutdown")
    return {"status": "ok"}
"""


def test_a_stop_the_service_asks_for_is_forwarded_to_the_host_after_a_warm_restart_too(
    service: Path, listener: socket.socket
) -> None:
    (service / "main.py").write_text(STOPPABLE_APP)
    host = Host(service, listener)
    host.wait_serving()
    host.request("warm")
    host.wait_serving()
    request = urllib.request.Request(f"http://127.0.0.1:{host.port}/shutdown", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    # The host decides: the runner only tells it, and stops when it is told to.
    assert ("stop_requested", {"reason": "POST /shutdown"}) in host.notes
    assert host.thread.is_alive()
    host.request("stop")
    assert host.finish() == "stop"
