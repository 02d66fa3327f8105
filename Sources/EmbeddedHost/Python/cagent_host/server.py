"""One uvicorn server serving the service's app on a socket the host owns."""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

import uvicorn

logger = logging.getLogger("cagent.host")

def log_config(log_level: str) -> dict[str, Any]:
    """Everything to stderr (the host's stdout carries only what the CLI prints), and the
    service's ``cagent`` loggers at the host's level.

    uvicorn applies this config after the service's app was imported, so a fixed INFO
    here would undo the service's own ``configure_logging`` and log every request even
    at ``--log-level warning`` (a line per request on stderr: measurable throughput).
    """
    level = "DEBUG" if log_level == "trace" else log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "cagent": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


@dataclass(frozen=True)
class ServerOptions:
    service_dir: str
    app: str
    listen_fd: int
    log_level: str
    loop: str
    http: str
    shutdown_timeout_s: float


class ServiceStartError(Exception):
    """The service could not be imported or its lifespan startup failed."""


def import_app(options: ServerOptions, fresh: bool) -> Any:
    """Import ``module:attribute``; ``fresh`` drops the service's own modules first (warm restart)."""
    module_name, _, attribute = options.app.partition(":")
    if fresh:
        purge_service_modules(options.service_dir)
        importlib.invalidate_caches()
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute or "app")
    except AttributeError:
        raise ServiceStartError(f"module {module_name!r} has no attribute {attribute!r}") from None


def purge_service_modules(service_dir: str) -> list[str]:
    """Forget every module loaded from the service folder so the next import reads it anew.

    Service modules are found through the folder's ``sys.path`` entry, so their files
    start with the folder as given or as resolved; resolving every loaded module's path
    instead took ~10 ms of a warm restart (some 550 modules).
    """
    roots = tuple({os.path.abspath(service_dir) + os.sep, os.path.realpath(service_dir) + os.sep})
    names = [
        name
        for name, module in list(sys.modules.items())
        if isinstance(path := getattr(module, "__file__", None), str) and path.startswith(roots)
    ]
    for name in names:
        del sys.modules[name]
    return names


_LRU_CACHE = type(functools.lru_cache()(lambda: None))


def clear_function_caches() -> int:
    """Empty every module-level ``functools.lru_cache``; returns how many there were.

    Libraries memoize on the functions they are given: FastAPI 0.165 classifies every
    endpoint through ``lru_cache``s keyed by the function (4096 entries), and through its
    globals that keeps a replaced service's modules, app and models alive after a warm
    restart. Emptying a cache only ever costs a recomputation (~3 ms for the ~40 caches
    of this stack).
    """
    caches = [
        value
        for module in list(sys.modules.values())
        for value in list(getattr(module, "__dict__", {}).values())
        if isinstance(value, _LRU_CACHE)
    ]
    for cache in caches:
        cache.cache_clear()
    return len(caches)


class EmbeddedServer:
    """A uvicorn ``Server`` driven step by step instead of through ``serve()``.

    ``serve()`` would install signal handlers and poll ``should_exit`` every 100 ms;
    the host owns signals and wants a restart to be ready in milliseconds, so it calls
    ``startup``/``shutdown`` itself and runs uvicorn's tick loop only for the Date
    header and request limits.
    """

    def __init__(self, app: Any, options: ServerOptions) -> None:
        self.app = app
        self.options = options
        self.config = uvicorn.Config(
            app,
            log_level=options.log_level,
            log_config=log_config(options.log_level),
            access_log=False,  # the service logs its own requests
            loop=options.loop,
            http=options.http,
            lifespan="auto",
            # Open connections get part of the host's shutdown timeout; then their
            # tasks are cancelled (SSE streams have already ended with an error event).
            timeout_graceful_shutdown=max(1, int(options.shutdown_timeout_s * 0.4)),
        )
        self.server = uvicorn.Server(self.config)
        self._socket: socket.socket | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.config.load()
        self.server.lifespan = self.config.lifespan_class(self.config)
        # A duplicate of the host's listening socket: uvicorn closes it at shutdown,
        # the host's stays open, so the port never changes and connections made during
        # a restart wait in the backlog instead of being refused.
        self._socket = socket.socket(fileno=os.dup(self.options.listen_fd))
        try:
            await self.server.startup(sockets=[self._socket])
        except SystemExit:
            raise ServiceStartError("the service's lifespan startup failed (see the log above)") from None
        if self.server.should_exit:
            raise ServiceStartError("the service's lifespan startup failed (see the log above)")
        self._ticker = asyncio.create_task(self.server.main_loop(), name="uvicorn-tick")

    async def stop(self) -> None:
        """The service's own shutdown (ends open runs and their streams), then uvicorn's."""
        service = getattr(getattr(self.app, "state", None), "service", None)
        if service is not None:
            try:
                await service.shutdown()
            except Exception:
                logger.exception("the service's shutdown failed")
        self.server.should_exit = True
        if self._ticker is not None:
            self._ticker.cancel()
        if self.server.started:
            await self._shutdown_server()
        elif self._socket is not None:
            self._socket.close()

    async def _shutdown_server(self) -> None:
        """uvicorn's ``Server.shutdown`` (0.54) step by step, minus its fixed waits.

        uvicorn sleeps 100 ms after asking connections to close and then polls them every
        100 ms: most of a restart or stop. Here the same steps poll every 5 ms, with the
        same graceful-shutdown timeout, then the lifespan shutdown.
        """
        server = self.server
        for listener in server.servers:
            listener.close()
        if self._socket is not None:
            self._socket.close()
        state = server.server_state
        for connection in list(state.connections):
            connection.shutdown()
        try:
            await asyncio.wait_for(self._connections_closed(), timeout=self.config.timeout_graceful_shutdown)
        except asyncio.TimeoutError:
            logger.error("cancelling %d running task(s): graceful shutdown timed out", len(state.tasks))
            for task in state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not server.force_exit:
            await server.lifespan.shutdown()

    async def _connections_closed(self) -> None:
        state = self.server.server_state
        while state.connections or state.tasks:
            await asyncio.sleep(0.005)
        for listener in self.server.servers:
            await listener.wait_closed()
