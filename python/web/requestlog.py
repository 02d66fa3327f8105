"""RequestLog: one log line per request (method, path, status, duration, request id).

Pure ASGI so that streamed responses pass through untouched; the line is written
when the response has ended, so for an SSE stream the duration is the stream's.
The query string is not logged: the stream endpoint may carry the token there.

A successful ``GET /health`` is logged at DEBUG (``logs.quiet``): the host probes it
every few seconds. A failing probe is logged like any request. So is the one request an
embedding host sends after a restart to build what the service builds on first use
(``X-Cagent-Warm-Up``; Sources/EmbeddedHost/Python/cagent_host/warmup.py).
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from logs import quiet
from web.middleware import HttpMiddleware

log = logging.getLogger("cagent.access")

HEADER = "X-Request-ID"
WARM_UP = b"x-cagent-warm-up"


class RequestLog(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex
        warming_up = any(name == WARM_UP for name, _ in scope.get("headers", ()))
        # A copy: the server may share the lifespan state dict between requests.
        scope["state"] = {**scope.get("state", {}), "request_id": request_id}
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            client = scope.get("client")
            log.log(
                logging.DEBUG if quiet(scope["path"], status) or warming_up else logging.INFO,
                "%s %s %d %.1fms request_id=%s",
                scope["method"], scope["path"], status, duration_ms, request_id,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                    "request_id": request_id,
                    "client": f"{client[0]}:{client[1]}" if client else None,
                },
            )
