"""The HTTP endpoints; each delegates to the AgentService on ``app.state.service``."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, Security
from fastapi.security import HTTPBearer
from sse_starlette import EventSourceResponse

from service import VERSION, AgentService, ExecuteResult
from web.errors import request_id_of
from web.models import AgentList, ExecuteRequest, Health, RunCreated, ShutdownResult, ToolList, error_responses
from web.sse import event_stream

# Documents the bearer token in /openapi.json; TokenCheck middleware enforces it.
bearer = HTTPBearer(auto_error=False, description="The per-launch token (CAGENT_TOKEN).")

public = APIRouter()
router = APIRouter(dependencies=[Security(bearer)], responses=error_responses(400, 401, 403))


async def get_service(request: Request) -> AgentService:
    # async: FastAPI runs a plain `def` dependency in its thread pool, on every request.
    return request.app.state.service


Service = Annotated[AgentService, Depends(get_service)]


@public.get("/health", response_model=Health, responses=error_responses(400, 403))
async def health(request: Request, service: Service) -> Health:
    return Health(
        status="shutting_down" if service.closing else "ok",
        version=VERSION,
        uptime_s=round(time.monotonic() - request.app.state.started, 3),
        agents=service.agent_count,
    )


@router.get("/agents", response_model=AgentList)
async def list_agents(service: Service) -> AgentList:
    return AgentList(agents=service.agents)


@router.get("/tools", response_model=ToolList, responses=error_responses(503))
async def list_tools(service: Service) -> ToolList:
    """The MCP tools agents can call, starting the servers on the first listing. A server
    that fails to start is reported in ``servers`` (with why), not as an error."""
    listing = await service.tools()
    return ToolList(tools=listing.tools, servers=listing.servers)


@router.post(
    "/agent/execute",
    response_model=ExecuteResult,
    responses=error_responses(404, 413, 422, 500, 503, 504),
)
async def execute(body: ExecuteRequest, request: Request, service: Service) -> ExecuteResult:
    """Run an agent to its end and answer with its result."""
    return await service.execute(
        body.agent_id, body.input, body.context, body.timeout_s, request_id=request_id_of(request)
    )


@router.post(
    "/agent/runs",
    status_code=202,
    response_model=RunCreated,
    responses=error_responses(404, 413, 422, 503),
)
async def start_run(body: ExecuteRequest, request: Request, service: Service) -> RunCreated:
    """Start a run now; read its events from GET /agent/stream/{request_id}."""
    request_id = service.start_run(
        body.agent_id, body.input, body.context, body.timeout_s, request_id=request_id_of(request)
    )
    return RunCreated(request_id=request_id)


@router.get(
    "/agent/stream/{request_id}",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": (
                "Server-Sent Events: thinking, tool_call, tool_result, then exactly one of "
                "result / error; keepalive while idle. Each event but keepalive has an id; "
                "data is a JSON object."
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        204: {
            "description": (
                "A reconnect (Last-Event-ID) to a run that has ended, whose terminal event the "
                "client already has: nothing more will come, and an EventSource stops reconnecting."
            ),
        },
        **error_responses(404),
    },
)
async def stream(
    request_id: str,
    service: Service,
    last_event_id: Annotated[str | None, Header(description="Resume after this event id.")] = None,
    token: Annotated[str | None, Query(description="The token, for EventSource clients.")] = None,
) -> EventSourceResponse:
    """Every event of the run from its start (or after Last-Event-ID) to its end.

    The stream starts with ``retry:`` (CAGENT_SSE_RETRY_MS). A browser's EventSource
    reconnects with Last-Event-ID whenever a stream ends, even after the run's last
    event; that reconnect is answered 204, which stops it for good.
    """
    if service.delivered(request_id, last_event_id):
        return Response(status_code=204)
    subscription = service.subscribe(request_id, last_event_id)
    return event_stream(
        subscription,
        service.settings.keepalive_interval_s,
        service.settings.sse_retry_ms,
        service.settings.stream_send_timeout_s,
    )


@router.post("/shutdown", response_model=ShutdownResult)
async def shutdown(service: Service) -> ShutdownResult:
    """Stop accepting runs, end running ones with shutting_down, close MCP sessions, then
    release the rest and exit: the server stops once this answer is sent (the host does not
    restart it)."""
    await service.shutdown()
    return ShutdownResult(exiting=service.request_stop("POST /shutdown"))
