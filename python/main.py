"""The agent service's ASGI app.

Standalone: ``cd python && ../.venv/bin/python -m uvicorn main:app``. The Swift host
imports this module too and calls ``app.state.service`` (an AgentService) in-process.
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, AsyncIterator

from fastapi import FastAPI

from agents.registry import load_agents
from config import Settings
from logs import configure_logging
from service import VERSION, AgentService
from web import errors, routes
from web.limits import BodyLimit
from web.origin import OriginCheck
from web.process_exit import uvicorn_stopper
from web.requestlog import HEADER as REQUEST_ID_HEADER
from web.requestlog import RequestLog
from web.security import HostCheck, TokenCheck

if TYPE_CHECKING:
    from tools import Toolsets

log = logging.getLogger("cagent")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    service: AgentService = app.state.service
    if service.on_stop_requested is None:
        # Standalone under uvicorn: POST /shutdown stops the server and the process.
        service.on_stop_requested = uvicorn_stopper()
    yield
    # The server is stopping (Ctrl-C, or the host stops it): release what we hold.
    await app.state.service.shutdown()


def create_app(settings: Settings | None = None, *, toolsets: "Toolsets | None" = None) -> FastAPI:
    """The app with its AgentService on ``app.state.service``.

    Raises AgentLoadError naming the file when an agent module does not import.
    """
    settings = settings or Settings.from_env()
    configure_logging(settings)
    if settings.token is None:
        settings = settings.model_copy(update={"token": secrets.token_urlsafe(32)})
        log.warning("CAGENT_TOKEN is not set; token for this launch: %s", settings.token)
    assert settings.token is not None
    agents = load_agents(settings.agents_dir)
    if toolsets is None:
        from tools import Toolsets

        toolsets = Toolsets.from_file(settings.mcp_toolsets_file, settings.tool_timeout_s)

    app = FastAPI(
        title="cagent agent service",
        version=VERSION,
        lifespan=lifespan,
        # /docs takes the token once as ?token= and sets a cookie that its page's GET of
        # /openapi.json then sends (web.security.TokenCheck; docs/security.md).
        docs_url="/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.service = AgentService(settings, agents, toolsets)
    app.state.started = time.monotonic()
    errors.install(app)
    app.include_router(routes.public)
    app.include_router(routes.router)

    # add_middleware wraps what is there: the last added runs first. Order of a request:
    # RequestLog -> OriginCheck -> CORS -> UnexpectedErrors -> HostCheck -> TokenCheck ->
    # BodyLimit -> routes. Inside CORS, every error an allowed origin gets (host, token,
    # size, a run's, an unexpected 500) carries the CORS headers: its page can read why.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TokenCheck, token=settings.token)
    app.add_middleware(HostCheck, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(errors.UnexpectedErrors)
    if settings.allowed_origins:
        # Imported only when configured: most launches serve no browser origin.
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            # Credentials are never allowed (the docs cookie is for this service's own
            # page, and SameSite=Strict), so "*" is safe.
            allow_credentials=False,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(OriginCheck, allowed_origins=settings.allowed_origins)
    app.add_middleware(RequestLog)
    return app


app = create_app()


if __name__ == "__main__":
    # `python main.py`: host and port from the settings (uvicorn's CLI uses its own flags).
    import uvicorn

    uvicorn.run(app, host=app.state.settings.host, port=app.state.settings.port, log_level=app.state.settings.log_level)
