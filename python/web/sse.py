"""A run's events as Server-Sent Events, with ``keepalive`` events while idle."""

from __future__ import annotations

import json
from typing import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from service.runs import Subscription

#: A client that has not taken a chunk for this long is dropped (its socket is stuck).
SEND_TIMEOUT_S = 30.0


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


def event_stream(subscription: Subscription, keepalive_s: float, retry_ms: int) -> EventSourceResponse:
    # ping=0: our own keepalive events replace sse-starlette's comment pings.
    return EventSourceResponse(events(subscription, keepalive_s, retry_ms), ping=0, send_timeout=SEND_TIMEOUT_S)
