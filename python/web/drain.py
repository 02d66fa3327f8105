"""refuse: answer a request that will not run, after reading (and dropping) its body.

Why: a server that answers and closes while the client is still sending makes the
client's kernel see a reset; a client that sends its whole body before reading (Python's
http.client, many others) then gets BrokenPipeError or ECONNRESET instead of the answer.
Reading the rest of the body first lets the client finish sending and read the answer.

The drain is bounded (DRAIN_MAX_BYTES, DRAIN_MAX_SECONDS), so a refused client cannot
make the server read forever: past either bound the answer goes out with
``Connection: close`` and the server closes (the client may then lose that answer, as
before, but only after sending more than the bound).
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

#: Bytes of a refused body read and dropped before answering (beyond what was read).
DRAIN_MAX_BYTES = 16 * 1024 * 1024
#: Seconds spent reading a refused body before answering anyway.
DRAIN_MAX_SECONDS = 10.0


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (Content-Length other than 0, or chunked)."""
    headers = dict(scope["headers"])
    if b"transfer-encoding" in headers:
        return True
    length = headers.get(b"content-length")
    return length is not None and length.strip() not in (b"", b"0")


async def drain(receive: Receive) -> bool:
    """Reads and drops the rest of the body: True when it ended within the bounds,
    False when it did not (too large, too slow, or the client went away)."""
    left = DRAIN_MAX_BYTES
    try:
        async with asyncio.timeout(DRAIN_MAX_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return False
                left -= len(message.get("body", b""))
                if not message.get("more_body", False):
                    return left >= 0
                if left < 0:
                    return False
    except TimeoutError:
        return False


async def refuse(
    response: Response, scope: Scope, receive: Receive, send: Send, *, unread: bool | None = None
) -> None:
    """Sends ``response`` for a request that will not run, draining its body first.

    ``unread``: whether part of the body is still to be read; None when the caller has
    read none of it (then the headers tell). A client that asked for ``100-continue``
    and was not read from has not sent its body and will not unless told to: it is
    answered at once and the connection closed.
    """
    if unread is None:
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").strip()
        if headers.get(b"expect", b"").lower() == b"100-continue" or (
            declared.isdigit() and int(declared) > DRAIN_MAX_BYTES
        ):
            # Not sent yet, or more than would be drained: answer now and close.
            response.headers["Connection"] = "close"
            unread = False
        else:
            unread = has_body(scope)
    if unread and not await drain(receive):
        response.headers["Connection"] = "close"
    await response(scope, receive, send)
