"""A refused request's answer reaches a client that sends its whole body before reading
(http.client does), over a real uvicorn on loopback, on both server stacks."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from service_support import AUTH, RealServer, make_app, real_server
from web import drain

LIMIT = 1024 * 1024
#: Three times the limit: far more than the socket buffers hold, so a server that stops
#: reading and closes while the client still sends makes the client lose the answer.
BODY = b'{"agent_id": "echo", "input": {"text": "' + b"x" * (3 * LIMIT) + b'"}}'


server = real_server(max_body_bytes=LIMIT)


def post_whole_body(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    """Sends every byte of BODY, then reads the answer (http.client's order)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", "/agent/execute", body=BODY, headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        (AUTH, 413, "body_too_large"),
        ({}, 401, "unauthorized"),
        ({**AUTH, "Origin": "http://evil.example"}, 403, "origin_not_allowed"),
        ({**AUTH, "Host": "evil.example"}, 400, "host_not_allowed"),
    ],
    ids=["413", "401", "403", "400"],
)
def test_refusal_of_a_large_body_reaches_the_client(server: RealServer, headers: dict[str, str], status: int, code: str) -> None:
    for _ in range(20):
        answer = post_whole_body(server.url, headers)
        assert answer[0] == status, answer
        assert answer[1]["error"]["code"] == code


# The bounds of the drain, on the ASGI app itself with a receive() that counts.

async def call(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes], stall: bool = False) -> tuple[int, dict[bytes, bytes], dict, int]:
    """One POST /agent/execute: the status, headers and JSON body of the answer, and how
    many chunks of the body the app read. ``stall``: after the chunks, the client sends
    nothing more and does not close."""
    read = 0
    never = asyncio.Event()

    async def receive() -> dict:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": stall or read < len(chunks)}
        await never.wait()
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/agent/execute", "raw_path": b"/agent/execute", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers], "server": ("127.0.0.1", 8765), "client": ("127.0.0.1", 5000),
    }
    # A safety net against a hang, not a timing assertion.
    await asyncio.wait_for(app(scope, receive, send), 20)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(body), read


MIB = 1024 * 1024
TOKEN_HEADER = (b"authorization", AUTH["Authorization"].encode())


@pytest.fixture
def small_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain, "DRAIN_MAX_BYTES", 4 * MIB)


@pytest.mark.parametrize("headers", [[TOKEN_HEADER], []], ids=["413", "401"])
async def test_a_refused_body_within_the_bound_is_read_to_its_end(small_drain: None, headers: list) -> None:
    chunks = [b"x" * MIB] * 3
    status, answer_headers, _, read = await call(make_app(max_body_bytes=LIMIT), [*headers, (b"transfer-encoding", b"chunked")], chunks)
    assert status in (413, 401)
    assert read == 3
    assert b"connection" not in answer_headers  # the connection can carry the next request


@pytest.mark.parametrize("headers", [[TOKEN_HEADER], []], ids=["413", "401"])
async def test_a_refused_body_past_the_bound_is_answered_and_closed(small_drain: None, headers: list) -> None:
    chunks = [b"x" * MIB] * 50
    status, answer_headers, _, read = await call(make_app(max_body_bytes=LIMIT), [*headers, (b"transfer-encoding", b"chunked")], chunks)
    assert status in (413, 401)
    assert read < 10
    assert answer_headers[b"connection"] == b"close"


async def test_a_stalled_refused_body_is_answered_and_closed(small_drain: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain, "DRAIN_MAX_SECONDS", 0.5)
    status, answer_headers, answer, _ = await call(
        make_app(max_body_bytes=LIMIT), [TOKEN_HEADER, (b"transfer-encoding", b"chunked")], [b"x" * (2 * MIB)], stall=True
    )
    assert status == 413 and answer["error"]["code"] == "body_too_large"
    assert answer_headers[b"connection"] == b"close"


async def test_a_declared_length_past_the_bound_is_not_read(small_drain: None) -> None:
    status, answer_headers, _, read = await call(
        make_app(max_body_bytes=LIMIT), [TOKEN_HEADER, (b"content-length", str(100 * MIB).encode())], [b"x" * MIB] * 100
    )
    assert status == 413
    assert read == 0
    assert answer_headers[b"connection"] == b"close"


@pytest.mark.parametrize("headers", [[TOKEN_HEADER], []], ids=["413", "401"])
async def test_a_client_waiting_for_100_continue_is_answered_without_reading(headers: list) -> None:
    # Reading would make the server send "100 Continue" and the client the body.
    status, answer_headers, _, read = await call(
        make_app(max_body_bytes=LIMIT),
        [*headers, (b"content-length", str(3 * MIB).encode()), (b"expect", b"100-continue")],
        [b"x" * MIB] * 3,
    )
    assert status in (413, 401)
    assert read == 0
    assert answer_headers[b"connection"] == b"close"
