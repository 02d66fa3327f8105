"""Service errors: each has a stable ``code`` and the HTTP status it maps to.

The Swift host catches these in-process; the HTTP layer turns them into
``{"error": {"code", "message", ...}}`` bodies.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    code: ClassVar[str] = "service_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        #: Additional members of the error body, e.g. ``request_id``.
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class UnknownAgent(ServiceError):
    code = "unknown_agent"
    status = 404


class UnknownRun(ServiceError):
    code = "unknown_run"
    status = 404


class InvalidLastEventId(ServiceError):
    code = "invalid_last_event_id"
    status = 400


class AgentFailed(ServiceError):
    code = "agent_failed"
    status = 500


class RunTimeout(ServiceError):
    code = "timeout"
    status = 504


class RunCancelled(ServiceError):
    code = "cancelled"
    status = 500


class ShuttingDown(ServiceError):
    code = "shutting_down"
    status = 503


#: Error event code -> exception, to raise what a run's ``error`` event reports.
BY_CODE: dict[str, type[ServiceError]] = {
    cls.code: cls for cls in (AgentFailed, RunTimeout, RunCancelled, ShuttingDown)
}


class InvalidRequest(ServiceError):
    code = "invalid_request"
    status = 422
