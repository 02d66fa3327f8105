"""Local-first guards as pure ASGI middleware (they never buffer a streamed response).

- HostCheck: the Host header must name an allowed host (any port), against DNS rebinding.
- TokenCheck: a bearer token on every path but /health; the stream endpoint also
  takes ``?token=`` because a browser EventSource cannot set headers.
"""

from __future__ import annotations

import hmac
from typing import Iterable
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from web.errors import error_response

#: Paths that need no token.
OPEN_PATHS = frozenset({"/health"})
#: Path prefix of the endpoint that also accepts ``?token=``.
STREAM_PREFIX = "/agent/stream/"


def host_name(header: str) -> str | None:
    """The host part of a Host header without its port ("[::1]:80" -> "[::1]"), or
    None when the header is malformed."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return None
        name, rest = header[: end + 1], header[end + 1 :]
    else:
        name, colon, port = header.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return name or None


def normalize_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """Lower-case names; a bare IPv6 literal gets its brackets ("::1" -> "[::1]")."""
    out = set()
    for host in hosts:
        host = host.strip().lower()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        out.add(host)
    return frozenset(out)


class HostCheck:
    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = normalize_hosts(allowed_hosts)
        self.any_host = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.any_host:
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if host_name(raw) not in self.allowed:
            response = error_response(400, "host_not_allowed", f"host {raw!r} is not allowed")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TokenCheck:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            response = error_response(
                401, "unauthorized", "missing or wrong token", headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given: list[bytes] = []
        auth = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, credentials = auth.partition(b" ")
        if scheme.lower() == b"bearer":
            given.append(credentials.strip())
        if scope["path"].startswith(STREAM_PREFIX):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given.extend(value.encode("latin-1") for value in query.get("token", [])[:1])
        # compare_digest: no timing hints about how much of the token matched.
        return any(hmac.compare_digest(candidate, self.token) for candidate in given)
