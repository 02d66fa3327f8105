"""One stdio MCP server: its process and client session, owned by a long-lived task.

The SDK's ``stdio_client`` and ``ClientSession`` hold anyio cancel scopes that must be
entered and left in the same task, so neither may live in whichever request task
happened to start the server. Each server therefore gets a worker task that enters
both, publishes the session, and waits to be told to stop. Callers only send
requests on the published session; that needs no scope of its own.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import logging
import os
from typing import TYPE_CHECKING, Any

from . import orphan_guard
from .config_file import ServerConfig
from .errors import ToolError

if TYPE_CHECKING:
    from mcp import ClientSession

log = logging.getLogger("tools.server")

CLIENT_NAME = "cagent"
CLIENT_VERSION = "0.1.0"
#: Lines of a server's stderr kept to explain why it failed.
STDERR_TAIL_LINES = 20
#: How long to wait for stderr to reach EOF once the server is gone (a grandchild may hold it).
STDERR_DRAIN_S = 0.5


_sdk_loaded = False


async def load_sdk() -> None:
    """Import the MCP SDK in a thread, once: it takes about a second, which neither a
    service without MCP servers (at launch) nor the event loop (at first use) should pay."""
    global _sdk_loaded
    if not _sdk_loaded:
        await asyncio.to_thread(importlib.import_module, "mcp")
        await asyncio.to_thread(orphan_guard.setpriv)
        _sdk_loaded = True


class ServerConnection:
    """Starts the server on first use, reuses its session, restarts it after it died."""

    def __init__(self, name: str, config: ServerConfig, start_timeout_s: float) -> None:
        self.name = name
        self.config = config
        self.start_timeout_s = start_timeout_s
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._lock = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[ClientSession] | None = None
        self._stop = asyncio.Event()
        self._dead: ClientSession | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        """The worker task is alive: the process is starting, running or being stopped."""
        return self._worker is not None and not self._worker.done()

    async def session(self) -> ClientSession:
        """The live session, starting (or restarting) the server if needed."""
        await load_sdk()
        async with self._lock:
            if self._closed:
                raise ToolError(f"MCP server {self.name!r}: the tools are shut down")
            if self._needs_start():
                await self._stop_worker()
                self._start_worker()
            ready = self._ready
        assert ready is not None
        # Shielded: one caller giving up must not cancel the start the others wait for.
        return await asyncio.shield(ready)

    def mark_dead(self, session: ClientSession) -> None:
        """The session's connection closed under a call: restart on next use."""
        self._dead = session
        ready = self._ready
        if ready is not None and ready.done() and not ready.cancelled() and ready.exception() is None:
            if ready.result() is session:
                self._stop.set()  # let the worker reap the dead process now, not at next use

    async def aclose(self) -> None:
        async with self._lock:
            self._closed = True
            await self._stop_worker()

    def _needs_start(self) -> bool:
        if self._worker is None or self._worker.done() or self._ready is None:
            return True
        if not self._ready.done():
            return False  # another caller's start is under way: share it
        if self._ready.cancelled() or self._ready.exception() is not None:
            return True
        session = self._ready.result()
        return session is self._dead or _connection_closed(session)

    def _start_worker(self) -> None:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        # Nobody may be waiting when a start fails; that is not worth a warning.
        self._ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._stop = asyncio.Event()
        self.stderr_tail.clear()
        self._worker = asyncio.create_task(self._run(self._ready, self._stop), name=f"mcp-server:{self.name}")

    async def _stop_worker(self) -> None:
        worker, ready = self._worker, self._ready
        if worker is None:
            return
        self._stop.set()
        if ready is not None and not ready.done():
            worker.cancel()  # still starting: it is not waiting on the stop event yet
        # asyncio.wait does not raise the worker's cancellation into us.
        await asyncio.wait([worker])
        self._worker = None

    async def _run(self, ready: asyncio.Future[ClientSession], stop: asyncio.Event) -> None:
        # Loaded by load_sdk() before any worker starts.
        import anyio
        from mcp import ClientSession, StdioServerParameters, stdio_client
        from mcp_types import Implementation

        # The server dies with this process, even a SIGKILLed one (orphan_guard).
        command, args = orphan_guard.guarded(self.config.command, self.config.args)
        params = StdioServerParameters(
            command=command,
            args=args,
            env=self.config.env or None,
            cwd=self.config.cwd,
        )
        read_fd, write_fd = os.pipe()
        errlog = os.fdopen(write_fd, "w")
        pump = asyncio.create_task(self._pump_stderr(read_fd), name=f"mcp-stderr:{self.name}")
        failure: BaseException | None = None
        try:
            async with stdio_client(params, errlog=errlog) as (read, write):
                # No session-wide timeout: each request carries its own.
                client_info = Implementation(name=CLIENT_NAME, version=CLIENT_VERSION)
                async with ClientSession(read, write, client_info=client_info) as session:
                    with anyio.fail_after(self.start_timeout_s):
                        await session.initialize()
                    log.info("MCP server %r started", self.name)
                    ready.set_result(session)
                    await stop.wait()
        except BaseException as error:
            failure = error
        finally:
            errlog.close()
            # The process is gone: read its stderr to the end first, so that a start
            # error can quote it. A grandchild holding the pipe only costs the bound.
            done, _ = await asyncio.wait([pump], timeout=STDERR_DRAIN_S)
            if not done:
                pump.cancel()
                await asyncio.wait([pump])
        if failure is None:
            log.info("MCP server %r stopped", self.name)
        elif not ready.done():
            ready.set_exception(ToolError(self._start_error(failure)))
        elif not isinstance(failure, asyncio.CancelledError):
            log.warning("MCP server %r session ended with an error: %s", self.name, describe(failure))
        if failure is not None and not isinstance(failure, (Exception, asyncio.CancelledError)):
            raise failure  # KeyboardInterrupt, SystemExit

    async def _pump_stderr(self, read_fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").rstrip()
                self.stderr_tail.append(text)
                log.debug("[%s] %s", self.name, text)
        finally:
            transport.close()

    def _start_error(self, error: BaseException) -> str:
        command = " ".join([self.config.command, *self.config.args])
        reason = describe(error)
        if isinstance(_leaf(error), TimeoutError):
            reason = f"no answer to initialize within {self.start_timeout_s:g} s"
        message = f"MCP server {self.name!r} failed to start ({command}): {reason}"
        return message + self.stderr_excerpt()

    def stderr_excerpt(self) -> str:
        if not self.stderr_tail:
            return ""
        return "; its stderr ended with: " + " | ".join(list(self.stderr_tail)[-5:])


def _connection_closed(session: ClientSession) -> bool:
    # The SDK exposes no "is closed" flag; its dispatcher's private one tells us a server
    # that died while idle, so that we restart it instead of failing the next call.
    dispatcher: Any = getattr(session, "_dispatcher", None)
    return bool(getattr(dispatcher, "_closed", False))


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def describe(error: BaseException) -> str:
    """One line for an exception, looking inside the exception groups anyio raises."""
    error = _leaf(error)
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe(e) for e in error.exceptions)
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    text = str(error) or type(error).__name__
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {text}"
    return text
