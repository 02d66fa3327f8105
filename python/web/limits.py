"""BodyLimit: refuses request bodies over the limit with 413.

Counts the bytes actually received, so a chunked body or a lying Content-Length
cannot get past it. The (small) body is read before the app runs, then replayed.
The 413 goes out after the rest of the body is drained (web.drain: bounded), so that a
client still sending reads it instead of a reset.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.drain import refuse
from web.errors import error_response
from web.middleware import HttpMiddleware


class BodyLimit(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        if b"content-length" not in headers and b"transfer-encoding" not in headers:
            # No body (a GET stream): leave receive alone, it reports disconnects.
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            # Nothing read yet: refuse() decides from the headers (100-continue) itself.
            await self._refuse(scope, receive, send, unread=None)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, unread=message.get("more_body", False))
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, unread: bool | None) -> None:
        response = error_response(413, "body_too_large", f"request body over the limit of {self.max_bytes} bytes")
        await refuse(response, scope, receive, send, unread=unread)
