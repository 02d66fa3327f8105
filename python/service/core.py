"""AgentService: runs agents, keeps their events, shuts down cleanly.

Framework-independent: the FastAPI routes delegate here, and the Swift host calls
the same methods in-process on the event loop thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Mapping

from agents.base import Agent, AgentRuntime
from service.errors import (
    BY_CODE,
    AgentFailed,
    InvalidRequest,
    RunCancelled,
    RunTimeout,
    ServiceError,
    ShuttingDown,
    UnknownAgent,
    UnknownRun,
)
from service.models import RESERVED, AgentInfo, ExecuteResult
from service.runs import Run, Subscription
from agents.schema import input_errors

if TYPE_CHECKING:
    from config import Settings
    from tools import ToolListing, Toolsets

log = logging.getLogger("cagent.service")

#: How long shutdown() waits for cancelled runs to finish before giving up on them.
SHUTDOWN_GRACE_S = 5.0


class AgentService:
    def __init__(self, settings: "Settings", agents: Mapping[str, type[Agent]], toolsets: "Toolsets") -> None:
        self.settings = settings
        self.toolsets = toolsets
        self._agents = dict(agents)
        self._runtime = AgentRuntime(settings=settings, tools=toolsets)
        #: Runs started with start_run, kept for streaming until read or expired.
        self._runs: dict[str, Run] = {}
        #: Every run whose task is still going, execute() runs included.
        self._live: dict[asyncio.Task[None], Run] = {}
        self._subscriptions: set[Subscription] = set()
        #: Runs that left ``_runs`` -> (until when this is kept, their terminal event's id),
        #: so that a reconnect to a finished run is told "nothing more" (204), not 404.
        self._finished: dict[str, tuple[float, str]] = {}
        self._closing = False
        #: How long shutdown() waits for cancelled runs (tests shorten it).
        self.shutdown_grace_s = SHUTDOWN_GRACE_S
        self._shutdown_task: asyncio.Task[None] | None = None
        #: Whoever runs the service ends it on a stop request (POST /shutdown: "release
        #: resources and exit"): uvicorn run standalone (main.py's lifespan) or the Swift
        #: host (cagent_host.runner). Called on the loop, must not block; None when
        #: nothing that runs the service can be stopped from here (an ASGI test client).
        self.on_stop_requested: Callable[[str], None] | None = None
        self._stop_requested: str | None = None

    # -- what there is -----------------------------------------------------------

    @property
    def agents(self) -> list[AgentInfo]:
        return [
            AgentInfo(id=agent_id, description=cls.description, input_schema=cls.input_schema)
            for agent_id, cls in sorted(self._agents.items())
        ]

    @property
    def agent_count(self) -> int:
        """len(agents) without describing each (``agents`` makes every schema)."""
        return len(self._agents)

    async def tools(self) -> "ToolListing":
        """The MCP tools of every configured server and each server's status; servers
        are started on the first listing. A server that fails is reported, not raised.

        Raises ShuttingDown once shutdown() was called.
        """
        from tools import ToolError

        if self._closing:
            raise ShuttingDown("the service is shutting down")
        try:
            return await self.toolsets.listing()
        except ToolError:
            # Closed under us by a shutdown that began during the listing.
            raise ShuttingDown("the service is shutting down") from None

    @property
    def closing(self) -> bool:
        """True once shutdown() was called: no new runs are accepted."""
        return self._closing

    @property
    def task_count(self) -> int:
        """Run tasks still going (start_run and execute)."""
        return len(self._live)

    def run_of(self, task: asyncio.Task[Any]) -> Run | None:
        """The run ``task`` is driving, if any: how a host that watches the event loop
        names the run executing on it (Sources/EmbeddedHost/Python/cagent_host/watchdog.py)."""
        return self._live.get(task)  # type: ignore[arg-type]

    @property
    def subscriber_count(self) -> int:
        """Subscriptions holding a queue right now."""
        return len(self._subscriptions)

    @property
    def run_count(self) -> int:
        """Runs whose events are kept for streaming."""
        return len(self._runs)

    # -- running -----------------------------------------------------------------

    async def execute(
        self,
        agent_id: str,
        input: dict[str, Any],
        context: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        *,
        request_id: str | None = None,
    ) -> ExecuteResult:
        """Run an agent to its end and return its result.

        Raises AgentFailed (the agent raised or called sys.exit), RunTimeout,
        UnknownAgent, ShuttingDown. Cancelling the caller cancels the run: it owns it.
        """
        run = self._launch(agent_id, input, context, timeout_s, request_id)
        assert run.task is not None
        try:
            # The end event, not the task: shutdown ends a run that ignores cancellation.
            await run.ended.wait()
        except asyncio.CancelledError:
            run.task.cancel()
            raise
        end = run.last
        assert end is not None and end.terminal
        if end.type == "error":
            error = BY_CODE.get(end.data["code"], AgentFailed)
            raise error(end.data["message"], request_id=run.request_id)
        return ExecuteResult.model_validate(end.data)

    def start_run(
        self,
        agent_id: str,
        input: dict[str, Any],
        context: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        *,
        request_id: str | None = None,
    ) -> str:
        """Start a run now and return its request id; read it with subscribe().

        Must be called on the event loop thread.
        """
        run = self._launch(agent_id, input, context, timeout_s, request_id)
        self._runs[run.request_id] = run
        return run.request_id

    def subscribe(self, request_id: str, last_event_id: str | None = None) -> Subscription:
        """Every event of the run from its start (or after ``last_event_id``) up to and
        including the terminal ``result``/``error`` event.

        Raises UnknownRun and InvalidLastEventId here, before iteration starts.
        """
        run = self._runs.get(request_id)
        if run is None:
            raise UnknownRun(f"no run {request_id!r}", request_id=request_id)
        return Subscription(self, run, run.position(last_event_id))

    def delivered(self, request_id: str, last_event_id: str | None) -> bool:
        """True when ``last_event_id`` is the terminal event of a run that has ended:
        a client reconnecting with it already has every event there will ever be.

        For a run that was read to its end (and so forgotten) this holds for
        ``run_retention_s``; later the run is unknown. Raises nothing.
        """
        if not last_event_id:
            return False
        run = self._runs.get(request_id)
        if run is not None:
            end = run.last
            return run.done and end is not None and end.id == last_event_id
        self._forget_finished()
        finished = self._finished.get(request_id)
        return finished is not None and finished[1] == last_event_id

    def cancel(self, request_id: str) -> bool:
        """Cancel a started run: it ends with an ``error`` event ``cancelled``. False when
        it had already ended. For callers that own the run (an in-process caller whose
        own task was cancelled); an HTTP client that disconnects cancels nothing.

        Raises UnknownRun.
        """
        run = self._runs.get(request_id)
        if run is None:
            raise UnknownRun(f"no run {request_id!r}", request_id=request_id)
        if run.done or run.task is None:
            return False
        run.task.cancel()
        return True

    async def shutdown(self) -> None:
        """Stop accepting runs, end running ones with ``shutting_down``, close MCP
        sessions. Idempotent: later calls wait for the first one to finish."""
        if self._shutdown_task is None:
            self._closing = True
            # Cancelled here, before any await: no run gets to finish after the call.
            tasks = list(self._live)
            for task in tasks:
                task.cancel()
            self._shutdown_task = asyncio.get_running_loop().create_task(self._shutdown(tasks))
        await asyncio.shield(self._shutdown_task)

    def request_stop(self, reason: str) -> bool:
        """Ask whoever runs the service to stop it and exit (once; later calls repeat the
        answer). Returns whether anything will stop: False when no one can."""
        if self.on_stop_requested is None:
            log.warning("stop requested (%s), but nothing that runs this service can be stopped from here", reason)
            return False
        if self._stop_requested is None:
            self._stop_requested = reason
            log.info("stop requested (%s): the process stops", reason)
            self.on_stop_requested(reason)
        return True

    # -- internals ---------------------------------------------------------------

    def _launch(
        self,
        agent_id: str,
        input: dict[str, Any],
        context: dict[str, Any] | None,
        timeout_s: float | None,
        request_id: str | None,
    ) -> Run:
        if self._closing:
            raise ShuttingDown("the service is shutting down")
        cls = self._agents.get(agent_id)
        if cls is None:
            raise UnknownAgent(f"no agent {agent_id!r}", agent_id=agent_id)
        if not isinstance(input, dict):
            raise InvalidRequest("input must be an object")
        problems = input_errors(cls, input)
        if problems:
            raise InvalidRequest(f"input does not match the schema of agent {agent_id!r}", errors=problems)
        if context is not None and not isinstance(context, dict):
            raise InvalidRequest("context must be an object")
        if timeout_s is not None and not timeout_s > 0:
            raise InvalidRequest("timeout_s must be greater than 0")
        request_id = request_id or uuid.uuid4().hex
        if request_id in self._runs:
            raise InvalidRequest(f"request id {request_id!r} is in use")
        run = Run(request_id, agent_id)
        timeout = timeout_s if timeout_s is not None else self.settings.default_run_timeout_s
        task = asyncio.get_running_loop().create_task(
            self._drive(run, cls, input, context or {}, timeout), name=f"run-{request_id}"
        )
        run.task = task
        self._live[task] = run
        task.add_done_callback(lambda _: self._task_done(run))
        return run

    async def _drive(
        self, run: Run, cls: type[Agent], input: dict[str, Any], context: dict[str, Any], timeout: float
    ) -> None:
        """The run's task: every way out publishes exactly one terminal event."""

        async def emit(type: str, data: dict[str, Any]) -> None:
            if not isinstance(type, str) or not type or type in RESERVED:
                raise ValueError(f"agents cannot emit {type!r} events")
            if run.done:
                raise RuntimeError("the run has ended")
            run.publish(type, _snapshot(data))
            # Let subscribers catch up with an agent that emits without awaiting.
            await asyncio.sleep(0)

        started = time.perf_counter()
        deadline = asyncio.timeout(timeout)
        try:
            agent = cls(self._runtime)
            async with deadline:
                result = await agent.run(input, context, emit)
            result = _snapshot(result)
        except asyncio.CancelledError:
            # The service owns this task; its end is an event, not an exception.
            if self._closing:
                self._fail(run, ShuttingDown("the service is shutting down"))
            else:
                self._fail(run, RunCancelled("the run was cancelled"))
        except TimeoutError as error:
            if deadline.expired():
                self._fail(run, RunTimeout(f"agent {run.agent_id!r} did not finish within {timeout:g} s"))
            else:
                self._agent_failed(run, error)
        # SystemExit too: an agent calling sys.exit must not stop the service.
        except (Exception, SystemExit) as error:
            self._agent_failed(run, error)
        else:
            elapsed = time.perf_counter() - started
            run.publish("result", {"result": result, "execution_time": elapsed, "agent_id": run.agent_id})
        finally:
            # Out of the count before any subscriber sees the terminal event.
            self._live.pop(asyncio.current_task(), None)  # type: ignore[arg-type]

    def _agent_failed(self, run: Run, error: BaseException) -> None:
        log.error("agent %r failed in run %s", run.agent_id, run.request_id, exc_info=error)
        if isinstance(error, SystemExit):
            message = f"agent called sys.exit({error.code!r})"
        else:
            message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self._fail(run, AgentFailed(message))

    def _fail(self, run: Run, error: ServiceError) -> None:
        run.publish("error", {"code": error.code, "message": error.message, "request_id": run.request_id})

    def _task_done(self, run: Run) -> None:
        if run.task is not None:
            self._live.pop(run.task, None)
        if not run.done:
            # Cancelled before its first step: _drive never ran, so report it here.
            self._fail(run, ShuttingDown("the service is shutting down") if self._closing else RunCancelled("the run was cancelled"))
        self._after_end(run)

    def _after_end(self, run: Run) -> None:
        if self._runs.get(run.request_id) is run and run.expiry is None:
            loop = asyncio.get_running_loop()
            run.expiry = loop.call_later(self.settings.run_retention_s, self._retire, run)

    def _retire(self, run: Run) -> None:
        """Forget a run: read to its end, or kept past the retention time. Its id and
        terminal event id stay (for ``delivered``) for another retention time."""
        if self._runs.get(run.request_id) is run:
            del self._runs[run.request_id]
            end = run.last
            if end is not None and end.terminal:
                self._forget_finished()
                self._finished[run.request_id] = (time.monotonic() + self.settings.run_retention_s, end.id)
        if run.expiry is not None:
            run.expiry.cancel()

    def _forget_finished(self) -> None:
        # Insertion order is expiry order (one retention time for all): drop from the front.
        now = time.monotonic()
        for request_id, (until, _) in list(self._finished.items()):
            if until > now:
                break
            del self._finished[request_id]

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self.shutdown_grace_s)
            for task in stuck:
                run = self._live.get(task)
                if run is not None:
                    log.warning("run %s ignores cancellation; reporting it ended", run.request_id)
                    self._fail(run, ShuttingDown("the service is shutting down"))
        try:
            await self.toolsets.aclose()
        except Exception:
            log.exception("closing MCP sessions failed")


def _snapshot(data: Any) -> dict[str, Any]:
    """A JSON-clean copy of an agent's object: fails at the agent, not mid-stream, and
    later mutation by the agent cannot change what was published."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object (dict), got {type(data).__name__}")
    return json.loads(json.dumps(data, allow_nan=False))
