"""The tools agent against the SDK sample MCP server."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agents.base import AgentRuntime
from agents.tools import ToolsAgent, ToolsInputError
from config import Settings
from tools import ServerConfig, Toolsets

SAMPLE = Path(__file__).parent / "mcp_servers" / "sample_server.py"

# One server for the module: starting one costs about a second.
pytestmark = pytest.mark.asyncio(loop_scope="module")


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, event_type: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, data))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def agent() -> AsyncIterator[ToolsAgent]:
    toolsets = Toolsets({"sample": ServerConfig(command=sys.executable, args=[str(SAMPLE)])}, timeout_s=10)
    yield ToolsAgent(AgentRuntime(settings=Settings(), tools=toolsets))
    await toolsets.aclose()
    assert toolsets.open_sessions == 0


async def test_runs_calls_in_order_with_events(agent: ToolsAgent) -> None:
    emit = Recorder()
    result = await agent.run(
        {
            "calls": [
                {"tool": "add", "arguments": {"a": 2, "b": 40}},
                {"tool": "fail", "arguments": {"reason": "on purpose"}},
                {"tool": "echo", "arguments": {"text": "still here"}},
            ]
        },
        {},
        emit,
    )
    assert [kind for kind, _ in emit.events] == ["tool_call", "tool_result"] * 3
    assert emit.events[0] == ("tool_call", {"tool": "add", "arguments": {"a": 2, "b": 40}})
    assert emit.events[1] == ("tool_result", {"tool": "add", "content": [{"type": "text", "text": "42"}], "is_error": False})
    assert emit.events[3][1]["is_error"] is True
    assert "on purpose" in emit.events[3][1]["content"][0]["text"]
    results = result["results"]
    assert [(r["tool"], r["is_error"]) for r in results] == [("add", False), ("fail", True), ("echo", False)]
    assert results[0]["structured"] == {"result": 42}
    assert results[2]["content"] == [{"type": "text", "text": "still here"}]


async def test_stop_on_error(agent: ToolsAgent) -> None:
    emit = Recorder()
    calls = [{"tool": "nope"}, {"tool": "add", "arguments": {"a": 1, "b": 1}}]
    result = await agent.run({"calls": calls, "stop_on_error": True}, {}, emit)
    assert len(result["results"]) == 1
    assert result["results"][0]["is_error"] and "unknown tool 'nope'" in result["results"][0]["content"][0]["text"]
    assert [kind for kind, _ in emit.events] == ["tool_call", "tool_result"]


async def test_empty_calls(agent: ToolsAgent) -> None:
    assert await agent.run({"calls": []}, {}, Recorder()) == {"results": []}


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({}, "calls: Field required"),
        ({"calls": [{"arguments": {}}]}, "calls.0.tool: Field required"),
        ({"calls": [{"tool": "add", "arguments": [1]}]}, "calls.0.arguments"),
        ({"calls": [], "extra": 1}, "extra: Extra inputs"),
    ],
)
async def test_invalid_input(agent: ToolsAgent, bad: dict[str, Any], expected: str) -> None:
    with pytest.raises(ToolsInputError, match="invalid input for the tools agent") as caught:
        await agent.run(bad, {}, Recorder())
    assert expected in str(caught.value)


async def test_metadata() -> None:
    assert ToolsAgent.id == "tools"
    schema = ToolsAgent.input_schema
    assert schema["required"] == ["calls"]
    assert "calls" in schema["properties"]
