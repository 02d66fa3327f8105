"""The Python half of the host's watchdog: interrupting a run that blocks the loop.

The Swift watchdog notices a stall (a heartbeat it scheduled on the loop did not run
in time) and delivers a signal to the interpreter thread with ``pthread_kill``. The
interpreter thread is Python's main thread, so the handlers installed here run on it,
between two bytecodes of whatever blocks the loop, and also get it out of blocking
calls: the signal interrupts ``time.sleep`` or a socket read (EINTR), Python runs the
handler, and the exception the handler raises comes out of that call.

Two signals, two requests, so the Swift side never needs the GIL to ask:

- the interrupt signal raises :class:`RunStalled` in the run the host named (or in
  any run, when it could not name one), after ending that run with an ``error`` event
  ``stalled``; anything else on the loop is left alone;
- the abort signal raises :class:`LoopAborted` in whatever runs, so that a restart the
  host has queued gets its turn.

Each handler asks the host (``ask``, a Swift function) whether it is armed, so a
signal from elsewhere, or one that arrives after the stall ended, does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from . import messages

logger = logging.getLogger("cagent.host")

#: ``ask("interrupt")`` -> None (not armed) or the request id to interrupt ("" for any
#: run); ``ask("abort")`` -> bool. Each answer disarms.
Ask = Callable[[str], Any]


class RunStalled(BaseException):
    """Raised into a run that blocked the event loop past the host's stall threshold.

    A BaseException, like CancelledError: an agent's ``except Exception`` must not
    swallow it.
    """


class LoopAborted(BaseException):
    """Raised into whatever blocks the loop so that a queued restart can run."""


def install(loop: asyncio.AbstractEventLoop, ask: Ask, interrupt_signal: int, abort_signal: int, app_of: Callable[[], Any]) -> None:
    """Install both handlers; must run on Python's main thread (the interpreter thread)."""

    def on_interrupt(signum: int, frame: Any) -> None:
        target = ask(messages.Ask.INTERRUPT.value)
        if target is None:
            return
        task = _current_task(loop)
        if task is None:
            logger.warning("stall interrupt: no task is running on the loop; nothing interrupted")
            return
        run = _run_of(app_of(), task)
        name = task.get_name()
        if run is None:
            logger.warning("stall interrupt: task %s is not an agent run; nothing interrupted", name)
            return
        if target and run.request_id != target:
            logger.warning("stall interrupt: the running task is %s, not run %s; nothing interrupted", name, target)
            return
        message = "the run blocked the event loop past the stall threshold and was interrupted by the host"
        if not run.done:
            run.publish("error", {"code": "stalled", "message": message, "request_id": run.request_id})
        # Nobody awaits a run's task: fetch the exception so asyncio does not log it again.
        task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        logger.error("interrupting %s (agent %s): %s", name, getattr(run, "agent_id", "?"), message)
        raise RunStalled(message)

    def on_abort(signum: int, frame: Any) -> None:
        if ask(messages.Ask.ABORT.value):
            logger.error("aborting what blocks the event loop so that the host's restart can run")
            raise LoopAborted("the host aborted a stalled event loop to restart the service")

    signal.signal(interrupt_signal, on_interrupt)
    signal.signal(abort_signal, on_abort)


def current_run(loop: asyncio.AbstractEventLoop, app: Any) -> dict[str, str] | None:
    """The agent and request id of the run executing on ``loop`` now, if any.

    Called from the watchdog's thread with the GIL held while the loop thread is stuck
    (between bytecodes or in a blocking call): it only reads.
    """
    task = _current_task(loop)
    if task is None:
        return None
    run = _run_of(app, task)
    if run is not None:
        return {"agent": run.agent_id, "request_id": run.request_id, "task": task.get_name()}
    return {"task": task.get_name()}


def _current_task(loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task(loop)
    except RuntimeError:
        return None


def _run_of(app: Any, task: asyncio.Task[Any]) -> Any:
    """The service's run for ``task``, through its public ``run_of``."""
    service = getattr(getattr(app, "state", None), "service", None)
    run_of = getattr(service, "run_of", None)
    return run_of(task) if callable(run_of) else None
