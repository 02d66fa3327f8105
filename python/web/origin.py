"""OriginCheck: a request from a page of an origin that is not allowed gets 403 before
anything runs (the rule of the MCP HTTP transport, for every endpoint).

CORS alone only keeps the page from reading the answer: the request itself would still
run (a POST /agent/execute with the token, or a DNS-rebinding page's requests). Browsers
send ``Origin`` on every cross-origin request and on same-origin ones other than
GET/HEAD; clients that are not browsers usually send none, and are let through.

Allowed: the configured origins (``CAGENT_ALLOWED_ORIGINS``; ``*`` for any), and the
service's own origin (``http://`` + the Host header: its /docs page), which HostCheck
then holds to the allowed hosts.
"""

from __future__ import annotations

from typing import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from web.drain import refuse
from web.errors import error_response


def normalize_origin(origin: str) -> str:
    return origin.strip().lower().rstrip("/")


class OriginCheck:
    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(normalize_origin(origin) for origin in allowed_origins)
        self.any_origin = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.any_origin:
            await self.app(scope, receive, send)
            return
        origins = [value.decode("latin-1") for name, value in scope["headers"] if name == b"origin"]
        refused = next((origin for origin in origins if not self.allows(origin, scope)), None)
        if refused is not None:
            response = error_response(403, "origin_not_allowed", f"origin {refused!r} is not allowed")
            await refuse(response, scope, receive, send)
            return
        await self.app(scope, receive, send)

    def allows(self, origin: str, scope: Scope) -> bool:
        origin = normalize_origin(origin)
        if origin in self.allowed:
            return True
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").strip().lower()
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        return bool(host) and origin == f"{scheme}://{host}"
