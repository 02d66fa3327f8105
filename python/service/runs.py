"""One run's event log and the subscriptions that read it.

Every event of a run is kept in order, so a subscriber that arrives late, or comes
back with ``Last-Event-ID``, replays what it missed and then follows live events
through its own queue. All of this lives on the event loop thread: no locks.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from service.errors import InvalidLastEventId
from service.models import RunEvent

if TYPE_CHECKING:
    from service.core import AgentService


class Run:
    def __init__(self, request_id: str, agent_id: str) -> None:
        self.request_id = request_id
        self.agent_id = agent_id
        self.events: list[RunEvent] = []
        self.queues: set[asyncio.Queue[RunEvent]] = set()
        self.task: asyncio.Task[None] | None = None
        #: Set when the terminal event is published.
        self.ended = asyncio.Event()
        #: Drops the run from the registry when nobody read it to the end in time.
        self.expiry: asyncio.TimerHandle | None = None

    @property
    def done(self) -> bool:
        return self.ended.is_set()

    @property
    def last(self) -> RunEvent | None:
        return self.events[-1] if self.events else None

    def publish(self, type: str, data: dict[str, Any]) -> RunEvent | None:
        """Append an event and hand it to every live subscriber; ignored once ended."""
        if self.done:
            return None
        event = RunEvent(id=str(len(self.events)), type=type, data=data)
        self.events.append(event)
        for queue in self.queues:
            queue.put_nowait(event)
        if event.terminal:
            self.ended.set()
            # Nothing more will come: subscribers own what is already in their queues.
            self.queues.clear()
        return event

    def position(self, last_event_id: str | None) -> int:
        """Index of the first event to deliver after ``last_event_id``."""
        if last_event_id is None or last_event_id == "":
            return 0
        try:
            index = int(last_event_id)
        except ValueError:
            index = -1
        if not 0 <= index < len(self.events) or str(index) != last_event_id:
            raise InvalidLastEventId(
                f"run {self.request_id} has no event {last_event_id!r}", request_id=self.request_id
            )
        return index + 1


class Subscription:
    """An async iterator over one run's events, from a position to the terminal event.

    The queue is created on the first read and released when the iterator ends or is
    closed, so a subscription that is never read holds nothing.
    """

    def __init__(self, service: "AgentService", run: Run, start: int) -> None:
        self._service = service
        self._run = run
        self._start = start
        self._queue: asyncio.Queue[RunEvent] | None = None
        self._opened = False
        self._closed = False
        self._saw_end = False

    @property
    def request_id(self) -> str:
        return self._run.request_id

    def _open(self) -> asyncio.Queue[RunEvent]:
        # The run may have left the registry since subscribe(); its events are still here.
        run = self._run
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        # Backlog and registration happen without a suspension point in between, so no
        # event can fall between the copy and the live feed.
        for event in run.events[self._start :]:
            queue.put_nowait(event)
        if not run.done:
            run.queues.add(queue)
        self._service._subscriptions.add(self)
        self._opened = True
        return queue

    async def get(self, timeout: float | None = None) -> RunEvent | None:
        """The next event, or None once the terminal event was delivered.

        Raises ``TimeoutError`` when nothing arrived within ``timeout`` seconds; the
        subscription stays usable (the HTTP layer sends a keepalive then).
        """
        if self._closed:
            return None
        if self._saw_end:
            # Asked for more after the terminal event: the run was read to its end
            # (for SSE: the terminal event's chunk was sent), so it can go.
            self._service._retire(self._run)
            self.close()
            return None
        if self._queue is None:
            self._queue = self._open()
        if timeout is None:
            event = await self._queue.get()
        else:
            # Cancelling Queue.get never loses an item, so a timeout is safe here.
            async with asyncio.timeout(timeout):
                event = await self._queue.get()
        if event.terminal:
            self._saw_end = True
        return event

    def close(self) -> None:
        """Release the queue; idempotent. The run stays (until read to its end by
        someone, or its retention time passes)."""
        if self._closed:
            return
        self._closed = True
        if self._queue is not None:
            self._run.queues.discard(self._queue)
            self._queue = None
        self._service._subscriptions.discard(self)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> RunEvent:
        try:
            event = await self.get()
        except BaseException:
            self.close()
            raise
        if event is None:
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self.close()

