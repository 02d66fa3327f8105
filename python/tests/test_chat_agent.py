"""The chat agent against a scripted Chat Completions server (tests/fake_llm.py) and, for
the tool round, the SDK sample MCP server."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agents.base import AgentRuntime
from agents.chat import ChatAgent, ChatError, ChatInputError
from config import Settings
from fake_llm import FakeLLM, HttpError, Stream, chunk, event, text_reply
from tools import ServerConfig, Toolsets

SAMPLE = Path(__file__).parent / "mcp_servers" / "sample_server.py"

pytestmark = pytest.mark.asyncio


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, event_type: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, data))


@pytest_asyncio.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def make_agent(base_url: str | None, toolsets: Toolsets | None = None, **settings: Any) -> ChatAgent:
    runtime = AgentRuntime(
        settings=Settings(llm_base_url=base_url, llm_model="fake-model", **settings),
        tools=toolsets or Toolsets({}),
    )
    return ChatAgent(runtime)


def tool_call_reply() -> Stream:
    """Some text, then two tool calls whose ids, names and arguments arrive in fragments,
    interleaved, with one SSE line split across two TCP writes."""
    first_args = event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 2,'}}]}))
    return Stream(
        [
            event(chunk({"role": "assistant", "content": "Let me"})),
            event(chunk({"content": " check."})),
            event(
                chunk(
                    {
                        "tool_calls": [
                            {"index": 0, "id": "call_add", "type": "function", "function": {"name": "add", "arguments": ""}}
                        ]
                    }
                )
            ),
            first_args[:25],
            first_args[25:],
            event(
                chunk(
                    {
                        "tool_calls": [
                            {"index": 1, "id": "call_echo", "type": "function", "function": {"name": "ec", "arguments": ""}}
                        ]
                    }
                )
            ),
            event(chunk({"tool_calls": [{"index": 1, "function": {"name": "ho", "arguments": '{"text"'}}]})),
            event(chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "b": 3}'}}]})),
            event(chunk({"tool_calls": [{"index": 1, "function": {"arguments": ': "hi"}'}}]})),
            b": keep-alive comment\n\n",
            event(chunk({}, "tool_calls")),
            event("[DONE]"),
        ]
    )


async def test_tool_round_then_answer(llm: FakeLLM) -> None:
    toolsets = Toolsets({"sample": ServerConfig(command=sys.executable, args=[str(SAMPLE)])}, timeout_s=10)
    llm.script = [tool_call_reply(), text_reply("The sum", " is 5.")]
    agent = make_agent(llm.base_url, toolsets, llm_api_key="secret")
    emit = Recorder()
    try:
        result = await agent.run({"message": "What is 2 + 3?"}, {}, emit)
        listed = {tool.name: tool for tool in await toolsets.list_tools()}
    finally:
        await toolsets.aclose()

    assert emit.events == [
        ("thinking", {"delta": "Let me"}),
        ("thinking", {"delta": " check."}),
        ("tool_call", {"tool": "add", "arguments": {"a": 2, "b": 3}, "id": "call_add"}),
        ("tool_result", {"tool": "add", "content": [{"type": "text", "text": "5"}], "is_error": False, "id": "call_add"}),
        ("tool_call", {"tool": "echo", "arguments": {"text": "hi"}, "id": "call_echo"}),
        ("tool_result", {"tool": "echo", "content": [{"type": "text", "text": "hi"}], "is_error": False, "id": "call_echo"}),
        ("thinking", {"delta": "The sum"}),
        ("thinking", {"delta": " is 5."}),
    ]
    assert result["answer"] == "The sum is 5."
    assert result["steps"] == 2

    first, second = (request.body for request in llm.requests)
    request = llm.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer secret"
    assert first["model"] == "fake-model" and first["stream"] is True
    assert first["messages"] == [{"role": "user", "content": "What is 2 + 3?"}]
    offered = {spec["function"]["name"]: spec for spec in first["tools"]}
    assert set(offered) == set(listed)
    assert offered["add"]["type"] == "function"
    assert offered["add"]["function"]["parameters"] == listed["add"].input_schema
    assert offered["add"]["function"]["description"] == "Add two integers."

    # The second request carries the assistant's tool calls and the tool results.
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {"id": "call_add", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}},
                {"id": "call_echo", "type": "function", "function": {"name": "echo", "arguments": '{"text": "hi"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_add", "content": "5"},
        {"role": "tool", "tool_call_id": "call_echo", "content": "hi"},
    ]
    assert result["messages"] == second["messages"] + [{"role": "assistant", "content": "The sum is 5."}]


async def test_conversation_input_without_tools(llm: FakeLLM) -> None:
    llm.script = [text_reply("Hello", " again")]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Hi again"},
    ]
    emit = Recorder()
    result = await make_agent(llm.base_url + "/").run({"messages": messages}, {}, emit)
    assert result["answer"] == "Hello again" and result["steps"] == 1
    body = llm.requests[0].body
    assert body["messages"] == messages
    assert "tools" not in body  # no MCP servers configured
    assert "authorization" not in llm.requests[0].headers
    assert [data["delta"] for _, data in emit.events] == ["Hello", " again"]


async def test_no_base_url() -> None:
    with pytest.raises(ChatError, match="CAGENT_LLM_BASE_URL"):
        await make_agent(None).run({"message": "hi"}, {}, Recorder())


async def test_http_error_names_status_and_body(llm: FakeLLM) -> None:
    llm.script = [HttpError(500, json.dumps({"error": {"message": "model exploded"}}))]
    with pytest.raises(ChatError) as caught:
        await make_agent(llm.base_url).run({"message": "hi"}, {}, Recorder())
    assert "HTTP 500" in str(caught.value)
    assert "model exploded" in str(caught.value)


async def test_step_limit(llm: FakeLLM) -> None:
    # The model keeps calling a tool that does not exist; each result tells it so.
    def looping(step: int) -> Stream:
        call = {"index": 0, "id": f"c{step}", "function": {"name": "lookup", "arguments": "{}"}}
        return Stream([event(chunk({"tool_calls": [call]})), event(chunk({}, "tool_calls")), event("[DONE]")])

    llm.script = [looping(1), looping(2), looping(3)]
    emit = Recorder()
    with pytest.raises(ChatError, match="no answer within 2 steps"):
        await make_agent(llm.base_url, chat_max_steps=2).run({"message": "loop"}, {}, emit)
    assert len(llm.requests) == 2
    results = [data for kind, data in emit.events if kind == "tool_result"]
    assert len(results) == 2
    assert all(r["is_error"] and "unknown tool 'lookup'" in r["content"][0]["text"] for r in results)
    # The error result went back to the model.
    assert llm.requests[1].body["messages"][-1]["role"] == "tool"
    assert "unknown tool 'lookup'" in llm.requests[1].body["messages"][-1]["content"]


async def test_malformed_chunk(llm: FakeLLM) -> None:
    llm.script = [Stream([event(chunk({"content": "ok"})), b"data: {not json\n\n"])]
    with pytest.raises(ChatError, match=r"malformed chunk from the LLM .*\{not json"):
        await make_agent(llm.base_url).run({"message": "hi"}, {}, Recorder())


async def test_chunk_of_the_wrong_shape(llm: FakeLLM) -> None:
    llm.script = [Stream([event({"choices": [{"delta": {"content": 5}}]})])]
    with pytest.raises(ChatError, match="malformed chunk"):
        await make_agent(llm.base_url).run({"message": "hi"}, {}, Recorder())


async def test_error_object_in_stream(llm: FakeLLM) -> None:
    llm.script = [Stream([event({"error": {"message": "context length exceeded"}})])]
    with pytest.raises(ChatError, match="reported an error.*context length exceeded"):
        await make_agent(llm.base_url).run({"message": "hi"}, {}, Recorder())


async def test_stream_cut_short(llm: FakeLLM) -> None:
    llm.script = [Stream([event(chunk({"content": "Hal"}))])]
    with pytest.raises(ChatError, match=r"ended before \[DONE\]"):
        await make_agent(llm.base_url).run({"message": "hi"}, {}, Recorder())


async def test_bad_tool_arguments_go_back_to_the_model(llm: FakeLLM) -> None:
    call = {"index": 0, "id": "c1", "function": {"name": "add", "arguments": "{oops"}}
    llm.script = [
        Stream([event(chunk({"tool_calls": [call]})), event(chunk({}, "tool_calls")), event("[DONE]")]),
        text_reply("Sorry."),
    ]
    emit = Recorder()
    result = await make_agent(llm.base_url).run({"message": "add"}, {}, emit)
    assert result["answer"] == "Sorry." and result["steps"] == 2
    assert emit.events[0] == ("tool_call", {"tool": "add", "arguments": "{oops", "id": "c1"})
    kind, data = emit.events[1]
    assert kind == "tool_result" and data["is_error"]
    assert "not valid JSON" in data["content"][0]["text"]


async def test_unreachable_llm() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ChatError, match="could not be reached"):
        await make_agent(f"http://127.0.0.1:{port}/v1").run({"message": "hi"}, {}, Recorder())


@pytest.mark.parametrize(
    "bad",
    [{}, {"message": "a", "messages": [{"role": "user", "content": "b"}]}, {"messages": []}, {"messages": [{}]}],
)
async def test_invalid_input(llm: FakeLLM, bad: dict[str, Any]) -> None:
    with pytest.raises(ChatInputError, match="invalid input for the chat agent"):
        await make_agent(llm.base_url).run(bad, {}, Recorder())
    assert llm.requests == []
