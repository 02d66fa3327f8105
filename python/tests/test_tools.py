"""Toolsets against real MCP servers over stdio: the SDK-written sample server in
tests/mcp_servers and the published mcp-server-time from PyPI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tools import ServerConfig, ToolError, Toolsets, ToolsetsFileError
from waiting import wait_until

SAMPLE = Path(__file__).parent / "mcp_servers" / "sample_server.py"

pytestmark = pytest.mark.asyncio


def sample(*args: str) -> ServerConfig:
    return ServerConfig(command=sys.executable, args=[str(SAMPLE), *args])


def time_server() -> ServerConfig:
    return ServerConfig(command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def server_pid(toolsets: Toolsets, tool: str = "pid") -> int:
    result = await toolsets.call(tool, {})
    assert not result.is_error, result
    return int(result.structured["result"])


@pytest_asyncio.fixture
async def toolsets() -> AsyncIterator[Toolsets]:
    toolsets = Toolsets({"sample": sample()}, timeout_s=10)
    yield toolsets
    await toolsets.aclose()


# Starting a server costs about a second (the SDK import): tests that leave the server
# as they found it share one.
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared() -> AsyncIterator[Toolsets]:
    toolsets = Toolsets({"sample": sample()}, timeout_s=10)
    yield toolsets
    await toolsets.aclose()


on_shared_loop = pytest.mark.asyncio(loop_scope="module")


# --- the toolsets file ---------------------------------------------------------------


async def test_from_file_reads_servers(tmp_path: Path) -> None:
    path = tmp_path / "toolsets.json"
    path.write_text(
        json.dumps(
            {
                "servers": {
                    "sample": {"command": sys.executable, "args": [str(SAMPLE)], "env": {"X": "1"}, "cwd": "work"},
                    "time": {"command": "mcp-server-time"},
                }
            }
        )
    )
    toolsets = Toolsets.from_file(path, timeout_s=5)
    assert toolsets.server_names == ["sample", "time"]
    assert toolsets.open_sessions == 0  # nothing starts before first use
    servers = toolsets._servers
    assert servers["sample"].config.env == {"X": "1"}
    assert servers["sample"].config.cwd == tmp_path / "work"  # relative to the file
    assert servers["time"].config.args == []
    # The Claude Desktop key is accepted as well.
    path.write_text(json.dumps({"mcpServers": {"t": {"command": "x"}}}))
    assert Toolsets.from_file(path, timeout_s=5).server_names == ["t"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"servers": {"a": {"args": []}}}', "servers.a.command: Field required"),
        ('{"servers": {"a": {"command": "x", "args": "y"}}}', "servers.a.args"),
        ('{"servers": {"a": {"command": "x", "env": {"K": 1}}}}', "servers.a.env.K"),
        ('{"servers": {"a": {"command": "x", "comand": "y"}}}', "servers.a.comand: Extra inputs"),
        ('{"servers": {"a b": {"command": "x"}}}', "servers.a b: server names"),
        ('{"server": {}}', "server: Extra inputs"),
    ],
)
async def test_from_file_errors_name_file_and_field(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "toolsets.json"
    path.write_text(content)
    with pytest.raises(ToolsetsFileError) as caught:
        Toolsets.from_file(path, timeout_s=5)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


async def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ToolsetsFileError, match="cannot read it"):
        Toolsets.from_file(tmp_path / "nope.json", timeout_s=5)


async def test_no_file_means_no_tools() -> None:
    toolsets = Toolsets.from_file(None, timeout_s=5)
    assert await toolsets.list_tools() == []
    result = await toolsets.call("add", {"a": 1, "b": 2})
    assert result.is_error and "unknown tool 'add'" in result.text()
    await toolsets.aclose()


# --- listing and calling ---------------------------------------------------------------


@on_shared_loop
async def test_lists_tools_with_schemas(shared: Toolsets) -> None:
    tools = {tool.name: tool for tool in await shared.list_tools()}
    assert set(tools) == {"add", "echo", "fail", "slow", "crash", "pid"}
    add = tools["add"]
    assert add.server == "sample"
    assert add.description == "Add two integers."
    assert add.input_schema["type"] == "object"
    assert add.input_schema["properties"]["a"]["type"] == "integer"
    assert sorted(add.input_schema["required"]) == ["a", "b"]


@on_shared_loop
async def test_calls_reuse_one_session(shared: Toolsets) -> None:
    result = await shared.call("add", {"a": 2, "b": 3})
    assert (result.tool, result.is_error, result.content) == ("add", False, [{"type": "text", "text": "5"}])
    assert result.structured == {"result": 5}
    echo = await shared.call("echo", {"text": "hi"})
    assert echo.text() == "hi"
    pids = {await server_pid(shared) for _ in range(5)}
    assert len(pids) == 1  # one process for every call
    assert shared.open_sessions == 1


@on_shared_loop
async def test_cancelled_call_leaves_the_session_usable(shared: Toolsets, tmp_path: Path) -> None:
    before = await server_pid(shared)
    began = tmp_path / "slow-began"
    call = asyncio.create_task(shared.call("slow", {"seconds": 30, "mark": str(began)}))
    await wait_until(began.exists, what="the server runs the slow call")
    call.cancel()  # what a cancelled run does to its tool call
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await server_pid(shared) == before
    assert shared.open_sessions == 1


@on_shared_loop
async def test_tool_errors_are_results(shared: Toolsets) -> None:
    failed = await shared.call("fail", {"reason": "no luck"})
    assert failed.is_error and "no luck" in failed.text()
    bad_arguments = await shared.call("add", {"a": "x"})
    assert bad_arguments.is_error and "validation error" in bad_arguments.text()
    unknown = await shared.call("subtract", {})
    assert unknown.is_error
    assert "unknown tool 'subtract'" in unknown.text() and "add" in unknown.text()
    # None of that hurt the session.
    assert (await shared.call("add", {"a": 1, "b": 1})).text() == "2"


async def test_call_times_out_and_session_survives() -> None:
    toolsets = Toolsets({"sample": sample()}, timeout_s=1.0)
    try:
        before = await server_pid(toolsets)  # started within the timeout
        result = await toolsets.call("slow", {"seconds": 30})
        assert result.is_error
        assert result.text() == "tool 'slow' timed out after 1 s"
        assert await server_pid(toolsets) == before
    finally:
        await toolsets.aclose()


async def test_crash_fails_the_call_and_restarts_on_next_use(toolsets: Toolsets) -> None:
    first = await server_pid(toolsets)
    result = await toolsets.call("crash", {})
    assert result.is_error
    text = result.text()
    assert "MCP server 'sample' exited or closed the connection during the call to 'crash'" in text
    assert "restarted on next use" in text
    await wait_until(lambda: not alive(first), what="the crashed server is gone")
    second = await server_pid(toolsets)
    assert second != first
    assert (await toolsets.call("add", {"a": 20, "b": 22})).text() == "42"
    await wait_until(lambda: toolsets.open_sessions == 1, what="one session is open")

    # A server killed while idle: the death may or may not be noticed before the next
    # call goes out; at the latest the call after that runs on a new server.
    os.kill(second, signal.SIGKILL)
    await wait_until(lambda: not alive(second), what="the killed server is gone")
    results = [await toolsets.call("pid", {}) for _ in range(2)]
    assert not results[-1].is_error
    assert int(results[-1].structured["result"]) not in (first, second)


async def test_concurrent_calls_share_one_start(toolsets: Toolsets) -> None:
    calls = [toolsets.call("add", {"a": n, "b": n}) for n in range(20)]
    calls += [toolsets.call("slow", {"seconds": 0.2}) for _ in range(5)]
    calls += [toolsets.call("pid", {}) for _ in range(5)]
    results = await asyncio.gather(*calls)
    assert [r.text() for r in results[:20]] == [str(2 * n) for n in range(20)]
    assert all(r.text() == "slept 0.2" for r in results[20:25])
    assert len({r.text() for r in results[25:]}) == 1  # one server process
    assert toolsets.open_sessions == 1


async def test_same_tool_name_is_qualified_and_aclose_stops_servers(tmp_path: Path) -> None:
    toolsets = Toolsets({"left": sample("--prefix", "L:"), "right": sample("--prefix", "R:")}, timeout_s=10)
    names = {tool.name: tool.server for tool in await toolsets.list_tools()}
    assert toolsets.open_sessions == 2
    # Both servers offer every tool: each name is qualified with its server.
    assert names["left__echo"] == "left" and names["right__echo"] == "right"
    assert "echo" not in names
    assert (await toolsets.call("left__echo", {"text": "x"})).text() == "L:x"
    assert (await toolsets.call("right__echo", {"text": "x"})).text() == "R:x"
    pids = [await server_pid(toolsets, "left__pid"), await server_pid(toolsets, "right__pid")]

    # A call in flight at close time ends with an error result, not a hang.
    began = tmp_path / "slow-began"
    in_flight = asyncio.create_task(toolsets.call("left__slow", {"seconds": 30, "mark": str(began)}))
    await wait_until(began.exists, what="the left server runs the slow call")
    await toolsets.aclose()
    assert toolsets.open_sessions == 0
    assert not any(alive(pid) for pid in pids)
    interrupted = await asyncio.wait_for(in_flight, 5)
    assert interrupted.is_error and "shutting down" in interrupted.text()
    with pytest.raises(ToolError, match="shut down"):
        await toolsets.call("left__add", {"a": 1, "b": 2})
    with pytest.raises(ToolError, match="shut down"):
        await toolsets.list_tools()
    await toolsets.aclose()  # idempotent


async def test_server_that_cannot_start() -> None:
    toolsets = Toolsets(
        {
            "missing": ServerConfig(command="/nonexistent/mcp-server"),
            "dies": ServerConfig(command=sys.executable, args=["-c", "import sys; sys.exit('boom: no config')"]),
        },
        timeout_s=10,
    )
    try:
        with pytest.raises(ToolError) as caught:
            await toolsets.list_tools()
        assert "MCP server 'missing' failed to start (/nonexistent/mcp-server)" in str(caught.value)
        result = await toolsets.call("anything", {})
        assert result.is_error and "failed to start" in result.text()
        dies = toolsets._servers["dies"]
        with pytest.raises(ToolError) as caught:
            await dies.session()
        assert "MCP server 'dies' failed to start" in str(caught.value)
        assert "boom: no config" in str(caught.value)  # its stderr explains why
        await wait_until(lambda: toolsets.open_sessions == 0, what="no session is open")
    finally:
        await toolsets.aclose()


# --- a published server from PyPI ----------------------------------------------------------


async def test_published_time_server() -> None:
    toolsets = Toolsets({"time": time_server()}, timeout_s=10)
    try:
        tools = {tool.name: tool for tool in await toolsets.list_tools()}
        assert {"get_current_time", "convert_time"} <= set(tools)
        assert "timezone" in tools["get_current_time"].input_schema["required"]
        now = await toolsets.call("get_current_time", {"timezone": "Europe/Paris"})
        assert not now.is_error
        assert now.structured["timezone"] == "Europe/Paris"
        converted = await toolsets.call(
            "convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
        )
        assert not converted.is_error
        assert converted.structured["target"]["datetime"].endswith("+09:00")
        bad = await toolsets.call("get_current_time", {"timezone": "Mars/Olympus_Mons"})
        assert bad.is_error and "Mars/Olympus_Mons" in bad.text()
    finally:
        await toolsets.aclose()
    assert toolsets.open_sessions == 0


async def test_server_that_never_answers_times_out_at_start() -> None:
    hang = ServerConfig(command=sys.executable, args=["-c", "import sys; sys.stdin.read()"])  # reads, never answers
    toolsets = Toolsets({"hang": hang}, timeout_s=10, start_timeout_s=0.5)
    try:
        with pytest.raises(ToolError, match="MCP server 'hang' failed to start .*no answer to initialize within 0.5 s"):
            await toolsets.list_tools()
        await wait_until(lambda: toolsets.open_sessions == 0, what="no session is open")
    finally:
        await toolsets.aclose()
