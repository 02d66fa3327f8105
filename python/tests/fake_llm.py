"""A scripted LLM endpoint for the chat tests, speaking the Chat Completions wire protocol.

A raw asyncio HTTP/1.1 server on 127.0.0.1 (ephemeral port): each ``POST
/v1/chat/completions`` is recorded and answered with the next scripted reply, either a
Server-Sent Events stream sent with chunked transfer encoding (the way real servers
stream) or a plain HTTP error.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stream:
    """An SSE reply: each item of ``writes`` goes out in its own TCP write (and HTTP chunk)."""

    writes: list[bytes]


@dataclass
class HttpError:
    status: int
    body: str


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def event(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def text_reply(*pieces: str) -> Stream:
    """A plain answer streamed as one delta per piece."""
    writes = [event(chunk({"role": "assistant", "content": ""}))]
    writes += [event(chunk({"content": piece})) for piece in pieces]
    writes += [event(chunk({}, "stop")), event("[DONE]")]
    return Stream(writes)


@dataclass
class FakeLLM:
    script: list[Stream | HttpError] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Recorded(method, path, headers, json.loads(raw) if raw else None))
            if method != "POST" or path != "/v1/chat/completions":
                reply: Stream | HttpError = HttpError(404, json.dumps({"error": f"no route {method} {path}"}))
            elif self.script:
                reply = self.script.pop(0)
            else:
                reply = HttpError(500, json.dumps({"error": "the fake LLM has no scripted reply left"}))
            if isinstance(reply, HttpError):
                body = reply.body.encode()
                writer.write(
                    f"HTTP/1.1 {reply.status} Error\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
                )
            else:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                )
                for data in reply.writes:
                    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    await writer.drain()
                    await asyncio.sleep(0)  # separate writes, so the client sees pieces
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
