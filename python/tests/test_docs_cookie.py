"""/docs with the token cookie (Jupyter's way): ``GET /docs?token=`` sets it; it counts
on GET and HEAD only; nothing is served without the token."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from service_support import AUTH, TOKEN, RealServer, make_app
from web.security import cookie_value

PORT = 8765
NAME = f"cagent_token_{PORT}"
VALUE = cookie_value(TOKEN.encode()).decode()
RUN = {"agent_id": "echo", "input": {}}


@pytest.fixture
def app() -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The port in the URL is the "server" port the app sees (uvicorn: its socket's).
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{PORT}") as client:
        yield client


def set_cookie(response: httpx.Response) -> SimpleCookie:
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    cookie = SimpleCookie()
    cookie.load(headers[0])
    return cookie


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert "set-cookie" not in response.headers


async def test_docs_and_openapi_need_the_token(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/openapi.json", "/docs?token=wrong", f"/openapi.json?token={TOKEN}"):
        assert_unauthorized(await client.get(path))


async def test_docs_with_the_bearer_token(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs", headers=AUTH)
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text and "/openapi.json" in docs.text
    assert "set-cookie" not in docs.headers  # only ?token= sets it


async def test_query_token_on_docs_sets_the_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/docs?token={TOKEN}")
    assert response.status_code == 200
    assert "swagger-ui" in response.text
    cookie = set_cookie(response)
    assert list(cookie) == [NAME]
    morsel = cookie[NAME]
    assert morsel.value == VALUE and TOKEN not in morsel.value
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert not morsel["domain"] and not morsel["max-age"] and not morsel["expires"]
    # The URL holds the token: not sent on as a Referer, not cached.
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_docs_and_openapi_with_the_cookie(client: httpx.AsyncClient, app: FastAPI) -> None:
    await client.get(f"/docs?token={TOKEN}")
    assert client.cookies.get(NAME) == VALUE  # kept by the client, as a browser does
    docs = await client.get("/docs")
    openapi = await client.get("/openapi.json")
    agents = await client.get("/agents")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert openapi.status_code == 200 and openapi.json()["info"]["title"] == "cagent agent service"
    assert agents.status_code == 200
    assert "set-cookie" not in docs.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/agent/execute"), ("POST", "/agent/runs"), ("POST", "/shutdown"), ("DELETE", "/agents"), ("PUT", "/docs")],
)
async def test_the_cookie_never_authorizes_a_write(client: httpx.AsyncClient, app: FastAPI, method: str, path: str) -> None:
    response = await client.request(method, path, headers=cookie_header({NAME: VALUE}), json=RUN)
    assert_unauthorized(response)
    assert not app.state.service.closing
    assert app.state.service.task_count == 0


async def test_query_token_never_authorizes_a_write(client: httpx.AsyncClient, app: FastAPI) -> None:
    for path in ("/agent/execute", "/shutdown", "/docs"):
        assert_unauthorized(await client.post(f"{path}?token={TOKEN}", json=RUN))
    assert not app.state.service.closing


@pytest.mark.parametrize(
    "cookies",
    [
        {NAME: "wrong"},
        {NAME: VALUE[:-1]},
        {NAME: ""},
        {NAME: TOKEN},  # the cookie holds an HMAC of the token, not the token
        {"cagent_token_8766": VALUE},  # another service's cookie name
        {f"x{NAME}": VALUE},
    ],
    ids=["wrong", "truncated", "empty", "raw-token", "other-port", "other-name"],
)
async def test_wrong_cookie_is_401(client: httpx.AsyncClient, cookies: dict[str, str]) -> None:
    for path in ("/docs", "/openapi.json", "/agents"):
        assert_unauthorized(await client.get(path, headers=cookie_header(cookies)))


async def test_right_cookie_among_others(client: httpx.AsyncClient) -> None:
    response = await client.get("/agents", headers={"Cookie": f"a=b; {NAME}=wrong; {NAME}={VALUE}; c=d"})
    assert response.status_code == 200


async def test_cookie_name_is_the_listening_port_over_real_uvicorn() -> None:
    server = RealServer(make_app()).start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=server.url) as client:
            first = await client.get(f"/docs?token={TOKEN}")
            assert list(set_cookie(first)) == [f"cagent_token_{port}"]
            openapi = await client.get("/openapi.json")  # the docs page's next request
            assert openapi.status_code == 200
            assert_unauthorized(await client.post("/agent/execute", json=RUN))
    finally:
        server.stop()
