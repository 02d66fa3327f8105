"""Every message between the Swift host and its Python half, by name.

The Swift side of the same set is Sources/EmbeddedHost/Embedded/HostMessages.swift; a
test (Tests/EmbeddedHostTests/HostMessagesTests.swift) checks that the two agree.

- ``Notice``: what the runner tells the host, ``notify(notice, payload)`` (a Swift
  callback, called on the interpreter thread with the GIL held).
- ``Command``: what the host asks of the running loop, ``Controller.request(command)``.
- ``Ask``: what the watchdog's signal handlers ask the host, ``ask(question)``.
"""

from __future__ import annotations

from enum import Enum


class Notice(str, Enum):
    #: payload: the ``Controller`` of the generation that is starting.
    CONTROLLER = "controller"
    #: payload: ``{"service_generation": int, "restart": "warm" | None}``.
    SERVING = "serving"
    #: payload: ``{"error": str}``; the previous service keeps serving.
    WARM_RESTART_FAILED = "warm_restart_failed"
    #: payload: ``{"reasons": [str]}``; done warm instead.
    COLD_RESTART_REFUSED = "cold_restart_refused"
    #: payload: ``{"command": Command}``: the loop has taken a command.
    COMMAND = "command"
    #: payload: ``{"reason": str}``: the service asked to be stopped (POST /shutdown).
    STOP_REQUESTED = "stop_requested"
    #: payload: ``{}``: what a restart replaced is stopped and collected, the new
    #: service warmed up.
    RETIRED = "retired"


class Command(str, Enum):
    STOP = "stop"
    WARM = "warm"
    COLD = "cold"
    #: Stop the servers a warm restart replaced (they serve until the new one is healthy).
    RETIRE = "retire"


class Ask(str, Enum):
    #: -> None (not armed) or the request id to interrupt ("" for any run).
    INTERRUPT = "interrupt"
    #: -> bool.
    ABORT = "abort"


def names() -> dict[str, list[str]]:
    """Every name of every message kind, for the test that compares both sides."""
    return {kind.__name__: [member.value for member in kind] for kind in (Notice, Command, Ask)}
