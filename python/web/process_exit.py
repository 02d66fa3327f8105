"""How the service stops the uvicorn server that runs it standalone (POST /shutdown)."""

from __future__ import annotations

import logging
import signal
from typing import Callable

log = logging.getLogger("cagent")


def uvicorn_stopper() -> Callable[[str], None] | None:
    """A stop for the uvicorn server running this process, or None when there is none.

    Run as ``uvicorn main:app`` (the subprocess backend's child) or through
    ``uvicorn.run``, uvicorn handles SIGINT and SIGTERM with its ``Server.handle_exit``
    while it serves, so the handler names the server. Setting its ``should_exit`` is what
    that handler does, minus the signal: uvicorn shuts down gracefully (the response to
    /shutdown is sent first) and the process exits with status 0, which is how the
    subprocess backend tells a requested stop from a crash. Raising SIGTERM instead would
    end it killed by SIGTERM (uvicorn raises a signal it caught again after shutdown).
    Nothing is found under a test client, or in the Swift host (which installs no Python
    signal handlers and sets its own hook).
    """
    import uvicorn

    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    if not isinstance(server, uvicorn.Server):
        return None

    def stop(reason: str) -> None:
        log.info("stopping the server (%s)", reason)
        server.should_exit = True

    return stop
