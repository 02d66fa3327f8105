"""What an EventSource does after a stream ends: it reconnects with Last-Event-ID after
the stream's ``retry:`` delay. A run it has read to its end answers that with 204 (which
stops an EventSource), not 404. Over a real uvicorn on both stacks, and in-process."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from config import Settings, SettingsError
from service_support import (
    AUTH,
    RealServer,
    asgi_client,
    fault_agents,
    make_app,
    parse_sse,
    real_client,
    real_server,
    wait_until,
)

server = real_server()
client = real_client()


async def start(client: httpx.AsyncClient, agent_id: str = "steps", input: dict | None = None) -> str:
    response = await client.post("/agent/runs", json={"agent_id": agent_id, "input": input or {"count": 1}})
    assert response.status_code == 202, response.text
    return response.json()["request_id"]


async def read_whole(client: httpx.AsyncClient, request_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """The whole stream as an EventSource reads it: until the server closes it."""
    async with client.stream("GET", f"/agent/stream/{request_id}", headers=headers) as response:
        await response.aread()
    return response


async def test_every_stream_starts_with_the_services_retry(client: httpx.AsyncClient) -> None:
    request_id = await start(client)
    response = await read_whole(client, request_id)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    first_block = response.text.replace("\r\n", "\n").split("\n\n")[0]
    assert first_block == "retry: 1000"
    # Nothing for a client to dispatch there: the run's events follow, ids from 0.
    assert [e.id for e in parse_sse(response.text)] == ["0", "1", "2", "3"]


async def test_a_reconnect_after_the_last_event_is_204_not_404(client: httpx.AsyncClient, server: RealServer) -> None:
    service = server.app.state.service
    request_id = await start(client)
    events = parse_sse((await read_whole(client, request_id)).text)
    assert events[-1].type == "result"
    await wait_until(lambda: service.run_count == 0)  # read to its end: forgotten
    # What the browser sends ~retry ms later: the id of the last event it got.
    again = await read_whole(client, request_id, headers={"Last-Event-ID": events[-1].id})
    assert again.status_code == 204
    assert again.content == b""
    # A request without Last-Event-ID is no reconnect: the run is unknown by now.
    assert (await read_whole(client, request_id)).status_code == 404
    # One resuming from an earlier event lost events that are gone: 404 says so.
    assert (await read_whole(client, request_id, headers={"Last-Event-ID": "1"})).status_code == 404


async def test_a_reconnect_to_an_ended_run_still_kept_is_204(client: httpx.AsyncClient, server: RealServer) -> None:
    service = server.app.state.service
    request_id = await start(client, "raises", {})
    await wait_until(lambda: service.task_count == 0)
    # Nobody has read it to its end: it is kept, and its last event is "1" (error).
    response = await read_whole(client, request_id, headers={"Last-Event-ID": "1"})
    assert response.status_code == 204
    # Earlier ids still resume with what follows.
    resumed = await read_whole(client, request_id, headers={"Last-Event-ID": "0"})
    assert [(e.id, e.type) for e in parse_sse(resumed.text)] == [("1", "error")]


async def test_a_reconnect_to_a_live_run_streams(client: httpx.AsyncClient, server: RealServer) -> None:
    request_id = await start(client, "gated", {"gate": "reconnect-204"})
    await wait_until(lambda: len(server.app.state.service._runs[request_id].events) == 1)  # "thinking"
    async with client.stream("GET", f"/agent/stream/{request_id}", headers={"Last-Event-ID": "0"}) as response:
        assert response.status_code == 200
        fault_agents().open_gate("reconnect-204")
        text = (await response.aread()).decode()
    assert [(e.id, e.type) for e in parse_sse(text)] == [("1", "result")]


async def test_the_retry_delay_is_a_setting() -> None:
    app = make_app(sse_retry_ms=250)
    async with asgi_client(app, headers=AUTH) as client:
        request_id = (await client.post("/agent/runs", json={"agent_id": "echo", "input": {}})).json()["request_id"]
        await wait_until(lambda: app.state.service.task_count == 0)
        text = (await client.get(f"/agent/stream/{request_id}")).text
    assert text.startswith("retry: 250\r\n\r\n")
    assert Settings.from_env({"CAGENT_SSE_RETRY_MS": "5000"}, env_file=None).sse_retry_ms == 5000
    with pytest.raises(SettingsError, match="CAGENT_SSE_RETRY_MS"):
        Settings.from_env({"CAGENT_SSE_RETRY_MS": "0"}, env_file=None)


async def test_finished_runs_are_forgotten_after_the_retention_time() -> None:
    app: FastAPI = make_app(run_retention_s=0.2)
    service = app.state.service
    async with asgi_client(app, headers=AUTH) as client:
        request_id = (await client.post("/agent/runs", json={"agent_id": "echo", "input": {}})).json()["request_id"]
        await wait_until(lambda: service.task_count == 0)
        assert parse_sse((await client.get(f"/agent/stream/{request_id}")).text)[-1].id == "0"
        assert (await client.get(f"/agent/stream/{request_id}", headers={"Last-Event-ID": "0"})).status_code == 204
        # The record of a finished run is bounded in time like the run itself.
        await wait_until(lambda: not service.delivered(request_id, "0"))
        response = await client.get(f"/agent/stream/{request_id}", headers={"Last-Event-ID": "0"})
    assert response.status_code == 404
    assert service._finished == {}


async def test_documented_in_openapi() -> None:
    async with asgi_client(make_app(), headers=AUTH) as client:
        schema = (await client.get("/openapi.json")).json()
    assert "204" in schema["paths"]["/agent/stream/{request_id}"]["get"]["responses"]
