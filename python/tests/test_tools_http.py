"""GET /tools against real stdio MCP servers: the sample server, the published
mcp-server-time, and one that cannot start."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from main import create_app
from service_support import AUTH, asgi_client, make_app, make_settings, wait_until
from tools import ServerConfig, Toolsets

SAMPLE = Path(__file__).parent / "mcp_servers" / "sample_server.py"
BROKEN = ServerConfig(command=sys.executable, args=["-c", "import sys; sys.exit('boom: no config')"])


def servers() -> dict[str, ServerConfig]:
    return {
        "sample": ServerConfig(command=sys.executable, args=[str(SAMPLE)]),
        "time": ServerConfig(command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"]),
        "broken": BROKEN,
    }


async def test_lists_the_tools_of_the_servers_that_start_and_reports_the_one_that_does_not() -> None:
    toolsets = Toolsets(servers(), timeout_s=20)
    app = create_app(make_settings(), toolsets=toolsets)
    try:
        async with asgi_client(app, headers=AUTH) as client:
            assert toolsets.open_sessions == 0  # nothing is started before the first listing
            response = await client.get("/tools")
            assert response.status_code == 200, response.text
            body = response.json()
            tools = {tool["name"]: tool for tool in body["tools"]}
            assert set(tools) == {"add", "echo", "fail", "slow", "crash", "pid", "get_current_time", "convert_time"}
            assert tools["add"]["server"] == "sample"
            assert tools["add"]["description"] == "Add two integers."
            assert sorted(tools["add"]["input_schema"]["required"]) == ["a", "b"]
            assert tools["get_current_time"]["server"] == "time"
            assert "timezone" in tools["get_current_time"]["input_schema"]["required"]

            statuses = {server["name"]: server for server in body["servers"]}
            assert statuses["sample"] == {"name": "sample", "ok": True, "error": None}
            assert statuses["time"] == {"name": "time", "ok": True, "error": None}
            assert statuses["broken"]["ok"] is False
            assert "MCP server 'broken' failed to start" in statuses["broken"]["error"]
            assert "boom: no config" in statuses["broken"]["error"]  # its stderr says why
            await wait_until(lambda: toolsets.open_sessions == 2)

            # The broken server does not keep agents from the tools of the others.
            run = await client.post(
                "/agent/execute",
                json={"agent_id": "tools", "input": {"calls": [{"tool": "get_current_time", "arguments": {"timezone": "UTC"}}]}},
            )
            assert run.status_code == 200, run.text
            [result] = run.json()["result"]["results"]
            assert result["is_error"] is False and result["structured"]["timezone"] == "UTC"

            # A later listing reuses the running servers and tries the broken one again.
            again = await client.get("/tools")
            assert again.status_code == 200
            assert [s["ok"] for s in again.json()["servers"]] == [True, True, False]
            assert toolsets.open_sessions == 2
    finally:
        await app.state.service.shutdown()
    assert toolsets.open_sessions == 0


async def test_a_tool_of_a_broken_server_names_the_failure() -> None:
    toolsets = Toolsets({"broken": BROKEN}, timeout_s=20)
    app = create_app(make_settings(), toolsets=toolsets)
    try:
        async with asgi_client(app, headers=AUTH) as client:
            run = await client.post(
                "/agent/execute", json={"agent_id": "tools", "input": {"calls": [{"tool": "add", "arguments": {}}]}}
            )
        [result] = run.json()["result"]["results"]
        assert result["is_error"] is True
        text = result["content"][0]["text"]
        assert "cannot look up tool 'add'" in text and "boom: no config" in text
    finally:
        await app.state.service.shutdown()


async def test_no_toolsets_file_means_no_tools_and_no_servers() -> None:
    app = make_app()
    async with asgi_client(app, headers=AUTH) as client:
        response = await client.get("/tools")
    assert response.status_code == 200
    assert response.json() == {"tools": [], "servers": []}


async def test_needs_the_token_and_ends_with_the_service() -> None:
    toolsets = Toolsets({"broken": BROKEN}, timeout_s=20)
    app = create_app(make_settings(), toolsets=toolsets)
    async with asgi_client(app) as client:
        assert (await client.get("/tools")).status_code == 401
        await app.state.service.shutdown()
        response = await client.get("/tools", headers=AUTH)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "shutting_down"
    assert toolsets.open_sessions == 0  # the refused listing started nothing


async def test_documented_in_openapi() -> None:
    async with asgi_client(make_app(), headers=AUTH) as client:
        schema = (await client.get("/openapi.json")).json()
    get = schema["paths"]["/tools"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ToolList"}
    assert set(get["responses"]) >= {"200", "401", "503"}
    components = schema["components"]["schemas"]
    assert set(components["ToolList"]["properties"]) == {"tools", "servers"}
    assert set(components["ServerStatus"]["properties"]) == {"name", "ok", "error"}
    assert set(components["ToolInfo"]["properties"]) == {"name", "description", "input_schema", "server"}
