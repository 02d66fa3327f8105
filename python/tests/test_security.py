"""Token, Host allowlist, CORS and body limit (in-process)."""

from __future__ import annotations

from typing import AsyncIterator

import httpx
import pytest

from service_support import AUTH, ENDPOINTS, TOKEN, asgi_client, make_app
from web.security import host_name, normalize_hosts

#: Every endpoint that wants the bearer token: not /health (open) nor /docs (which also
#: takes the cookie: test_docs_cookie).
PROTECTED = [(method, path) for method, path in ENDPOINTS if path not in ("/health", "/docs")]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong", "no-scheme", "basic"],
)
async def test_token_required(method: str, path: str, headers: dict[str, str]) -> None:
    app = make_app()
    async with asgi_client(app) as client:
        response = await client.request(method, path, headers=headers, json={"agent_id": "echo", "input": {}})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert not app.state.service.closing
    assert app.state.service.task_count == 0


async def test_bearer_scheme_is_case_insensitive() -> None:
    async with asgi_client(make_app()) as client:
        response = await client.get("/agents", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


async def test_query_token_only_for_the_stream() -> None:
    app = make_app()
    async with asgi_client(app) as client:
        assert (await client.get(f"/agents?token={TOKEN}")).status_code == 401
        run = await client.post("/agent/runs", headers=AUTH, json={"agent_id": "echo", "input": {}})
        request_id = run.json()["request_id"]
        assert (await client.get(f"/agent/stream/{request_id}?token=wrong")).status_code == 401
        response = await client.get(f"/agent/stream/{request_id}?token={TOKEN}")
    assert response.status_code == 200
    assert "event: result" in response.text


async def test_generated_token_when_none_configured(caplog: pytest.LogCaptureFixture) -> None:
    from main import create_app
    from service_support import make_settings

    app = create_app(make_settings(token=None))
    token = app.state.settings.token
    assert token and len(token) >= 32
    other = create_app(make_settings(token=None)).state.settings.token
    assert other != token
    async with asgi_client(app) as client:
        assert (await client.get("/agents")).status_code == 401
        assert (await client.get("/agents", headers={"Authorization": f"Bearer {token}"})).status_code == 200


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8765", "localhost", "LocalHost:1", "[::1]", "[::1]:65535"]
)
async def test_allowed_hosts(host: str) -> None:
    async with asgi_client(make_app()) as client:
        response = await client.get("/health", headers={"Host": host})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "[::1", "[::2]:80", "localhost:http", "localhost:80:80", "::1", ""]
)
async def test_other_hosts_are_400(host: str) -> None:
    async with asgi_client(make_app()) as client:
        # Refused before the token is looked at.
        for path in ("/health", "/agents"):
            response = await client.get(path, headers={"Host": host})
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "host_not_allowed"


async def test_configured_hosts() -> None:
    async with asgi_client(make_app(allowed_hosts=("agent.internal", "::1"))) as client:
        assert (await client.get("/health", headers={"Host": "agent.internal:9000"})).status_code == 200
        assert (await client.get("/health", headers={"Host": "[::1]:9000"})).status_code == 200
        assert (await client.get("/health", headers={"Host": "localhost"})).status_code == 400


def test_host_parsing() -> None:
    assert host_name("[::1]:8080") == "[::1]"
    assert host_name("Example.COM") == "example.com"
    assert host_name("a:b") is None
    assert host_name(":80") is None
    assert normalize_hosts(["::1", "LOCALHOST"]) == {"[::1]", "localhost"}


ORIGIN = "http://app.example"


async def test_no_cors_unless_configured() -> None:
    async with asgi_client(make_app()) as client:
        # Same origin (the docs page): served, and needs no CORS headers.
        simple = await client.get("/health", headers={"Origin": "http://127.0.0.1"})
        preflight = await client.options(
            "/agents", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
        )
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_for_configured_origin() -> None:
    async with asgi_client(make_app(allowed_origins=(ORIGIN,))) as client:
        preflight = await client.options(
            "/agent/execute",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"},
        )
        simple = await client.get("/agents", headers={"Origin": ORIGIN, **AUTH})
        other = await client.get("/agents", headers={"Origin": "http://evil.example", **AUTH})
        other_preflight = await client.options(
            "/agents", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    # Another origin is refused, not merely kept from reading (tests/test_origin.py).
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers
    assert other_preflight.status_code == 403


async def test_cors_wildcard_never_with_credentials() -> None:
    async with asgi_client(make_app(allowed_origins=("*",))) as client:
        response = await client.get("/health", headers={"Origin": ORIGIN, "Cookie": "a=b"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


@pytest.fixture
async def small_limit_client() -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(max_body_bytes=1000)
    async with asgi_client(app, headers=AUTH) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


async def test_body_over_limit_is_413(small_limit_client: httpx.AsyncClient) -> None:
    body = {"agent_id": "echo", "input": {"text": "x" * 2000}}
    response = await small_limit_client.post("/agent/execute", json=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert small_limit_client.app.state.service.task_count == 0  # type: ignore[attr-defined]


async def test_streamed_body_over_limit_is_413(small_limit_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"agent_id": "echo", "input": {"text": "'
        for _ in range(10):
            yield b"x" * 200
        yield b'"}}'

    # No Content-Length: the limit must hold on the bytes actually received.
    response = await small_limit_client.post("/agent/runs", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


async def test_lying_content_length_is_413(small_limit_client: httpx.AsyncClient) -> None:
    body = b'{"agent_id": "echo", "input": {"text": "' + b"x" * 2000 + b'"}}'

    async def one_chunk() -> AsyncIterator[bytes]:
        yield body

    response = await small_limit_client.post(
        "/agent/execute", content=one_chunk(), headers={"content-type": "application/json", "content-length": "10"}
    )
    assert response.status_code == 413


async def test_body_under_limit_passes(small_limit_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"agent_id": "echo", '
        yield b'"input": {"text": "' + b"x" * 500 + b'"}}'

    response = await small_limit_client.post("/agent/execute", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["result"] == {"text": "x" * 500}


async def test_unauthenticated_large_body_is_401_not_read() -> None:
    async with asgi_client(make_app(max_body_bytes=1000)) as client:
        response = await client.post("/agent/execute", content=b"x" * 5000)
    assert response.status_code == 401
