"""The agent service core, independent of any web framework."""

from service.core import AgentService
from service.errors import (
    AgentFailed,
    InvalidLastEventId,
    InvalidRequest,
    RunCancelled,
    RunTimeout,
    ServiceError,
    ShuttingDown,
    UnknownAgent,
    UnknownRun,
)
from service.models import AgentInfo, ExecuteResult, RunEvent
from service.runs import Subscription

VERSION = "0.1.0"

__all__ = [
    "VERSION",
    "AgentFailed",
    "AgentInfo",
    "AgentService",
    "ExecuteResult",
    "InvalidLastEventId",
    "InvalidRequest",
    "RunCancelled",
    "RunEvent",
    "RunTimeout",
    "ServiceError",
    "ShuttingDown",
    "Subscription",
    "UnknownAgent",
    "UnknownRun",
]
