"""Every message between the Swift host and its Python half, by name.

The Swift side of the same set is Sources/EmbeddedHost/Embedded/HostMessages.swift; a
test (Tests/EmbeddedHostTests/HostMessagesTests.swift) checks that the two agree.

- ``Notice``: what the runner tells the host, ``notify(notice, payload)`` (a Swift
  callback, called on the interpreter thread with the GIL held).
- ``Command``: what the host asks of the running loop, ``Controller.request(command)``.
- ``Ask``: what the watchdog's signal handlers ask the host, ``ask(question)``.
- ``DirectRequest``: one item of the host's direct-call inbox, which ``cagent_host.direct``
  takes (its ``kind`` a ``DirectRequestKind``); ``DirectDelivery``: what it reports back
  for a call, ``deliver(call_id, delivery, payload)``.
"""

# No ``from __future__ import annotations``: TypedDict reads ``NotRequired`` at runtime.
from enum import Enum
from typing import Any, NotRequired, TypedDict


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


class DirectRequestKind(str, Enum):
    #: Run to the end; one ``result`` or ``error`` delivery.
    EXECUTE = "execute"
    #: Every event of a new run, the last one terminal.
    STREAM = "stream"
    #: Cancel the call ``call_id`` (its ``done`` delivery follows).
    CANCEL = "cancel"


class DirectRequest(TypedDict):
    """One item of the host's direct-call inbox (a dict: no model to build per call)."""

    kind: DirectRequestKind
    call_id: int
    #: The fields below come with ``execute`` and ``stream`` only.
    agent_id: NotRequired[str]
    input: NotRequired[dict[str, Any]]
    context: NotRequired[dict[str, Any] | None]
    timeout_s: NotRequired[float | None]


class DirectDelivery(str, Enum):
    #: payload: execute's ``{result, execution_time, agent_id}``.
    RESULT = "result"
    #: payload: ``{id, type, data}``, one of stream's events (the last one terminal).
    EVENT = "event"
    #: payload: ``{code, message, status, ...}``: the call could not run, or failed.
    ERROR = "error"
    #: payload: ``{"cancelled": bool}``; last, always (also when the loop closes under
    #: a pending call).
    DONE = "done"


def names() -> dict[str, list[str]]:
    """Every name of every message kind, and the fields of the inbox's items, for the
    test that compares both sides."""
    kinds: dict[str, list[str]] = {
        kind.__name__: [member.value for member in kind]
        for kind in (Notice, Command, Ask, DirectRequestKind, DirectDelivery)
    }
    kinds["DirectRequest"] = list(DirectRequest.__annotations__)
    return kinds
