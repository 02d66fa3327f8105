"""Every endpoint and every error, in-process through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from service_support import AUTH, asgi_client, make_app, parse_sse, wait_until


@pytest.fixture
def app() -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, headers=AUTH) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


async def test_health_needs_no_token(app: FastAPI) -> None:
    async with asgi_client(app) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["uptime_s"] >= 0
    assert body["agents"] == len(app.state.service.agents)


async def test_agents(client: httpx.AsyncClient) -> None:
    response = await client.get("/agents")
    assert response.status_code == 200
    agents = {agent["id"]: agent for agent in response.json()["agents"]}
    assert {"echo", "tools", "chat", "raises"} <= set(agents)
    assert agents["echo"]["description"]
    assert agents["echo"]["input_schema"]["type"] == "object"
    assert agents["tools"]["input_schema"]["required"] == ["calls"]


async def test_execute(client: httpx.AsyncClient) -> None:
    response = await client.post("/agent/execute", json={"agent_id": "echo", "input": {"x": [1, "two"]}})
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == {"x": [1, "two"]}
    assert body["agent_id"] == "echo"
    assert isinstance(body["execution_time"], float)
    assert response.headers["x-request-id"]


async def test_execute_with_context_and_timeout(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/agent/execute", json={"agent_id": "steps", "input": {"count": 1}, "context": {"k": "v"}, "timeout_s": 5}
    )
    assert response.status_code == 200
    assert response.json()["result"] == {"count": 1, "context": {"k": "v"}}


@pytest.mark.parametrize("path", ["/agent/execute", "/agent/runs"])
async def test_unknown_agent(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, json={"agent_id": "nope", "input": {}})
    assert_error(response, 404, "unknown_agent")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": {}}, "agent_id"),
        ({"agent_id": "echo"}, "input"),
        ({"agent_id": "echo", "input": []}, "input"),
        ({"agent_id": "echo", "input": {}, "context": "x"}, "context"),
        ({"agent_id": "echo", "input": {}, "timeout_s": 0}, "timeout_s"),
        ({"agent_id": "echo", "input": {}, "timeout": 3}, "timeout"),
    ],
)
@pytest.mark.parametrize("path", ["/agent/execute", "/agent/runs"])
async def test_invalid_body_is_422_with_field_errors(client: httpx.AsyncClient, path: str, body: dict, field: str) -> None:
    error = assert_error(await client.post(path, json=body), 422, "invalid_request")
    assert field in [e["loc"][-1] for e in error["errors"]]
    assert all({"loc", "msg", "type"} <= set(e) for e in error["errors"])


@pytest.mark.parametrize("path", ["/agent/execute", "/agent/runs"])
async def test_malformed_json_is_422(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=b'{"agent_id": "echo", ', headers={"content-type": "application/json"})
    error = assert_error(response, 422, "invalid_request")
    assert error["errors"][0]["type"] == "json_invalid"


async def test_non_json_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/agent/execute", content=b"agent_id=echo", headers={"content-type": "text/plain"})
    assert_error(response, 422, "invalid_request")


@pytest.mark.parametrize(("agent_id", "text"), [("raises", "boom"), ("exits", "sys.exit")])
async def test_failing_agent_is_500_with_request_id_and_service_stays_up(
    client: httpx.AsyncClient, agent_id: str, text: str
) -> None:
    response = await client.post("/agent/execute", json={"agent_id": agent_id, "input": {}})
    error = assert_error(response, 500, "agent_failed")
    assert text in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert (await client.get("/health")).json()["status"] == "ok"
    ok = await client.post("/agent/execute", json={"agent_id": "echo", "input": {"after": True}})
    assert ok.json()["result"] == {"after": True}


async def test_timeout_is_504(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post("/agent/execute", json={"agent_id": "sleeps", "input": {"seconds": 30}, "timeout_s": 0.05})
    error = assert_error(response, 504, "timeout")
    assert error["request_id"]
    assert app.state.service.task_count == 0


async def test_default_timeout_applies() -> None:
    async with asgi_client(make_app(default_run_timeout_s=0.05), headers=AUTH) as client:
        response = await client.post("/agent/execute", json={"agent_id": "sleeps", "input": {"seconds": 30}})
    assert_error(response, 504, "timeout")


async def test_start_run_then_stream_finished_run(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post("/agent/runs", json={"agent_id": "steps", "input": {"count": 2}})
    assert response.status_code == 202
    request_id = response.json()["request_id"]
    assert request_id == response.headers["x-request-id"]
    # ASGITransport buffers the response: wait for the run, then read it whole.
    await wait_until(lambda: app.state.service.task_count == 0)
    stream = await client.get(f"/agent/stream/{request_id}")
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(stream.text)
    assert [e.type for e in events] == ["thinking", "tool_call", "tool_result"] * 2 + ["result"]
    assert [e.id for e in events] == [str(n) for n in range(7)]
    assert events[-1].data["result"]["count"] == 2
    # Read to its end: the run is released.
    assert_error(await client.get(f"/agent/stream/{request_id}"), 404, "unknown_run")


async def test_stream_of_failed_run_ends_with_error_event(client: httpx.AsyncClient, app: FastAPI) -> None:
    request_id = (await client.post("/agent/runs", json={"agent_id": "raises", "input": {}})).json()["request_id"]
    await wait_until(lambda: app.state.service.task_count == 0)
    events = parse_sse((await client.get(f"/agent/stream/{request_id}")).text)
    assert [e.type for e in events] == ["thinking", "error"]
    assert events[-1].data == {"code": "agent_failed", "message": "RuntimeError: boom", "request_id": request_id}


async def test_last_event_id_resumes(client: httpx.AsyncClient, app: FastAPI) -> None:
    request_id = (await client.post("/agent/runs", json={"agent_id": "steps", "input": {"count": 1}})).json()["request_id"]
    await wait_until(lambda: app.state.service.task_count == 0)
    resumed = await client.get(f"/agent/stream/{request_id}", headers={"Last-Event-ID": "1"})
    assert [(e.id, e.type) for e in parse_sse(resumed.text)] == [("2", "tool_result"), ("3", "result")]


async def test_bad_last_event_id_is_400(client: httpx.AsyncClient, app: FastAPI) -> None:
    request_id = (await client.post("/agent/runs", json={"agent_id": "echo", "input": {}})).json()["request_id"]
    await wait_until(lambda: app.state.service.task_count == 0)
    response = await client.get(f"/agent/stream/{request_id}", headers={"Last-Event-ID": "7"})
    assert_error(response, 400, "invalid_last_event_id")


async def test_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/agent/stream/nope"), 404, "unknown_run")


async def test_expired_run_is_404() -> None:
    app = make_app(run_retention_s=0.05)
    async with asgi_client(app, headers=AUTH) as client:
        request_id = (await client.post("/agent/runs", json={"agent_id": "echo", "input": {}})).json()["request_id"]
        await wait_until(lambda: app.state.service.run_count == 0)
        assert_error(await client.get(f"/agent/stream/{request_id}"), 404, "unknown_run")


async def test_unknown_path_and_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/nope"), 404, "not_found")
    assert_error(await client.get("/agent/execute"), 405, "method_not_allowed")


async def test_shutdown_then_503(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post("/shutdown")
    # Nothing that runs the service can be stopped from an ASGI test client.
    assert response.status_code == 200 and response.json() == {"status": "ok", "exiting": False}
    assert_error(await client.post("/agent/execute", json={"agent_id": "echo", "input": {}}), 503, "shutting_down")
    assert_error(await client.post("/agent/runs", json={"agent_id": "echo", "input": {}}), 503, "shutting_down")
    assert (await client.get("/health")).json()["status"] == "shutting_down"
    assert (await client.post("/shutdown")).status_code == 200


async def test_shutdown_during_execute_is_503(client: httpx.AsyncClient, app: FastAPI) -> None:
    call = asyncio.ensure_future(client.post("/agent/execute", json={"agent_id": "sleeps", "input": {"seconds": 30}}))
    await wait_until(lambda: app.state.service.task_count == 1)
    assert (await client.post("/shutdown")).status_code == 200
    assert_error(await call, 503, "shutting_down")


async def test_openapi_documents_bodies_and_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    schemas = spec["components"]["schemas"]
    for name in ("ExecuteRequest", "ExecuteResult", "RunCreated", "Health", "AgentList", "ShutdownResult", "ErrorBody", "ValidationErrorBody"):
        assert name in schemas, name
    execute = spec["paths"]["/agent/execute"]["post"]
    assert set(execute["responses"]) >= {"200", "400", "401", "404", "413", "422", "500", "503", "504"}
    assert execute["responses"]["500"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert execute["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationErrorBody")
    assert execute["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ExecuteRequest")
    assert spec["paths"]["/agent/runs"]["post"]["responses"]["202"]
    stream = spec["paths"]["/agent/stream/{request_id}"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert {"401", "404"} <= set(stream["responses"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert set(spec["paths"]) >= {"/health", "/agents", "/agent/execute", "/agent/runs", "/agent/stream/{request_id}", "/shutdown"}


async def test_no_endpoint_hands_work_to_a_thread(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sync dependency or endpoint runs in AnyIO's thread pool: a thread hop on every
    # request (measured ~200 µs of a ~450 µs execute) and, on the first one, the
    # pool's import and start (~11 ms of the first /health).
    import anyio.to_thread

    handed: list[object] = []

    async def run_sync(func: object, *args: object, **kwargs: object) -> object:
        handed.append(func)
        return func(*args)  # type: ignore[operator]

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/agents")).status_code == 200
    assert (await client.post("/agent/execute", json={"agent_id": "echo", "input": {}})).status_code == 200
    started = await client.post("/agent/runs", json={"agent_id": "echo", "input": {}})
    assert started.status_code == 202
    await wait_until(lambda: app.state.service.task_count == 0)
    events = await client.get(f"/agent/stream/{started.json()['request_id']}")
    assert parse_sse(events.text)[-1].type == "result"
    assert (await client.post("/agent/execute", json={"agent_id": "nope", "input": {}})).status_code == 404
    assert (await client.post("/shutdown")).status_code == 200
    assert handed == []
