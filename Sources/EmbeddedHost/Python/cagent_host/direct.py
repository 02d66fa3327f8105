"""Agent calls from Swift without HTTP.

The host queues calls in an inbox of its own and writes a byte to a pipe; the loop
watches the pipe (``attach``), takes the inbox (``DirectRequest`` items) and runs each
call, and reports through ``deliver(call_id, delivery, payload)`` (a ``DirectDelivery``),
a Swift callback called on the loop thread; both are in ``cagent_host.messages``. The
calling Swift thread never takes the GIL (see DirectCallQueue.swift for why). Same
service, same agents, same event and error shapes as the HTTP API; no socket, no JSON
text. ``execute``/``stream`` are the same calls for Python threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from .messages import DirectDelivery, DirectRequest, DirectRequestKind

logger = logging.getLogger("cagent.host")

#: ``deliver(delivery, payload)``: see ``DirectDelivery`` for each payload; ``DONE``
#: comes last, always.
Deliver = Callable[[DirectDelivery, dict[str, Any]], None]

#: The host's inbox, taken whole.
Take = Callable[[], list[DirectRequest]]
HostDeliver = Callable[[int, DirectDelivery, dict[str, Any]], None]


class DirectCalls:
    def __init__(self, loop: asyncio.AbstractEventLoop, app: Callable[[], Any]) -> None:
        self._loop = loop
        self._app = app
        self._host_calls: dict[int, asyncio.Task[None]] = {}
        self._wake_fd = -1
        self._take: Take = list
        self._host_deliver: HostDeliver = lambda call_id, delivery, payload: None

    def attach(self, wake_fd: int, take: Take, deliver: HostDeliver) -> None:
        """Serve the host's inbox whenever ``wake_fd`` is readable. Loop thread."""
        self._wake_fd, self._take, self._host_deliver = wake_fd, take, deliver
        self._loop.add_reader(wake_fd, self._drain)

    def _drain(self) -> None:
        # Read the wake-ups before taking the inbox: a call queued after the take writes
        # a new one, so none is left behind.
        try:
            os.read(self._wake_fd, 4096)
        except BlockingIOError:
            pass
        for request in self._take():
            call_id = request["call_id"]
            if request["kind"] == DirectRequestKind.CANCEL:
                task = self._host_calls.get(call_id)
                if task is not None:
                    task.cancel()
                continue
            deliver = functools.partial(self._host_deliver, call_id)
            run = self._execute if request["kind"] == DirectRequestKind.EXECUTE else self._stream
            work = run(request["agent_id"], request["input"], request.get("context"), request.get("timeout_s"), deliver)
            task = self._loop.create_task(work)
            self._host_calls[call_id] = task
            task.add_done_callback(functools.partial(self._host_call_done, call_id))

    def _host_call_done(self, call_id: int, task: asyncio.Task[None]) -> None:
        self._host_calls.pop(call_id, None)
        self._host_deliver(call_id, DirectDelivery.DONE, {"cancelled": task.cancelled()})

    def execute(
        self, agent_id: str, input: Any, context: Any, timeout_s: float | None, deliver: Deliver
    ) -> concurrent.futures.Future[None]:
        """Run to the end; cancelling the returned future cancels the run. Thread-safe."""
        return _watched(asyncio.run_coroutine_threadsafe(self._execute(agent_id, input, context, timeout_s, deliver), self._loop), deliver)

    def stream(
        self, agent_id: str, input: Any, context: Any, timeout_s: float | None, deliver: Deliver
    ) -> concurrent.futures.Future[None]:
        """Every event of a new run; cancelling the returned future cancels the run. Thread-safe."""
        return _watched(asyncio.run_coroutine_threadsafe(self._stream(agent_id, input, context, timeout_s, deliver), self._loop), deliver)

    async def _execute(self, agent_id: str, input: Any, context: Any, timeout_s: float | None, deliver: Deliver) -> None:
        try:
            outcome = await self._service().execute(agent_id, input, context, timeout_s)
        except asyncio.CancelledError:
            raise  # the caller cancelled: it expects nothing more
        except BaseException as error:  # noqa: BLE001 - every failure is the caller's answer
            deliver(DirectDelivery.ERROR, _error(error))
        else:
            deliver(DirectDelivery.RESULT, outcome.model_dump())

    async def _stream(self, agent_id: str, input: Any, context: Any, timeout_s: float | None, deliver: Deliver) -> None:
        service = self._service()
        try:
            request_id = service.start_run(agent_id, input, context, timeout_s)
            subscription = service.subscribe(request_id)
        except BaseException as error:  # noqa: BLE001
            deliver(DirectDelivery.ERROR, _error(error))
            return
        try:
            async for event in subscription:
                deliver(DirectDelivery.EVENT, event.model_dump())
        except asyncio.CancelledError:
            service.cancel(request_id)  # the caller owns this run
            raise
        finally:
            await subscription.aclose()

    def _service(self) -> Any:
        return self._app().state.service


def _watched(future: concurrent.futures.Future[None], deliver: Deliver) -> concurrent.futures.Future[None]:
    future.add_done_callback(lambda done: deliver(DirectDelivery.DONE, {"cancelled": done.cancelled()}))
    return future


def _error(error: BaseException) -> dict[str, Any]:
    to_dict = getattr(error, "to_dict", None)
    status = getattr(error, "status", None)
    if callable(to_dict) and isinstance(status, int):
        return {**to_dict(), "status": status}
    logger.error("direct call failed", exc_info=error)
    return {"code": "internal_error", "message": f"{type(error).__name__}: {error}", "status": 500}
