"""A stream client that never reads: what the server holds for it stays bounded, and
after the send timeout its stream is closed and logged. A raw socket with a small
receive buffer, a real uvicorn on both stacks, and a run that emits ~16 MB of events."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from service import AgentService
from service_support import AUTH, TOKEN, RealServer, real_server, wait_until

#: What uvicorn buffers for one connection before its send waits (flow control: 64 KiB),
#: plus one event over it, with room to spare; the run emits 250 times this.
BUFFER_BOUND = 256 * 1024
EVENTS, EVENT_SIZE = 4000, 4096


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


server = real_server(stream_send_timeout_s=1.0)


def write_buffers(server: RealServer) -> int:
    """Bytes uvicorn holds for its connections right now (read from another thread: a
    sample, not a synchronized figure)."""
    assert server._server is not None
    total = 0
    for protocol in list(server._server.server_state.connections):
        transport = getattr(protocol, "transport", None)
        if transport is not None and not transport.is_closing():
            total += transport.get_write_buffer_size()
    return total


async def test_a_client_that_never_reads_costs_a_bounded_buffer_and_is_dropped(server: RealServer) -> None:
    service: AgentService = server.app.state.service
    records = Records()
    logging.getLogger("cagent.sse").addHandler(records)
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=20) as client:
            response = await client.post("/agent/runs", json={"agent_id": "flood", "input": {"count": EVENTS, "size": EVENT_SIZE}})
            assert response.status_code == 202, response.text
            request_id = response.json()["request_id"]

        host, port = server.url.removeprefix("http://").split(":")
        stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect((host, int(port)))
        stuck.sendall(
            f"GET /agent/stream/{request_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
        )
        try:
            # Until the server gives up on it: the most it ever buffered for it.
            largest = 0
            closed = f"stream of run {request_id} closed"

            def given_up() -> bool:
                nonlocal largest
                largest = max(largest, write_buffers(server))
                return any(closed in message for message in records.messages)

            await wait_until(given_up, timeout=60, what="the server closes the stuck stream")
            assert largest <= BUFFER_BOUND, f"the server buffered {largest} bytes for a client that never reads"
            # The run ended on its own, unhindered, with all its events kept for replay.
            run = service._runs[request_id]
            await wait_until(lambda: run.done, timeout=30, what="the run ends on its own")
            assert len(run.events) == EVENTS + 1
            # The stream's subscription is gone with it.
            await wait_until(lambda: not service.subscriber_count, what="the stuck stream's subscription is dropped")
        finally:
            stuck.close()
    finally:
        logging.getLogger("cagent.sse").removeHandler(records)
    print(f"largest write buffer for the stuck client: {largest} bytes (run: {EVENTS * EVENT_SIZE} bytes of events)")
