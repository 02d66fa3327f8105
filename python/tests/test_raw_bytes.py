"""Bytes that are not text anywhere in a request (header, query, path, cookie, body) get
a 4xx JSON error, never a 500: a regression test for the token case, then a property
test that drives the ASGI app with arbitrary bytes (below any HTTP client, which would
refuse to send most of them), then raw requests over the wire to a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, Iterator
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service_support import AUTH, TOKEN, RealServer, asgi_client, make_app

TOKEN_HEADER = (b"authorization", AUTH["Authorization"].encode())


async def asgi_request(
    app: Any, method: str, path: str, *, raw_path: bytes | None = None, query: bytes = b"",
    headers: list[tuple[bytes, bytes]] = (), body: bytes = b"",  # type: ignore[assignment]
) -> tuple[int, bytes]:
    """One request straight into the ASGI app: its status and body."""
    sent: list[dict] = []
    delivered = False

    async def receive() -> dict:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # nothing more: the client stays
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": raw_path if raw_path is not None else path.encode("utf-8", "surrogateescape"),
        "query_string": query, "root_path": "", "headers": [(b"host", b"127.0.0.1:8765"), *headers],
        "server": ("127.0.0.1", 8765), "client": ("127.0.0.1", 5000), "state": {},
    }
    # A safety net against a hang, not a timing assertion.
    await asyncio.wait_for(app(scope, receive, send), 20)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def assert_json_4xx(status: int, body: bytes) -> dict:
    assert 400 <= status < 500, (status, body)
    error = json.loads(body)["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


async def test_query_token_that_is_not_latin1_is_401() -> None:
    # The reported request: UTF-8 of U+26418 and a control byte, percent-encoded.
    async with asgi_client(make_app()) as client:
        response = await client.get("/agent/stream/x?token=%F0%A6%90%98%14")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("path", "query", "headers"),
    [
        ("/agent/stream/x", b"token=\xf0\xa6\x90\x98\x14", []),
        ("/agent/stream/x", b"token=%ff%fe%00", []),
        ("/agent/stream/x", b"\xff=\xfe&token=%zz&token=" + TOKEN.encode(), []),
        ("/docs", b"token=%F0%A6%90%98", []),
        ("/agents", b"", [(b"authorization", b"Bearer \xf0\xa6\x90\x98\x14")]),
        ("/agents", b"", [(b"authorization", b"\xff\xfe \xff")]),
        ("/agents", b"", [(b"cookie", b"cagent_token_8765=\xf0\xa6\x90\x98; \xff=\xff")]),
        ("/agents", b"", [(b"origin", b"http://\xf0\xa6\x90\x98")]),
        ("/agents", b"", [(b"host", b"\xf0\xa6\x90\x98:80")]),
    ],
    ids=["query-raw", "query-escaped", "query-malformed", "docs-query", "bearer", "authorization", "cookie", "origin", "host"],
)
async def test_credentials_that_are_not_text_are_4xx(path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    status, body = await asgi_request(make_app(), "GET", path, query=query, headers=headers)
    assert_json_4xx(status, body)


async def test_right_token_after_bytes_that_are_not_text() -> None:
    # The first token= value counts: garbage before it in other parameters is no harm.
    status, _ = await asgi_request(make_app(), "GET", "/docs", query=b"\xff=\xfe&token=" + TOKEN.encode())
    assert status == 200


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


#: Every path (and none that stops the service: POST /shutdown would make every later
#: example a 503), or arbitrary text.
PATHS = st.sampled_from(["/health", "/agents", "/agent/execute", "/agent/runs", "/agent/stream/x", "/docs", "/openapi.json"]) | st.text()
HEADER_NAMES = st.sampled_from(
    [b"authorization", b"cookie", b"origin", b"host", b"content-type", b"content-length", b"transfer-encoding", b"last-event-id", b"expect"]
) | st.binary(min_size=1, max_size=20)
HEADERS = st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=60)), max_size=6)
#: Arbitrary bytes, or a token= parameter holding arbitrary bytes, raw or percent-encoded.
QUERIES = (
    st.binary(max_size=60)
    | st.builds(lambda value: b"token=" + value, st.binary(max_size=30))
    | st.builds(lambda value: b"token=" + quote_from_bytes(value).encode(), st.binary(max_size=30))
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    path=PATHS,
    query=QUERIES,
    headers=HEADERS,
    with_token=st.booleans(),
    body=st.binary(max_size=200) | st.sampled_from([b'{"agent_id": "echo", "input": {}}', b'{"agent_id": "\xff"}', b"{}"]),
)
def test_any_bytes_get_an_answer_below_500(
    runner: asyncio.Runner, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], with_token: bool, body: bytes
) -> None:
    # Lower-case names, as servers hand them to ASGI apps.
    headers = [(name.lower(), value) for name, value in headers]
    if with_token:
        headers.insert(0, TOKEN_HEADER)
    status, answer = runner.run(asgi_request(APP, method, path, query=query, headers=headers, body=body))
    assert status < 500, (status, answer)
    if status >= 400:
        assert_json_4xx(status, answer)


APP = make_app()


# The same over the wire: raw requests to a real uvicorn on loopback, both stacks.

BEARER = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
WIRE = {
    "query-escaped": (b"GET /agent/stream/x?token=%F0%A6%90%98%14 HTTP/1.1\r\n", b"", 401),
    "query-raw": (b"GET /agent/stream/x?token=\xf0\xa6\x90\x98\x14 HTTP/1.1\r\n", b"", 400),
    "path-raw": (b"GET /agent/stream/\xff\xfe HTTP/1.1\r\n", BEARER, 400),
    "path-escaped": (b"GET /agent/stream/%ff%fe HTTP/1.1\r\n", BEARER, 404),
    "bearer": (b"GET /agents HTTP/1.1\r\n", b"Authorization: Bearer \xff\xfe\r\n", 401),
    "bearer-control": (b"GET /agents HTTP/1.1\r\n", b"Authorization: Bearer \x14\r\n", None),
    "cookie": (b"GET /agents HTTP/1.1\r\n", b"Cookie: cagent_token_1=\xff\r\n", 401),
    "origin": (b"GET /agents HTTP/1.1\r\n", b"Origin: http://\xff\r\n" + BEARER, 403),
    "last-event-id": (b"GET /agent/stream/x HTTP/1.1\r\n", b"Last-Event-ID: \xff\r\n" + BEARER, 404),
    "body": (b"POST /agent/execute HTTP/1.1\r\n", BEARER + b"Content-Type: application/json\r\nContent-Length: 4\r\n", 422),
    "nul-in-header": (b"GET /agents HTTP/1.1\r\n", b"X: a\x00b\r\n" + BEARER, 400),
}
#: The answer of uvicorn's HTTP parser to a request it cannot parse: the app never sees
#: it, so it is uvicorn's plain text, not the service's JSON (docs/security.md).
PARSER_REFUSAL = b"Invalid HTTP request received."


@pytest.fixture(scope="module", params=[("asyncio", "h11"), ("uvloop", "httptools")], ids=["asyncio-h11", "uvloop-httptools"])
def wire_server(request: pytest.FixtureRequest) -> Iterator[RealServer]:
    loop, http = request.param
    running = RealServer(make_app(), loop=loop, http=http).start()
    yield running
    running.stop()


def exchange(url: str, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as connection:
        connection.sendall(raw)
        connection.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("case", list(WIRE))
def test_bytes_over_the_wire_get_a_4xx(wire_server: RealServer, case: str) -> None:
    request_line, headers, expected = WIRE[case]
    body = b"\xff\xfe\x00\x01" if case == "body" else b""
    status, answer_headers, answer = exchange(wire_server.url, request_line + b"Host: 127.0.0.1\r\n" + headers + b"\r\n" + body)
    if expected is not None:  # None: the two parsers differ (httptools refuses, h11 passes it on)
        assert status == expected, answer
    assert 400 <= status < 500, answer
    if answer_headers[b"content-type"] == b"application/json":
        assert json.loads(answer)["error"]["code"]
    else:
        assert (status, answer) == (400, PARSER_REFUSAL)
