"""A run's events as Server-Sent Events, with ``keepalive`` events while idle.

What a client that stops reading costs the server is bounded: uvicorn stops writing to a
connection whose buffer holds 64 KiB (flow control: the send waits for the client), so
this generator waits at its ``yield`` and takes no more events; the subscription's queue
only points at events the run keeps anyway (``Run.events``). After the send timeout with
nothing taken the stream is closed: the generator and its subscription end, a warning is
logged, and uvicorn closes the connection (once what it buffered is written, or the
client goes).
"""

from __future__ import annotations

import json
import logging
from typing import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from service.runs import Subscription

log = logging.getLogger("cagent.sse")


async def events(subscription: Subscription, keepalive_s: float, retry_ms: int) -> AsyncIterator[ServerSentEvent]:
    # finally: a client that disconnects cancels this generator; its queue goes with it.
    # The run itself belongs to the service and carries on.
    try:
        # No data: a client takes the reconnection time and dispatches nothing.
        yield ServerSentEvent(retry=retry_ms)
        while True:
            try:
                event = await subscription.get(timeout=keepalive_s)
            except TimeoutError:
                # No id: a keepalive must not move the client's Last-Event-ID.
                yield ServerSentEvent(data="{}", event="keepalive")
                continue
            if event is None:
                return
            yield ServerSentEvent(data=json.dumps(event.data), event=event.type, id=event.id)
    finally:
        subscription.close()


class RunEventStream(EventSourceResponse):
    """The SSE response of one run, which names the run when it drops a stuck client."""

    def __init__(self, subscription: Subscription, keepalive_s: float, retry_ms: int, send_timeout_s: float) -> None:
        # ping=0: our own keepalive events replace sse-starlette's comment pings.
        super().__init__(events(subscription, keepalive_s, retry_ms), ping=0, send_timeout=send_timeout_s)
        self.request_id = subscription.request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            client = scope.get("client")
            log.warning(
                "stream of run %s closed: the client (%s) took nothing for %g s",
                self.request_id,
                f"{client[0]}:{client[1]}" if client else "?",
                self.send_timeout,
            )


def event_stream(
    subscription: Subscription, keepalive_s: float, retry_ms: int, send_timeout_s: float
) -> EventSourceResponse:
    return RunEventStream(subscription, keepalive_s, retry_ms, send_timeout_s)
