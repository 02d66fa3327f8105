"""The request log: one line per request, JSON lines when configured, no secrets."""

from __future__ import annotations

import json
import logging
from typing import Iterator

import pytest

from logs import JsonFormatter, QuietHealth, RedactToken
from service_support import AUTH, TOKEN, asgi_client, make_app


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_log() -> Iterator[Capture]:
    capture = Capture()
    logger = logging.getLogger("cagent.access")
    logger.addHandler(capture)
    yield capture
    logger.removeHandler(capture)


async def test_one_line_per_request_with_request_id(access_log: Capture) -> None:
    async with asgi_client(make_app(), headers=AUTH) as client:
        response = await client.post("/agent/execute", json={"agent_id": "echo", "input": {}})
        await client.get("/nope")
    first, second = access_log.records
    assert (first.method, first.path, first.status) == ("POST", "/agent/execute", 200)
    assert first.request_id == response.headers["x-request-id"]
    assert first.duration_ms >= 0
    assert (second.path, second.status) == ("/nope", 404)


async def test_query_token_is_not_logged(access_log: Capture) -> None:
    async with asgi_client(make_app()) as client:
        await client.get(f"/agent/stream/x?token={TOKEN}")
    (record,) = access_log.records
    assert TOKEN not in record.getMessage() and record.path == "/agent/stream/x"


def test_json_lines() -> None:
    record = logging.makeLogRecord(
        {"name": "cagent.access", "levelname": "INFO", "msg": "GET /health 200", "status": 200, "request_id": "abc"}
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /health 200"
    assert entry["status"] == 200 and entry["request_id"] == "abc"
    assert entry["level"] == "info" and entry["time"]


def test_log_json_setting_installs_json_lines() -> None:
    logger = logging.getLogger("cagent")
    saved = logger.handlers[:]
    # Pretend nobody else (pytest, the embedding host) configured the logger.
    logger.handlers = []
    try:
        make_app(log_json=True)
        (ours,) = logger.handlers
        assert isinstance(ours.formatter, JsonFormatter)
        make_app()  # back to plain text, replacing ours rather than adding one
        (again,) = logger.handlers
        assert not isinstance(again.formatter, JsonFormatter)
        # A host's handler is left alone and ours is not added next to it.
        logger.handlers = [host := logging.NullHandler()]
        make_app(log_json=True)
        assert logger.handlers == [host]
    finally:
        logger.handlers = saved


def test_uvicorn_access_log_hides_the_query_token() -> None:
    record = logging.makeLogRecord(
        {"msg": '%s - "%s %s HTTP/%s" %d', "args": ("127.0.0.1:1", "GET", f"/agent/stream/r?token={TOKEN}&a=1", "1.1", 200)}
    )
    RedactToken().filter(record)
    assert TOKEN not in record.getMessage()
    assert "token=***&a=1" in record.getMessage()


async def test_successful_health_probes_are_not_logged_at_the_default_level(access_log: Capture) -> None:
    app = make_app()  # log_level "info", the default
    async with asgi_client(app, headers=AUTH) as client:
        for _ in range(3):
            assert (await client.get("/health")).status_code == 200
        assert (await client.get("/agents")).status_code == 200
        # A probe that fails (a Host the service refuses) is worth a line.
        assert (await client.get("/health", headers={"Host": "evil.example"})).status_code == 400
    assert [(r.path, r.status, r.levelname) for r in access_log.records] == [
        ("/agents", 200, "INFO"),
        ("/health", 400, "INFO"),
    ]


async def test_health_probes_are_logged_at_debug_level(access_log: Capture) -> None:
    app = make_app(log_level="debug")
    try:
        async with asgi_client(app) as client:
            assert (await client.get("/health")).status_code == 200
    finally:
        make_app()
    assert [(r.path, r.status, r.levelname) for r in access_log.records] == [("/health", 200, "DEBUG")]


def uvicorn_access(path: str, status: int) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "uvicorn.access", "msg": '%s - "%s %s HTTP/%s" %d', "args": ("127.0.0.1:1", "GET", path, "1.1", status)}
    )


def test_uvicorn_access_log_drops_successful_health_probes_unless_debug() -> None:
    quiet = QuietHealth()
    make_app(log_level="info")
    assert not quiet.filter(uvicorn_access("/health", 200))
    assert quiet.filter(uvicorn_access("/health", 503))
    assert quiet.filter(uvicorn_access("/agents", 200))
    assert quiet.filter(uvicorn_access("/healthz", 200))
    make_app(log_level="debug")
    try:
        assert quiet.filter(uvicorn_access("/health", 200))
    finally:
        make_app(log_level="info")
    # Installed on uvicorn's access logger, once.
    filters = logging.getLogger("uvicorn.access").filters
    assert sum(isinstance(f, QuietHealth) for f in filters) == 1
