"""Helpers for the service tests: settings, clients, an SSE reader, a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from config import Settings
from main import create_app
from waiting import wait_until as wait_until, wait_until_blocking  # wait_until re-exported: the service tests import it from here

FIXTURES = Path(__file__).parent / "agents_fixtures"
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

#: Every endpoint of the service (method, path), and a path none answers.
ENDPOINTS = [
    ("GET", "/health"),
    ("GET", "/agents"),
    ("POST", "/agent/execute"),
    ("POST", "/agent/runs"),
    ("GET", "/agent/stream/some-id"),
    ("POST", "/shutdown"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/no-such-path"),
]


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "agents_dir": FIXTURES / "good",
        "keepalive_interval_s": 0.2,
        "default_run_timeout_s": 20.0,
        "run_retention_s": 60.0,
    }
    values.update(overrides)
    return Settings(**values)


def make_app(**overrides: Any) -> FastAPI:
    return create_app(make_settings(**overrides))


def asgi_client(app: FastAPI, **kwargs: Any) -> httpx.AsyncClient:
    """In-process client. ASGITransport buffers whole responses: stream only finished runs."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1", **kwargs)


@dataclass
class Event:
    type: str
    data: dict[str, Any]
    id: str | None = None


def parse_sse(text: str) -> list[Event]:
    """The dispatched events: a block without ``data`` (the opening ``retry:``) is not one."""
    events: list[Event] = []
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line:
            lines.append(line)
        elif lines:
            if _has_data(lines):
                events.append(_event(lines))
            lines = []
    return events


def _has_data(lines: list[str]) -> bool:
    return any(line == "data" or line.startswith("data:") for line in lines)


def _event(lines: list[str]) -> Event:
    fields: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
    return Event(type=fields.get("event", "message"), data=json.loads(fields.get("data", "{}")), id=fields.get("id"))


async def sse_events(response: httpx.Response) -> AsyncIterator[Event]:
    """The events of a streamed response, as they arrive."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if line:
            lines.append(line)
        elif lines:
            if _has_data(lines):
                yield _event(lines)
            lines = []


def fault_agents() -> Any:
    """The module of the good fixture agents as loaded by the latest create_app."""
    import sys

    return sys.modules["cagent_app_agents.faults"]


@dataclass
class RealServer:
    """uvicorn on 127.0.0.1 with an ephemeral port, serving in its own thread and loop
    (so that the loop and HTTP implementations are uvicorn's own choice)."""

    app: FastAPI
    loop: str = "asyncio"
    http: str = "h11"
    url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _errors: list[BaseException] = field(default_factory=list)

    def start(self) -> "RealServer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, loop=self.loop, http=self.http, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        server = self._server

        def serve() -> None:
            try:
                with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
                    runner.run(server.serve(sockets=[sock]))
            except BaseException as error:  # reported by stop()
                self._errors.append(error)

        self._thread = threading.Thread(target=serve, name="uvicorn-test", daemon=True)
        self._thread.start()
        wait_until_blocking(lambda: server.started or bool(self._errors), what="the test server started")
        if self._errors:
            raise RuntimeError(f"server did not start: {self._errors}")
        return self

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(15)
        assert not self._thread.is_alive(), "server thread did not stop"
        assert not self._errors, self._errors


#: The two server stacks the real-server tests run on (event loop, HTTP protocol).
STACKS = [("asyncio", "h11"), ("uvloop", "httptools")]
STACK_IDS = ["asyncio-h11", "uvloop-httptools"]


def real_server(**overrides: Any) -> Any:
    """A test module's ``server`` fixture (``server = real_server(...)``): the app of
    ``make_app(**overrides)`` on a real uvicorn, once per stack of STACKS, stopped after
    each test."""

    @pytest.fixture(params=STACKS, ids=STACK_IDS, name="server")
    def server(request: pytest.FixtureRequest) -> Iterator[RealServer]:
        loop, http = request.param
        running = RealServer(make_app(**overrides), loop=loop, http=http).start()
        yield running
        running.stop()

    return server


def real_client(**options: Any) -> Any:
    """A test module's ``client`` fixture (``client = real_client(...)``): an httpx client
    of its ``server`` fixture that sends the token; ``options`` go to the client."""

    @pytest.fixture(name="client")
    async def client(server: RealServer) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=20, **options) as client:
            yield client

    return client

