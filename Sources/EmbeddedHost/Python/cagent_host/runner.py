"""Entry point the Swift host calls on its interpreter thread.

``run`` blocks that thread in the service's event loop until the host asks it to
stop or to restart cold, and returns which. The host talks to the running loop only
through the ``Controller`` it receives with the first notification.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from . import generation, watchdog
from .direct import DirectCalls
from .messages import Command, Notice
from .server import EmbeddedServer, ServerOptions, clear_function_caches, import_app
from .warmup import warm_up

logger = logging.getLogger("cagent.host")

#: ``notify(kind, payload)``: a Swift callback. Kinds: "controller" (payload: the
#: Controller), "serving" ({"service_generation", "restart"}), "warm_restart_failed" ({"error"}),
#: "cold_restart_refused" ({"reasons"}), "stop_requested" ({"reason"}: the service asked
#: to be stopped, POST /shutdown).
#:
#: Options (JSON): "server" (ServerOptions), "service_generation" (1 for the service a
#: start brings up, one more per cold restart), "first_interpreter" (the
#: process's first: make libpython's lasting caches), "environment" (CAGENT_*),
#: "extra_unsafe" (module
#: names), "reimport" (import the service's modules anew: a cold restart that had to
#: keep the interpreter), "watchdog" ({"interrupt_signal", "abort_signal"}: install the
#: handlers of cagent_host.watchdog; needs ``ask``).
Notify = Callable[[str, Any], None]


class Controller:
    """The host's handle on the running service; every method is thread-safe."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        #: The app being served (for the watchdog's current_run and direct calls).
        self.app: Any = None
        #: Agent calls from Swift without HTTP (cagent_host.direct).
        self.direct = DirectCalls(loop, lambda: self.app)

    def request(self, command: str) -> None:
        """Ask for a ``Command`` by name (``messages.py``); returns at once."""
        try:
            parsed = Command(command)
        except ValueError:
            raise ValueError(f"unknown command {command!r}") from None
        self._loop.call_soon_threadsafe(self._commands.put_nowait, parsed)

    async def next_command(self) -> Command:
        return await self._commands.get()

    def watch_heartbeats(self, fd: int, acknowledge: Callable[[int], None]) -> None:
        """Answer the watchdog's heartbeats. It writes each one's sequence number (8 bytes,
        little-endian) to ``fd`` without taking the GIL; the loop calls
        ``acknowledge(newest)`` when it gets to read them. Loop thread."""
        self._loop.add_reader(fd, _acknowledge_heartbeats, fd, acknowledge)

    def current_run(self) -> dict[str, str] | None:
        """The run executing on the loop now (the watchdog asks while the loop is stalled)."""
        return watchdog.current_run(self._loop, self.app)


def _acknowledge_heartbeats(fd: int, acknowledge: Callable[[int], None]) -> None:
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        return
    whole = len(data) - len(data) % 8  # writes of 8 bytes to a pipe are never split
    if whole:
        acknowledge(int.from_bytes(data[whole - 8 : whole], "little"))


def run(options_json: str, notify: Notify, ask: watchdog.Ask | None = None) -> str:
    """Serve until asked to stop; returns "stop" or "cold".

    The host calls it with the cyclic GC disabled (``gc.disable()`` before importing this
    module): loading the service is left to reference counting, and the collector resumes
    once it serves (``_loaded``).
    """
    raw = json.loads(options_json)
    options = ServerOptions(**raw["server"])
    if raw.get("first_interpreter"):
        generation.make_lasting_caches()
    # The service reads its settings from CAGENT_* variables.
    os.environ.update(raw.get("environment", {}))
    if options.service_dir not in sys.path:
        sys.path.insert(0, options.service_dir)
    factory = _loop_factory(options.loop)
    loop = factory() if factory is not None else asyncio.new_event_loop()
    stop_deadline: list[float] = []
    try:
        asyncio.set_event_loop(loop)
        controller = Controller(loop)
        signals = raw.get("watchdog")
        if ask is not None and signals:
            watchdog.install(loop, ask, signals["interrupt_signal"], signals["abort_signal"], lambda: controller.app)
        return loop.run_until_complete(
            _serve(
                controller,
                options,
                notify,
                raw.get("service_generation", 1),
                raw.get("extra_unsafe", []),
                stop_deadline,
                reimport=raw.get("reimport", False),
            )
        )
    finally:
        # asyncio.Runner's close, but bounded: in 3.11 shutdown_default_executor waits
        # forever for a stuck executor thread, and the host must never hang on one.
        deadline = stop_deadline[0] if stop_deadline else time.monotonic() + options.shutdown_timeout_s
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(_shutdown_executor(loop, deadline))
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            # Finalization, or the next run in this interpreter, must see every object.
            gc.unfreeze()
            gc.enable()
        _join_threads(deadline)


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


async def _shutdown_executor(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    try:
        await asyncio.wait_for(loop.shutdown_default_executor(), max(0.01, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        logger.error("executor threads still busy at the shutdown deadline")


def _join_threads(deadline: float) -> None:
    """Give non-daemon threads until the deadline; the host will not finalize past them."""
    for thread in generation.live_non_daemon_threads():
        thread.join(max(0.0, deadline - time.monotonic()))


def _loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    import uvicorn

    return uvicorn.Config(app=None, loop=loop).get_loop_factory()  # type: ignore[arg-type]


async def _serve(
    controller: Controller,
    options: ServerOptions,
    notify: Notify,
    service_generation: int,
    extra_unsafe: list[str],
    stop_deadline: list[float],
    reimport: bool,
) -> str:
    notify(Notice.CONTROLLER.value, controller)
    replaced: list[EmbeddedServer] = []
    retiring: set[asyncio.Task[None]] = set()
    # Serving again in this interpreter (the loop had ended): the earlier run's service
    # is garbage to collect, at the host's "retire" as for a replaced server.
    garbage = reimport
    try:
        server = EmbeddedServer(import_app(options, fresh=reimport), options)
        await server.start()
        _loaded()
    finally:
        gc.enable()
    controller.app = server.app
    _forward_stop_requests(server.app, notify)
    notify(Notice.SERVING.value, {"service_generation": service_generation, "restart": "warm" if reimport else None})
    while True:
        command = await controller.next_command()
        if command is Command.RETIRE:
            _retire(replaced, retiring, notify, collect=garbage, app=server.app)
            garbage = False
            continue
        notify(Notice.COMMAND.value, {"command": command.value})
        if command is Command.COLD:
            # Threads are checked once the loop has closed (run's caller does): some,
            # like AnyIO's workers, end with the loop.
            reasons = generation.unsafe_loaded_modules(extra_unsafe)
            if reasons:
                notify(Notice.COLD_RESTART_REFUSED.value, {"reasons": reasons})
                command = Command.WARM
        if command is Command.WARM:
            server = await _warm_restart(server, options, notify, service_generation, replaced)
            controller.app = server.app
            _forward_stop_requests(server.app, notify)
            continue
        # What is left after the server's own shutdown (executor, threads) shares the
        # rest of the host's shutdown timeout, minus a margin for finalizing.
        stop_deadline.append(time.monotonic() + options.shutdown_timeout_s * 0.8)
        _retire(replaced, retiring, None)
        if retiring:
            await asyncio.gather(*retiring, return_exceptions=True)
        await server.stop()
        return command.value


def _forward_stop_requests(app: Any, notify: Notify) -> None:
    """The service's stop requests (POST /shutdown) go to the host, which stops the
    service the way it stops it on SIGTERM, and does not restart it."""
    service = getattr(getattr(app, "state", None), "service", None)
    if service is None or not hasattr(service, "on_stop_requested"):
        logger.warning("the app has no AgentService on app.state.service: POST /shutdown will not stop the host")
        return
    service.on_stop_requested = lambda reason: notify(Notice.STOP_REQUESTED.value, {"reason": reason})


def _retire(
    replaced: list[EmbeddedServer],
    retiring: set[asyncio.Task[None]],
    notify: Notify | None,
    collect: bool = False,
    app: Any = None,
) -> None:
    """Stop the replaced servers and collect what they leave, then warm the new service
    up (``warmup``), in the background; then say "retired" (the host counts a restart
    until then). A later stop waits for it."""
    old = list(replaced)
    replaced.clear()
    task = asyncio.get_running_loop().create_task(_stop_and_collect(old, notify, collect, app), name="cagent-retire-server")
    retiring.add(task)
    task.add_done_callback(retiring.discard)


async def _stop_and_collect(old: list[EmbeddedServer], notify: Notify | None, collect: bool = True, app: Any = None) -> None:
    """Stop replaced servers, then collect their apps and modules at once: left to the
    collector's thresholds, that full collection (~40 ms here) landed at a random later
    moment, often inside the next restart or a request. Nothing may still hold them:
    caches of functions are emptied (``clear_function_caches``), and the old service,
    frozen with everything else (``_loaded``), is unfrozen for this collection."""
    if old or collect:
        while old:
            # Popped, not iterated: a loop variable would keep the last one alive.
            await old.pop().stop()
        clear_function_caches()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
    if app is not None:
        await warm_up(app)
    if notify is not None:
        notify(Notice.RETIRED.value, {})


def _loaded() -> None:
    """The service is loaded and serving: resume the cyclic GC, without its objects.

    Loading it (FastAPI, pydantic, uvicorn, the service: ~100 000 tracked objects)
    triggers a collection every 700 allocations, and the older generations get scanned
    over and over as the heap grows: measured ~50 ms of a ~450 ms embedded start here.
    So the host loads it with the collector off, and what the load left alive lives as
    long as the service: ``gc.freeze`` moves it out of the collector's generations, so
    no later collection scans it either (CPython's advice for the same pattern before
    fork). The price: cyclic garbage made while loading is not reclaimed until the
    interpreter ends or a warm restart retires the service (``_stop_and_collect``).
    """
    gc.freeze()
    gc.enable()


async def _warm_restart(
    old: EmbeddedServer, options: ServerOptions, notify: Notify, service_generation: int, replaced: list[EmbeddedServer]
) -> EmbeddedServer:
    """Start the new server before stopping the old one: the socket is shared, so no request is refused.

    The new server serves as soon as it has started, so it is announced then. The old one
    keeps serving until the host, having seen the new one healthy, asks to "retire" it:
    stopping it right away put its shutdown on the loop just as the host's first probe
    of the new server arrived (measured: 5-15 ms of a ~50 ms warm restart).
    """
    gc.disable()  # loading again: see _loaded
    try:
        new = EmbeddedServer(import_app(options, fresh=True), options)
        await new.start()
        _loaded()
    except BaseException as error:  # noqa: BLE001 - a broken reload must not take the running service down
        if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)):
            raise
        logger.exception("warm restart failed; the previous service keeps serving")
        notify(Notice.WARM_RESTART_FAILED.value, {"error": f"{type(error).__name__}: {error}"})
        return old
    finally:
        gc.enable()
    notify(Notice.SERVING.value, {"service_generation": service_generation, "restart": "warm"})
    replaced.append(old)
    return new


def finalize_blockers() -> list[str]:
    """Non-daemon threads still alive: ``Py_FinalizeEx`` would wait for them forever."""
    return [t.name for t in generation.live_non_daemon_threads()]


def abandoned_threads() -> list[str]:
    """Daemon threads still alive: finalizing abandons them."""
    return generation.live_daemon_threads()


__all__ = ["Controller", "run", "finalize_blockers", "abandoned_threads"]
