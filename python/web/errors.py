"""Every error leaves as ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from service.errors import ServiceError
from validation import problems
from web.middleware import HttpMiddleware

log = logging.getLogger("cagent.http")

#: Codes for the HTTP errors Starlette raises itself (unknown route, wrong method).
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "body_too_large"}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers)


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


async def service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.code, exc.message, **exc.extra)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # loc/msg/type only: "input" and "ctx" may echo large or unserialisable values.
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    message = problems(errors)
    return error_response(422, "invalid_request", message or "invalid request", errors=errors)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def internal_error(request_id: str | None) -> JSONResponse:
    return error_response(500, "internal_error", "internal error", request_id=request_id)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback and re-raises to the server after this response.
    return internal_error(request_id_of(request))


class UnexpectedErrors(HttpMiddleware):
    """Answers an exception that escaped the app with the 500 error, from inside the
    middleware stack: Starlette's own handler answers from outside every middleware, so
    its 500 would lack the CORS headers an allowed origin needs to read it. The
    exception is re-raised; Starlette's handler, seeing the answer started, only passes
    it on to the server, which logs it."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            if not started:
                request_id = scope.get("state", {}).get("request_id")
                await internal_error(request_id)(scope, receive, send)
            raise


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
