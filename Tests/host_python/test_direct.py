"""cagent_host.direct against the real service on a loop in another thread."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cagent_host.direct import DirectCalls
from cagent_host.messages import DirectDelivery, DirectRequest, DirectRequestKind
from cagent_host.server import purge_service_modules
from waiting import wait_until_blocking

SERVICE = Path(__file__).resolve().parents[2] / "python"
FIXTURE_AGENTS = Path(__file__).resolve().parents[1] / "EmbeddedHostTests" / "Fixtures" / "agents"


@pytest.fixture
def calls() -> Iterator[tuple[DirectCalls, Any]]:
    sys.path.insert(0, str(SERVICE))
    from config import Settings
    from main import create_app

    app = create_app(Settings(token="t", agents_dir=FIXTURE_AGENTS))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield DirectCalls(loop, lambda: app), app
    asyncio.run_coroutine_threadsafe(app.state.service.shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
    sys.path.remove(str(SERVICE))
    purge_service_modules(str(SERVICE))


class Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.done = threading.Event()

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.items.append((kind, payload))
        if kind in ("result", "error") or (kind == "event" and payload["type"] in ("result", "error")):
            self.done.set()


def test_execute_delivers_the_result(calls: tuple[DirectCalls, Any]) -> None:
    direct, _ = calls
    inbox = Inbox()
    direct.execute("echo", {"a": [1, "ü"]}, None, None, inbox).result(10)
    assert [kind for kind, _ in inbox.items] == ["result", "done"]
    assert inbox.items[0][0] == "result"
    assert inbox.items[0][1]["result"] == {"a": [1, "ü"]}
    assert inbox.items[0][1]["agent_id"] == "echo"


@pytest.mark.parametrize(
    ("agent_id", "input", "code", "status"),
    [("nope", {}, "unknown_agent", 404), ("echo", [], "invalid_request", 422)],
)
def test_execute_errors_have_the_http_codes(calls: tuple[DirectCalls, Any], agent_id: str, input: Any, code: str, status: int) -> None:
    direct, _ = calls
    inbox = Inbox()
    direct.execute(agent_id, input, None, None, inbox).result(10)
    kind, payload = inbox.items[0]
    assert (kind, payload["code"], payload["status"]) == ("error", code, status)


def test_stream_delivers_every_event_then_the_result(calls: tuple[DirectCalls, Any]) -> None:
    direct, _ = calls
    inbox = Inbox()
    direct.stream("slow_stream", {"steps": 3, "interval": 0}, None, None, inbox).result(10)
    assert inbox.items[-1] == ("done", {"cancelled": False})
    types = [payload["type"] for kind, payload in inbox.items[:-1]]
    assert types == ["thinking", "thinking", "thinking", "result"]
    assert [payload["id"] for _, payload in inbox.items[:-1]] == ["0", "1", "2", "3"]


def test_cancelling_a_stream_cancels_the_run(calls: tuple[DirectCalls, Any]) -> None:
    direct, app = calls
    inbox = Inbox()
    future = direct.stream("slow_stream", {"steps": 100000, "interval": 0.01}, None, None, inbox)
    wait_until_blocking(lambda: bool(inbox.items), what="the stream's first event arrives")
    future.cancel()
    wait_until_blocking(lambda: app.state.service.task_count == 0, what="the cancelled run's task ends")


def test_cancelling_an_execute_cancels_the_run(calls: tuple[DirectCalls, Any]) -> None:
    direct, app = calls
    inbox = Inbox()
    future = direct.execute("slow_stream", {"steps": 100000, "interval": 0.01}, None, None, inbox)
    wait_until_blocking(lambda: app.state.service.task_count == 1, what="the run's task starts")
    future.cancel()
    wait_until_blocking(lambda: app.state.service.task_count == 0, what="the cancelled run's task ends")
    assert inbox.items == [("done", {"cancelled": True})]


def test_the_host_inbox_starts_and_cancels_calls_by_their_named_fields(calls: tuple[DirectCalls, Any]) -> None:
    """The host's path: DirectRequest items taken from the inbox when the pipe wakes the
    loop, and DirectDelivery kinds delivered per call id."""
    direct, app = calls
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    inbox: list[list[DirectRequest]] = []
    delivered: list[tuple[int, DirectDelivery, dict[str, Any]]] = []
    finished = threading.Event()

    def take() -> list[DirectRequest]:
        return inbox.pop(0) if inbox else []

    def deliver(call_id: int, delivery: DirectDelivery, payload: dict[str, Any]) -> None:
        delivered.append((call_id, delivery, payload))
        if call_id == 2 and delivery == DirectDelivery.DONE:
            finished.set()

    asyncio.run_coroutine_threadsafe(_attach(direct, read_fd, take, deliver), direct._loop).result(10)
    inbox.append([
        {"kind": DirectRequestKind.EXECUTE, "call_id": 1, "agent_id": "echo", "input": {"a": 1}, "context": None, "timeout_s": None},
        {"kind": DirectRequestKind.STREAM, "call_id": 2, "agent_id": "slow_stream", "input": {"steps": 100000, "interval": 0.01}, "context": None, "timeout_s": None},
    ])
    os.write(write_fd, b"\x01")
    wait_until_blocking(
        lambda: any(call_id == 2 and delivery == DirectDelivery.EVENT for call_id, delivery, _ in delivered),
        what="the stream's first event is delivered",
    )
    inbox.append([{"kind": DirectRequestKind.CANCEL, "call_id": 2}])
    os.write(write_fd, b"\x01")
    assert finished.wait(10)
    first = [(delivery, payload) for call_id, delivery, payload in delivered if call_id == 1]
    assert [delivery for delivery, _ in first] == [DirectDelivery.RESULT, DirectDelivery.DONE]
    assert first[0][1]["result"] == {"a": 1}
    assert delivered[-1] == (2, DirectDelivery.DONE, {"cancelled": True})
    direct._loop.call_soon_threadsafe(direct._loop.remove_reader, read_fd)
    os.close(read_fd)
    os.close(write_fd)


async def _attach(direct: DirectCalls, fd: int, take: Any, deliver: Any) -> None:
    direct.attach(fd, take, deliver)
