"""SSE and the service over a real uvicorn (127.0.0.1, ephemeral port) and a real
HTTP client, on both plain asyncio + h11 and uvloop + httptools."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

import httpx
import pytest

from service import AgentService
from service_support import (
    AUTH,
    TOKEN,
    Event,
    RealServer,
    fault_agents,
    real_client,
    real_server,
    sse_events,
    wait_until,
)

server = real_server()
client = real_client(limits=httpx.Limits(max_connections=200, max_keepalive_connections=200))


def service_of(server: RealServer) -> AgentService:
    return server.app.state.service


async def start(client: httpx.AsyncClient, agent_id: str, input: dict[str, Any]) -> str:
    response = await client.post("/agent/runs", json={"agent_id": agent_id, "input": input})
    assert response.status_code == 202, response.text
    return response.json()["request_id"]


async def read_stream(client: httpx.AsyncClient, request_id: str, headers: dict[str, str] | None = None) -> list[Event]:
    async with client.stream("GET", f"/agent/stream/{request_id}", headers=headers) as response:
        assert response.status_code == 200
        return [event async for event in sse_events(response) if event.type != "keepalive"]


async def test_health_and_execute(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json()["status"] == "ok"
    response = await client.post("/agent/execute", json={"agent_id": "echo", "input": {"a": 1}})
    assert response.json()["result"] == {"a": 1}
    failed = await client.post("/agent/execute", json={"agent_id": "exits", "input": {}})
    assert failed.status_code == 500 and failed.json()["error"]["request_id"]
    assert (await client.get("/health")).json()["status"] == "ok"


async def test_stream_live_run_with_keepalive(client: httpx.AsyncClient, server: RealServer) -> None:
    request_id = await start(client, "gated", {"gate": "live"})
    seen: list[Event] = []
    async with client.stream("GET", f"/agent/stream/{request_id}") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in sse_events(response):
            seen.append(event)
            if event.type == "keepalive":
                # Idle for a keepalive interval: now let the agent finish.
                fault_agents().open_gate("live")
    kinds = [e.type for e in seen]
    assert kinds[0] == "thinking" and kinds[-1] == "result"
    assert "keepalive" in kinds
    assert all(e.id is None for e in seen if e.type == "keepalive")
    assert [e.id for e in seen if e.type != "keepalive"] == ["0", "1"]
    await wait_until(lambda: service_of(server).subscriber_count == 0 and service_of(server).run_count == 0)


async def test_fifty_concurrent_runs_streamed_at_once(client: httpx.AsyncClient, server: RealServer) -> None:
    ids = await asyncio.gather(*(start(client, "steps", {"count": 3}) for _ in range(50)))
    assert len(set(ids)) == 50
    streams = await asyncio.gather(*(read_stream(client, request_id) for request_id in ids))
    for events in streams:
        assert [e.type for e in events] == ["thinking", "tool_call", "tool_result"] * 3 + ["result"]
        assert [e.id for e in events] == [str(n) for n in range(10)]
        assert events[-1].data["result"]["count"] == 3
    service = service_of(server)
    await wait_until(lambda: service.task_count == 0 and service.subscriber_count == 0 and service.run_count == 0)


async def test_disconnect_releases_the_subscriber_not_the_run(client: httpx.AsyncClient, server: RealServer) -> None:
    service = service_of(server)
    request_id = await start(client, "gated", {"gate": "disconnect"})
    async with client.stream("GET", f"/agent/stream/{request_id}") as response:
        async for event in sse_events(response):
            assert event.type == "thinking"
            break
        assert service.subscriber_count == 1
    # The client went away mid-stream.
    await wait_until(lambda: service.subscriber_count == 0)
    assert service.task_count == 1  # the run is the service's: it carries on
    fault_agents().open_gate("disconnect")
    await wait_until(lambda: service.task_count == 0)
    # Nothing was lost: a new subscriber gets the whole run.
    events = await read_stream(client, request_id)
    assert [e.type for e in events] == ["thinking", "result"]
    await wait_until(lambda: service.subscriber_count == 0 and service.run_count == 0)
    assert service.toolsets.open_sessions == 0


async def test_many_disconnects_leak_nothing(client: httpx.AsyncClient, server: RealServer) -> None:
    service = service_of(server)
    request_id = await start(client, "gated", {"gate": "many"})

    async def connect_and_leave() -> None:
        async with client.stream("GET", f"/agent/stream/{request_id}") as response:
            async for _ in sse_events(response):
                break

    await asyncio.gather(*(connect_and_leave() for _ in range(20)))
    await wait_until(lambda: service.subscriber_count == 0)
    assert service.task_count == 1
    fault_agents().open_gate("many")
    assert [e.type for e in await read_stream(client, request_id)] == ["thinking", "result"]
    await wait_until(lambda: service.task_count == 0 and service.run_count == 0)


async def test_late_subscriber_and_last_event_id_resume(client: httpx.AsyncClient, server: RealServer) -> None:
    request_id = await start(client, "steps", {"count": 2})
    await wait_until(lambda: service_of(server).task_count == 0)
    # Subscribing after the run ended loses nothing after the id it resumes from.
    resumed = await read_stream(client, request_id, headers={"Last-Event-ID": "3"})
    assert [e.id for e in resumed] == ["4", "5", "6"]
    await wait_until(lambda: service_of(server).run_count == 0)
    # Read to its end: gone.
    async with client.stream("GET", f"/agent/stream/{request_id}") as response:
        assert response.status_code == 404


async def test_resume_a_live_run_after_reconnect(client: httpx.AsyncClient, server: RealServer) -> None:
    request_id = await start(client, "gated", {"gate": "resume"})
    async with client.stream("GET", f"/agent/stream/{request_id}") as response:
        first = await anext(aiter(sse_events(response)))
    assert first.id == "0"
    # Once the server noticed the disconnect (else the result could go to the dead socket).
    await wait_until(lambda: service_of(server).subscriber_count == 0)
    fault_agents().open_gate("resume")
    events = await read_stream(client, request_id, headers={"Last-Event-ID": first.id})
    assert [(e.id, e.type) for e in events] == [("1", "result")]


async def test_query_token_for_eventsource(server: RealServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        run = await client.post("/agent/runs", headers=AUTH, json={"agent_id": "echo", "input": {}})
        request_id = run.json()["request_id"]
        assert (await client.get(f"/agent/stream/{request_id}")).status_code == 401
        events = await read_stream(client, f"{request_id}?token={TOKEN}")
    assert [e.type for e in events] == ["result"]


async def test_shutdown_with_runs_in_flight(client: httpx.AsyncClient, server: RealServer) -> None:
    service = service_of(server)
    ids = [await start(client, "gated", {"gate": f"shutdown-{n}"}) for n in range(3)]
    readers = [asyncio.ensure_future(read_stream(client, request_id)) for request_id in ids]
    await wait_until(lambda: service.subscriber_count == 3)
    response = await client.post("/shutdown")
    assert response.status_code == 200
    for reader in readers:
        events = await reader
        assert events[0].type == "thinking"
        assert events[-1].type == "error"
        assert events[-1].data["code"] == "shutting_down"
    assert service.task_count == 0
    await wait_until(lambda: service.subscriber_count == 0)
    assert service.toolsets.open_sessions == 0
    refused = await client.post("/agent/runs", json={"agent_id": "echo", "input": {}})
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "shutting_down"


async def test_streamed_request_body_over_limit(server: RealServer) -> None:
    # The default limit is 1 MiB; send 2 MiB chunked, without Content-Length.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"agent_id": "echo", "input": {"t": "'
        for _ in range(32):
            yield b"x" * 65536
        yield b'"}}'

    statuses: list[int] = []

    class Record(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            statuses.append(record.__dict__["status"])

    handler = Record()
    logging.getLogger("cagent.access").addHandler(handler)
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=20) as client:
            try:
                response = await client.post("/agent/execute", content=chunks(), headers={"content-type": "application/json"})
            except httpx.TransportError:
                # The server answered 413 and closed while the client was still sending.
                response = None
        await wait_until(lambda: bool(statuses))
    finally:
        logging.getLogger("cagent.access").removeHandler(handler)
    assert statuses == [413]
    if response is not None:
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
    assert service_of(server).task_count == 0
