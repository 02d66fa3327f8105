"""HttpMiddleware: the part every pure ASGI middleware of the service that acts on HTTP
requests only shares."""

from __future__ import annotations

from abc import ABC, abstractmethod

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware(ABC):
    """Passes every scope but ``http`` (uvicorn's ``lifespan``, a ``websocket``) to the
    app untouched, and each HTTP request to ``http``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    @abstractmethod
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handles one HTTP request (``scope["type"] == "http"``)."""
