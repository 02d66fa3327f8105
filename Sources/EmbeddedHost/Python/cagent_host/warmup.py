"""One request through a freshly loaded service before a restart counts as done.

Measured after a warm or cold restart: the first ``POST /agent/execute`` took 8-25 ms
against ~0.6 ms at steady state, because everything a service builds on first use (its
routes' dependency plans, pydantic validators and serializers, the agents' schemas, the
run machinery) is built by that request. The host's own ``/health`` probe reaches none
of it. So once the new service serves, and before the host announces it healthy, the
runner sends it one request of its own: an ASGI call, no socket, with the service's
token, running the ``echo`` agent when the service has one.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

logger = logging.getLogger("cagent.host")

#: Marks the request in the service's own request log, which leaves it out.
HEADER = b"x-cagent-warm-up"


async def warm_up(app: Any) -> None:
    """Send ``app`` one execute request; failures are logged, never raised."""
    body = json.dumps({"agent_id": "echo", "input": {"warm_up": True}}).encode()
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (HEADER, b"1"),
    ]
    token = os.environ.get("CAGENT_TOKEN")
    if token:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/agent/execute",
        "raw_path": b"/agent/execute",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
    }
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    try:
        await app(scope, receive, send)
    except Exception:  # noqa: BLE001 - a warm-up must never take the service down
        logger.exception("warm-up request failed")
        return
    if status and status[0] >= 500:
        logger.warning("warm-up request answered %s", status[0])
