"""Local-first guards as pure ASGI middleware (they never buffer a streamed response).

- HostCheck: the Host header must name an allowed host (any port), against DNS rebinding.
- TokenCheck: the token on every path but /health: as a bearer token (any method); as
  ``?token=`` on GET/HEAD of the stream (a browser EventSource cannot set headers) and of
  /docs; as this service's cookie on GET/HEAD, set by ``GET /docs?token=``.

Requests are judged on their raw bytes: a header, query or cookie that is not text is a
wrong credential (401), never an error of the guard itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable, Iterator
from urllib.parse import unquote_to_bytes

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.drain import refuse
from web.errors import error_response

#: Paths that need no token.
OPEN_PATHS = frozenset({"/health"})
#: Path prefix of the endpoint that also accepts ``?token=``.
STREAM_PREFIX = "/agent/stream/"
#: The docs page: ``?token=`` there also sets the cookie.
DOCS_PATH = "/docs"
#: Methods on which ``?token=`` and the cookie count: reads only, so that neither can be
#: used for a cross-site write (a form POST, an <img> with a side effect).
READ_METHODS = frozenset({"GET", "HEAD"})
#: The cookie's name is this plus the port the service listens on (see cookie_name).
COOKIE_PREFIX = "cagent_token_"


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
            await refuse(response, scope, receive, send)
            return
        await self.app(scope, receive, send)


def cookie_name(scope: Scope) -> str:
    """``cagent_token_<port>``: browsers keep cookies per host, not per port, so every
    service on 127.0.0.1 receives them all; the port keeps two services on one host from
    overwriting each other's cookie. The port is the listening socket's (the same for
    every request to this service, whatever name the client used)."""
    server = scope.get("server")
    port = server[1] if server and isinstance(server[1], int) else None
    return f"{COOKIE_PREFIX}{port}" if port is not None else COOKIE_PREFIX.rstrip("_")


def cookie_value(token: bytes) -> bytes:
    """What the cookie holds: an HMAC of the token, not the token. Any other service on
    the same host receives the cookie (see cookie_name); with this it gets read access to
    this service at most, never the token, so never the bearer that allows writes."""
    digest = hmac.new(token, b"cagent-sidecar docs cookie v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=")


def query_values(query: bytes, name: bytes) -> Iterator[bytes]:
    """The values of ``name`` in a raw query string, percent-decoded to bytes (the
    standard library's parsers decode to text first and fail on bytes that are not)."""
    for pair in query.split(b"&"):
        key, _, value = pair.partition(b"=")
        if unquote_to_bytes(key.replace(b"+", b" ")) == name:
            yield unquote_to_bytes(value.replace(b"+", b" "))


def cookie_values(scope: Scope, name: bytes) -> Iterator[bytes]:
    for header, value in scope["headers"]:
        if header != b"cookie":
            continue
        for pair in value.split(b";"):
            key, _, cookie = pair.strip().partition(b"=")
            if key == name:
                yield cookie.strip()


class TokenCheck:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()
        self.cookie = cookie_value(self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        bearer, query, cookie = self._credentials(scope)
        if not (bearer or query or cookie):
            response = error_response(
                401, "unauthorized", "missing or wrong token", headers={"WWW-Authenticate": "Bearer"}
            )
            await refuse(response, scope, receive, send)
            return
        if query and scope["path"] == DOCS_PATH:
            await self.app(scope, receive, self._setting_cookie(scope, send))
            return
        await self.app(scope, receive, send)

    def _credentials(self, scope: Scope) -> tuple[bool, bool, bool]:
        """Whether the bearer header, ``?token=`` and the cookie each hold the token.
        compare_digest: no timing hints about how much of the token matched."""
        auth = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, credentials = auth.partition(b" ")
        bearer = scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)
        if scope["method"] not in READ_METHODS:
            return bearer, False, False
        query = False
        path = scope["path"]
        if path.startswith(STREAM_PREFIX) or path == DOCS_PATH:
            first = next(query_values(scope.get("query_string", b""), b"token"), None)
            query = first is not None and hmac.compare_digest(first, self.token)
        name = cookie_name(scope).encode()
        # Every cookie of that name (a browser may send more than one): any may match.
        cookie = any([hmac.compare_digest(value, self.cookie) for value in cookie_values(scope, name)])
        return bearer, query, cookie

    def _setting_cookie(self, scope: Scope, send: Send) -> Send:
        """``send`` with the cookie added to the response: HttpOnly (no script reads it),
        SameSite=Strict (no other site's page or link sends it), Path=/ (the docs page
        loads /openapi.json), no Domain (this host only), no Max-Age (gone when the
        browser closes). The page's URL holds the token: no Referer carries it to the
        scripts the page loads, and no cache keeps the page."""
        cookie = f"{cookie_name(scope)}={self.cookie.decode()}; Path=/; HttpOnly; SameSite=Strict"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append("Set-Cookie", cookie)
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cache-Control"] = "no-store"
            await send(message)

        return send_with_cookie
