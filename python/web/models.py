"""Request and response bodies of the HTTP API, as documented in /openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.models import AgentInfo
from tools.models import ServerStatus, ToolInfo


class ExecuteRequest(BaseModel):
    # Unknown members are refused: a misspelt "timeout" should not be ignored silently.
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=200)
    input: dict[str, Any]
    context: dict[str, Any] | None = None
    timeout_s: float | None = Field(None, gt=0, description="Seconds; default from the service settings.")


class RunCreated(BaseModel):
    request_id: str


class Health(BaseModel):
    status: str = Field(description='"ok", or "shutting_down" after POST /shutdown.')
    version: str
    uptime_s: float
    agents: int = Field(description="Number of agents offered.")


class AgentList(BaseModel):
    agents: list[AgentInfo]


class ToolList(BaseModel):
    tools: list[ToolInfo] = Field(description="The tools of every server that answered.")
    servers: list[ServerStatus] = Field(
        description="Each configured MCP server: ok, or the error that kept its tools out of the list."
    )


class ShutdownResult(BaseModel):
    status: str = "ok"
    exiting: bool = Field(
        False,
        description=(
            "True when the process serving the service now stops and exits (uvicorn, or the "
            "cagent-sidecar host, which then does not restart it); false when nothing that runs "
            "the service can be stopped from it."
        ),
    )


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable machine-readable code, e.g. unknown_agent.")
    message: str
    request_id: str | None = Field(None, description="Set for errors of a run.")


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorDetail(ErrorDetail):
    errors: list[FieldError]


class ErrorBody(BaseModel):
    error: ErrorDetail


class ValidationErrorBody(BaseModel):
    error: ValidationErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error model of each status it can answer."""
    described = {
        400: "Host header not allowed, or bad Last-Event-ID",
        401: "Missing or wrong token",
        403: "Origin header present and not allowed",
        404: "Unknown agent or request id",
        413: "Body over the size limit",
        422: "Malformed JSON or a body that fails validation",
        500: "The agent raised or called sys.exit",
        503: "The service is shutting down",
        504: "The agent ran past its timeout",
    }
    return {
        status: {
            "model": ValidationErrorBody if status == 422 else ErrorBody,
            "description": described[status],
        }
        for status in statuses
    }
