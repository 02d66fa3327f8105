"""Origin: a request whose Origin header is present and not allowed is refused with 403
before anything runs, on every endpoint; an allowed origin can read every error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service_support import AUTH, ENDPOINTS, asgi_client, make_app

ALLOWED = "http://app.example"
EVIL = "http://evil.example"
RUN = {"agent_id": "echo", "input": {}}


def assert_refused(response: httpx.Response, origin: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "origin_not_allowed"
    assert repr(origin) in error["message"]
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("allowed_origins", [(), (ALLOWED,)], ids=["none-configured", "other-configured"])
async def test_disallowed_origin_with_the_token_is_403_before_anything_runs(
    method: str, path: str, allowed_origins: tuple[str, ...]
) -> None:
    app = make_app(allowed_origins=allowed_origins)
    async with asgi_client(app, headers=AUTH) as client:
        response = await client.request(method, path, headers={"Origin": EVIL}, json=RUN)
    assert_refused(response, EVIL)
    assert not app.state.service.closing
    assert app.state.service.task_count == 0
    assert app.state.service.run_count == 0


@pytest.mark.parametrize(
    "origin",
    ["null", "", "http://127.0.0.1:1", "https://127.0.0.1", "http://app.example.evil", "http://\xe9vil.example"],
)
async def test_other_origins_are_403(origin: str) -> None:
    async with asgi_client(make_app(allowed_origins=(ALLOWED,)), headers=AUTH) as client:
        response = await client.get("/agents", headers={"Origin": origin.encode("latin-1")})
    assert_refused(response, origin)


async def test_every_origin_header_must_be_allowed() -> None:
    async with asgi_client(make_app(allowed_origins=(ALLOWED,)), headers=AUTH) as client:
        response = await client.get("/agents", headers=[("Origin", ALLOWED), ("Origin", EVIL)])
    assert_refused(response, EVIL)


@pytest.mark.parametrize("origin", [ALLOWED, "HTTP://App.Example", "http://app.example/"])
async def test_configured_origin_is_served(origin: str) -> None:
    # Configured with a trailing slash and upper case: compared normalised.
    app = make_app(allowed_origins=("http://APP.example/",))
    async with asgi_client(app, headers=AUTH) as client:
        response = await client.post("/agent/execute", headers={"Origin": origin}, json={"agent_id": "echo", "input": {"a": 1}})
    assert response.status_code == 200
    assert response.json()["result"] == {"a": 1}


async def test_own_origin_is_served_and_no_origin_is_served() -> None:
    # The docs page's "Try it out" sends the service's own origin with its POSTs.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()), base_url="http://localhost:8765", headers=AUTH
    ) as client:
        own = await client.post("/agent/execute", headers={"Origin": "http://localhost:8765"}, json=RUN)
        other_port = await client.post("/agent/execute", headers={"Origin": "http://localhost:8766"}, json=RUN)
        none = await client.post("/agent/execute", json=RUN)
    assert own.status_code == 200
    assert_refused(other_port, "http://localhost:8766")
    assert none.status_code == 200


async def test_own_origin_of_a_host_not_allowed_is_still_400() -> None:
    # A DNS-rebinding page is "same origin" with itself; the Host allowlist refuses it.
    async with asgi_client(make_app(), headers=AUTH) as client:
        response = await client.get("/agents", headers={"Origin": "http://evil.example:8765", "Host": "evil.example:8765"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "host_not_allowed"


async def test_wildcard_allows_every_origin() -> None:
    async with asgi_client(make_app(allowed_origins=("*",)), headers=AUTH) as client:
        response = await client.get("/agents", headers={"Origin": EVIL})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/agents", {"headers": {}}, 401, "unauthorized"),
        ("GET", "/agents", {"headers": {"Authorization": "Bearer wrong"}}, 401, "unauthorized"),
        ("GET", "/no-such-path", {"headers": AUTH}, 404, "not_found"),
        ("GET", "/agent/stream/unknown", {"headers": AUTH}, 404, "unknown_run"),
        ("POST", "/agent/execute", {"headers": AUTH, "json": {"agent_id": "nope", "input": {}}}, 404, "unknown_agent"),
        ("POST", "/agent/execute", {"headers": AUTH, "json": {"input": {}}}, 422, "invalid_request"),
        ("POST", "/agent/execute", {"headers": AUTH, "json": {"agent_id": "echo", "input": {"x": "y" * 2000}}}, 413, "body_too_large"),
        ("POST", "/agent/execute", {"headers": AUTH, "json": {"agent_id": "raises", "input": {}}}, 500, "agent_failed"),
        ("GET", "/agents", {"headers": {**AUTH, "Host": "evil.example"}}, 400, "host_not_allowed"),
        ("GET", "/health", {"headers": {"Host": "evil.example"}}, 400, "host_not_allowed"),
    ],
    ids=["401-missing", "401-wrong", "404-path", "404-run", "404-agent", "422", "413", "500-run", "400-host", "400-host-health"],
)
async def test_errors_of_an_allowed_origin_carry_cors_headers(
    method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    app = make_app(allowed_origins=(ALLOWED,), max_body_bytes=1000)
    headers = {"Origin": ALLOWED, **kwargs.pop("headers")}
    async with asgi_client(app) as client:
        response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_an_unexpected_500_of_an_allowed_origin_carries_cors_headers() -> None:
    app = make_app(allowed_origins=(ALLOWED,))

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=AUTH) as client:
        response = await client.get("/boom", headers={"Origin": ALLOWED})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["request_id"] == response.headers["x-request-id"]
    assert response.headers["access-control-allow-origin"] == ALLOWED
