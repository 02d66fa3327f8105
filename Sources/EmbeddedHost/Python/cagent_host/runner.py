"""Entry point the Swift host calls on its interpreter thread.

``run`` blocks that thread in the service's event loop until the host asks it to
stop or to restart cold, and returns which. The host talks to the running loop only
through the ``Controller`` it receives with the first notification.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from . import generation
from .server import EmbeddedServer, ServerOptions, import_app

logger = logging.getLogger("cagent.host")

#: ``notify(kind, payload)``: a Swift callback. Kinds: "controller" (payload: the
#: Controller), "serving" ({"generation", "restart"}), "warm_restart_failed" ({"error"}),
#: "cold_restart_refused" ({"reasons"}).
Notify = Callable[[str, Any], None]


class Controller:
    """The host's handle on the running service; every method is thread-safe."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._commands: asyncio.Queue[str] = asyncio.Queue()

    def request(self, command: str) -> None:
        """Ask for "stop", "warm" or "cold"; returns at once."""
        if command not in ("stop", "warm", "cold"):
            raise ValueError(f"unknown command {command!r}")
        self._loop.call_soon_threadsafe(self._commands.put_nowait, command)

    async def next_command(self) -> str:
        return await self._commands.get()


def run(options_json: str, notify: Notify) -> str:
    """Serve until asked to stop; returns "stop" or "cold"."""
    raw = json.loads(options_json)
    options = ServerOptions(**raw["server"])
    if raw.get("copies_dir"):
        generation.install(raw["copies_dir"])
    if options.service_dir not in sys.path:
        sys.path.insert(0, options.service_dir)
    loop_factory = _loop_factory(options.loop)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_serve(options, notify, raw.get("generation", 1), raw.get("extra_unsafe", [])))


def _loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    import uvicorn

    return uvicorn.Config(app=None, loop=loop).get_loop_factory()  # type: ignore[arg-type]


async def _serve(options: ServerOptions, notify: Notify, generation_number: int, extra_unsafe: list[str]) -> str:
    controller = Controller(asyncio.get_running_loop())
    notify("controller", controller)
    server = EmbeddedServer(import_app(options, fresh=False), options)
    await server.start()
    notify("serving", {"generation": generation_number, "restart": None})
    while True:
        command = await controller.next_command()
        if command == "cold":
            reasons = generation.cold_restart_blockers(extra_unsafe)
            if reasons:
                notify("cold_restart_refused", {"reasons": reasons})
                command = "warm"
        if command == "warm":
            server = await _warm_restart(server, options, notify, generation_number)
            continue
        await server.stop()
        await _wait_for_threads(options.shutdown_timeout_s)
        return command


async def _warm_restart(old: EmbeddedServer, options: ServerOptions, notify: Notify, generation_number: int) -> EmbeddedServer:
    """Start the new server before stopping the old one: the socket is shared, so no request is refused."""
    try:
        new = EmbeddedServer(import_app(options, fresh=True), options)
        await new.start()
    except BaseException as error:  # noqa: BLE001 - a broken reload must not take the running service down
        if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)):
            raise
        logger.exception("warm restart failed; the previous service keeps serving")
        notify("warm_restart_failed", {"error": f"{type(error).__name__}: {error}"})
        return old
    await old.stop()
    notify("serving", {"generation": generation_number, "restart": "warm"})
    return new


async def _wait_for_threads(timeout_s: float) -> None:
    """Give non-daemon threads the shutdown timeout to end; the host will not finalize past them."""
    deadline = time.monotonic() + timeout_s
    while generation.live_non_daemon_threads() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def finalize_blockers() -> list[str]:
    """Non-daemon threads still alive: ``Py_FinalizeEx`` would wait for them forever."""
    return [t.name for t in generation.live_non_daemon_threads()]


__all__ = ["Controller", "run", "finalize_blockers"]
