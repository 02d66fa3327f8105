"""What importing the service loads: only what /health and a first execute need.

Each check runs in a fresh interpreter (a module imported by an earlier test would
hide the difference). The figures (service vs the framework alone) are measured by
bench/import_floor.py; docs/benchmarks-start.md has them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SERVICE_DIR = Path(__file__).resolve().parent.parent

#: Loaded on first use only: jsonschema by the first run of an agent whose schema needs
#: it, the MCP SDK (and its HTTP client) by the first tool listing or call, CORS by
#: CAGENT_ALLOWED_ORIGINS.
NOT_AT_START = [
    "jsonschema",
    "referencing",
    "rpds",
    "attrs",
    "mcp",
    "mcp_types",
    "httpx",
    "httpx2",
    "httpcore",
    "starlette.middleware.cors",
]

PROBE = """
import asyncio, json, sys
import main

async def call(method, path, body=b"", headers=()):
    messages = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 8765), "client": ("127.0.0.1", 1),
             "headers": [(b"host", b"127.0.0.1:8765"), *headers]}
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(message):
        messages.append(message)
    await main.app(scope, receive, send)
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])

def unbuilt():
    # Pydantic models not built yet (defer_build): their cost is not paid at start.
    from agents.chat import ChatInput
    from agents.tools import ToolsInput
    from tools.config_file import ServerConfig
    from tools.models import ToolResult
    return sorted(m.__name__ for m in (ChatInput, ToolsInput, ServerConfig, ToolResult) if not m.__pydantic_complete__)

async def probe():
    loaded = {"import": sorted(sys.modules), "unbuilt": unbuilt()}
    status, _ = await call("GET", "/health")
    assert status == 200, status
    loaded["health"] = sorted(sys.modules)
    auth = [(b"authorization", b"Bearer floor-test"), (b"content-type", b"application/json")]
    status, body = await call("POST", "/agent/execute", json.dumps({"agent_id": "echo", "input": {"a": 1}}).encode(), auth)
    assert status == 200 and json.loads(body)["result"] == {"a": 1}, (status, body)
    loaded["execute"] = sorted(sys.modules)
    loaded["unbuilt_after_execute"] = unbuilt()
    status, body = await call("POST", "/agent/execute", json.dumps({"agent_id": "tools", "input": {"calls": [{}]}}).encode(), auth)
    assert status == 422, (status, body)
    loaded["schema"] = sorted(sys.modules)
    print(json.dumps(loaded))

asyncio.run(probe())
"""


def loaded_modules() -> dict[str, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAGENT_")}
    env["CAGENT_TOKEN"] = "floor-test"
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=SERVICE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return {stage: set(names) for stage, names in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def present(modules: set[str], names: list[str]) -> list[str]:
    return [name for name in names if name in modules or any(m.startswith(name + ".") for m in modules)]


def test_import_health_and_a_first_execute_load_none_of_the_deferred_modules() -> None:
    loaded = loaded_modules()
    assert present(loaded["import"], NOT_AT_START) == []
    assert present(loaded["health"], NOT_AT_START) == []
    assert present(loaded["execute"], NOT_AT_START) == []
    # Nor are the models of the agents and tools not used yet built.
    assert loaded["unbuilt"] == {"ChatInput", "ServerConfig", "ToolResult", "ToolsInput"}
    assert loaded["unbuilt_after_execute"] == loaded["unbuilt"]
    # The first run of an agent whose input has a real schema loads the validator,
    # and refuses bad input with 422 as before.
    assert present(loaded["schema"], ["jsonschema"]) == ["jsonschema"]
